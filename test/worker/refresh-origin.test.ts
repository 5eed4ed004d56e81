/**
 * Refresh from an HTTPS origin (the origin's HTTP is the only thing stubbed; KV and R2 are the
 * real local bindings), progressive staging within a per-run operation budget, the faults the
 * refresh must survive, and serving while versions switch.
 */
import { env, SELF } from 'cloudflare:test';
import { sha256Hex } from '@edge-recs/core/bytes';
import { FILES, LATEST_KEY, type Manifest } from '@edge-recs/core/manifest';
import { signManifest } from '@edge-recs/core/signing';
import { beforeEach, describe, expect, it } from 'vitest';
import type { BuiltArtifact } from '../../model/artifact';
import { refreshDeps } from '../../src/context';
import { refreshModel } from '../../src/services/refresh';
import { KV } from '../../src/storage/keys';
import { blockData, buildFixture, clearStorage, getJson, publishFixture } from './fixtures';

const ORIGIN = 'https://origin.test/recs';

/** An in-memory HTTPS origin with switchable faults. */
class FakeOrigin {
  objects = new Map<string, Uint8Array>();
  etag = '"v1"';
  requests: { key: string; ifNoneMatch: string | null }[] = [];
  fault: ((key: string) => Response | 'throw' | 'hang' | null) | null = null;

  publish(built: BuiltArtifact) {
    const v = built.manifest.version;
    for (const [name, bytes] of Object.entries(built.files)) this.objects.set(`models/${v}/${name}`, bytes);
    this.objects.set(`models/${v}/manifest.sig`, built.signature!);
    this.objects.set(`models/${v}/manifest.json`, built.manifestBytes);
    this.objects.set(LATEST_KEY, new TextEncoder().encode(JSON.stringify({ version: v })));
    this.etag = `"${v}"`;
  }

  fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const key = url.pathname.replace('/recs/', '');
    const headers = new Headers(init?.headers);
    this.requests.push({ key, ifNoneMatch: headers.get('if-none-match') });
    const f = this.fault?.(key);
    if (f === 'throw') throw new TypeError('Network connection lost');
    if (f === 'hang') {
      return new Promise<Response>((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
    }
    if (f) return f;
    const body = this.objects.get(key);
    if (!body) return new Response('not found', { status: 404 });
    if (key === LATEST_KEY) {
      if (headers.get('if-none-match') === this.etag) return new Response(null, { status: 304 });
      return new Response(body, { headers: { etag: this.etag } });
    }
    return new Response(body);
  };
}

function deps(origin: FakeOrigin, vars: Record<string, string> = {}) {
  return refreshDeps({ ...env, ORIGIN_URL: ORIGIN, ORIGIN_BACKOFF_MS: '1', ORIGIN_TIMEOUT_MS: '200', ...vars }, origin.fetch);
}

const activeVersion = async () => (await env.RECS_KV.get<{ version: string }>(KV.activeModel, 'json'))?.version ?? null;

describe('refresh from an HTTPS origin', () => {
  let origin: FakeOrigin;
  beforeEach(async () => {
    await clearStorage();
    origin = new FakeOrigin();
    origin.publish(await buildFixture({ version: 'https-a' }));
  });

  it('verifies, copies every file into MODELS under the version, then switches', async () => {
    const status = await refreshModel(deps(origin));
    expect(status).toMatchObject({ outcome: 'activated', version: 'https-a' });
    expect(await activeVersion()).toBe('https-a');
    for (const key of origin.objects.keys()) if (key !== LATEST_KEY) expect(await env.MODELS.head(key)).not.toBeNull();
    const res = await SELF.fetch('http://x/v1/users/u0-1/recommendations?k=3');
    expect(res.headers.get('x-model-version')).toBe('https-a');
  });

  it('asks for latest.json conditionally and does nothing on 304', async () => {
    await refreshModel(deps(origin));
    origin.requests = [];
    expect(await refreshModel(deps(origin))).toMatchObject({ outcome: 'unchanged', version: 'https-a' });
    expect(origin.requests).toEqual([{ key: LATEST_KEY, ifNoneMatch: '"https-a"' }]);
  });

  it('retries 5xx with backoff and succeeds when the origin recovers', async () => {
    let failures = 2;
    origin.fault = (key) => (key.endsWith(FILES.popular) && failures-- > 0 ? new Response('busy', { status: 503 }) : null);
    expect((await refreshModel(deps(origin))).outcome).toBe('activated');
    expect(origin.requests.filter((r) => r.key.endsWith(FILES.popular))).toHaveLength(3);
  });

  describe('faults end with the last good model still serving', () => {
    beforeEach(async () => {
      await refreshModel(deps(origin));
      origin.publish(await buildFixture({ version: 'https-b', params: { seed: 3 } }));
    });

    /** `detail` is what operators see (POST/GET /admin/refresh); GET /v1/model shows only the public reason */
    async function expectStillServingA(outcome: string, reason: RegExp, detail?: RegExp) {
      const status = await refreshModel(deps(origin));
      expect(status.outcome).toBe(outcome);
      expect(status.reason).toMatch(reason);
      if (detail) expect(status.detail).toMatch(detail);
      expect(await activeVersion()).toBe('https-a');
      const res = await SELF.fetch('http://x/v1/users/u1-2/recommendations?k=3');
      expect(res.status).toBe(200);
      expect(res.headers.get('x-model-version')).toBe('https-a');
      const publicView = (await getJson(await SELF.fetch('http://x/v1/model'))).lastRefresh;
      expect(publicView).toMatchObject({ outcome, reason: expect.stringMatching(reason) });
      // never the origin's location or raw exception text in a public answer
      expect(publicView).not.toHaveProperty('detail');
      expect(JSON.stringify(publicView)).not.toMatch(/origin\.test|Network connection lost|HTTP 500/);
    }

    it('origin unreachable', async () => {
      origin.fault = () => 'throw';
      await expectStillServingA('failed', /the origin could not be read/, /unreachable \(Network connection lost\) after 3 attempts/);
    });

    it('origin times out', async () => {
      origin.fault = (key) => (key.endsWith('scorer.onnx') ? 'hang' : null);
      await expectStillServingA('failed', /the origin could not be read/, /timed out after 200 ms after 3 attempts/);
    });

    it('origin answers 5xx', async () => {
      origin.fault = (key) => (key.includes('https-b') ? new Response('oops', { status: 500 }) : null);
      await expectStillServingA('failed', /the origin could not be read/, /HTTP 500 after 3 attempts/);
    });

    it('a file the manifest lists is 404, and is picked up once uploaded', async () => {
      const key = `models/https-b/${FILES.itemWeights}`;
      const bytes = origin.objects.get(key)!;
      origin.objects.delete(key);
      await expectStillServingA('failed', /item_weights.f32 is not at the origin yet/);
      origin.objects.set(key, bytes);
      expect(await refreshModel(deps(origin))).toMatchObject({ outcome: 'activated', version: 'https-b' });
    });

    it('a truncated body, activated once the origin heals (not remembered as a rejection)', async () => {
      const key = `models/https-b/${FILES.itemFactors}`;
      const whole = origin.objects.get(key)!;
      origin.objects.set(key, whole.slice(0, 64));
      await expectStillServingA('failed', /item_factors.f32 has 64 bytes/);
      origin.objects.set(key, whole);
      expect(await refreshModel(deps(origin))).toMatchObject({ outcome: 'activated', version: 'https-b' });
    });

    it('a connection dropped mid-body is retried within the run', async () => {
      let drops = 1;
      origin.fault = (key) => {
        if (key !== `models/https-b/${FILES.itemFactors}` || drops-- <= 0) return null;
        const body = new ReadableStream({
          start(controller) {
            controller.enqueue(new Uint8Array(8));
            controller.error(new Error('connection reset'));
          },
        });
        return new Response(body);
      };
      expect(await refreshModel(deps(origin))).toMatchObject({ outcome: 'activated', version: 'https-b' });
      expect(origin.requests.filter((r) => r.key === `models/https-b/${FILES.itemFactors}`)).toHaveLength(2);
    });

    it('a transient failure is retried by the next run', async () => {
      origin.fault = () => 'throw';
      expect((await refreshModel(deps(origin))).outcome).toBe('failed');
      origin.fault = null;
      expect(await refreshModel(deps(origin))).toMatchObject({ outcome: 'activated', version: 'https-b' });
    });
  });
});

describe('progressive staging within a per-run operation budget', () => {
  beforeEach(clearStorage);

  it('stages a large artifact over several runs and switches only when complete', async () => {
    const origin = new FakeOrigin();
    // 600 users in 30 shard files
    const built = await buildFixture({ version: 'big', data: blockData({ usersPerBlock: 150 }), usersPerShard: 20 });
    origin.publish(built);
    const files = Object.keys(built.files).length;
    expect(files).toBeGreaterThan(30);
    const runs: { outcome: string; reason: string | null; ops?: number }[] = [];
    for (let i = 0; i < 30; i++) {
      const status = await refreshModel(deps(origin, { REFRESH_OPS_PER_RUN: '12' }));
      expect(status.ops).toBeLessThanOrEqual(12 + 2); // + manifest.sig/manifest.json copies on the last run
      runs.push(status);
      if (status.outcome !== 'staging') break;
      expect(await activeVersion()).toBeNull(); // nothing switches mid-way
    }
    expect(runs.at(-1)).toMatchObject({ outcome: 'activated', version: 'big' });
    // each run: 3 reads (latest, manifest, signature) + 2 ops per file → 4 files per run
    expect(runs.length).toBe(Math.ceil(files / 4));
    expect(runs[0].reason).toMatch(/staged 4\/\d+ files after 1 run/);
    expect(await env.RECS_KV.get(KV.staging)).toBeNull();
  });

  it('plans a 1,000,000-user × 64-dim artifact within the platform limits', async () => {
    // The artifact a trainer writes for 1M users at 64 dims with 2,000 users per shard: 500 user
    // shards plus the item files. Operation counts depend on the number of files, not their bytes,
    // so the shard contents here are small stand-ins with matching digests.
    const users = 1_000_000,
      usersPerShard = 2_000,
      shards = users / usersPerShard;
    const base = await buildFixture({ version: 'million' });
    const files: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries(base.files)) if (!k.startsWith('users/')) files[k] = v;
    for (let s = 0; s < shards; s++) files[FILES.userShard(s)] = new TextEncoder().encode(`shard ${s}`);
    const manifest: Manifest = structuredClone(base.manifest);
    manifest.userCount = users;
    manifest.userShards = shards;
    manifest.files = {};
    for (const [k, v] of Object.entries(files)) manifest.files[k] = { bytes: v.byteLength, sha256: await sha256Hex(v) };
    const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
    const signature = new TextEncoder().encode(JSON.stringify(await signManifest(manifestBytes, env.TEST_SIGNING_KEY)));
    const origin = new FakeOrigin();
    origin.publish({ manifest, manifestBytes, signature, files });

    const opsPerRun: number[] = [];
    let status: Awaited<ReturnType<typeof refreshModel>>;
    do {
      status = await refreshModel(deps(origin));
      opsPerRun.push(status.ops!);
    } while (status.outcome === 'staging' && opsPerRun.length < 10);
    expect(status).toMatchObject({ outcome: 'activated', version: 'million' });
    console.log(
      `1M users × 64 dims (${Object.keys(files).length} files, ${shards} user shards) from an HTTPS origin: ${opsPerRun.length} cron runs, storage ops per run ${opsPerRun.join(', ')}`,
    );
    expect(opsPerRun.length).toBe(2); // 507 files × 2 ops > REFRESH_OPS_PER_RUN (700)
    for (const ops of opsPerRun) expect(ops).toBeLessThanOrEqual(702); // + the manifest copies of the last run
  });
});

describe('serving while versions switch', () => {
  beforeEach(async () => {
    await clearStorage();
    await publishFixture(await buildFixture({ version: 'old' }));
    await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
  });

  it('answers every concurrent request during a switch, each from a single version', async () => {
    // the new version has other item ids, so a response mixing versions would show it
    const data = blockData({ seed: 11 });
    data.itemIds = data.itemIds.map((id) => `new-${id}`);
    await publishFixture(await buildFixture({ version: 'new', data }));
    const requests = Array.from({ length: 120 }, (_, i) =>
      i % 3 === 0
        ? SELF.fetch('http://x/v1/recommendations', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ items: ['B1-I1', 'new-B1-I1'], k: 5 }),
          })
        : SELF.fetch(`http://x/v1/users/u${i % 4}-${i % 30}/recommendations?k=5`),
    );
    const refresh = SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
    const responses = await Promise.all([...requests, refresh]);
    const versions = new Set<string>();
    for (const res of responses.slice(0, -1)) {
      expect(res.status).toBe(200);
      const body = await getJson(res);
      versions.add(body.model);
      expect(res.headers.get('x-model-version')).toBe(body.model);
      for (const it of body.items) expect(it.id.startsWith('new-')).toBe(body.model === 'new');
    }
    expect((await getJson(responses.at(-1)!)).outcome).toBe('activated');
    const after = await getJson(await SELF.fetch('http://x/v1/users/u0-1/recommendations?k=5'));
    expect(after.model).toBe('new');
  });

  it('survives two refreshes at once (cron and admin) with one consistent result', async () => {
    await publishFixture(await buildFixture({ version: 'next', params: { seed: 5 } }));
    const [a, b] = await Promise.all([refreshModel(refreshDeps(env)), refreshModel(refreshDeps(env))]);
    expect([a.outcome, b.outcome].sort()).toEqual(expect.arrayContaining(['activated']));
    const pointer = await env.RECS_KV.get<{ version: string; previous: string[] }>(KV.activeModel, 'json');
    expect(pointer).toMatchObject({ version: 'next', previous: ['old'] });
  });

  it('serves a user the new version does not know from the kept previous version, in its own space', async () => {
    const data = blockData({ seed: 12 });
    data.userIds = data.userIds.map((id) => `fresh-${id}`);
    await publishFixture(await buildFixture({ version: 'fresh', data }));
    await refreshModel(refreshDeps(env));
    const res = await SELF.fetch('http://x/v1/users/u2-4/recommendations?k=4');
    const body = await getJson(res);
    expect(body).toMatchObject({ model: 'old', source: 'personalized' });
    expect(res.headers.get('x-model-version')).toBe('old');
    for (const it of body.items) expect(it.id).toMatch(/^B2-/);
    // a user known to neither gets the fallback from the active version
    expect(await getJson(await SELF.fetch('http://x/v1/users/stranger/recommendations?k=4'))).toMatchObject({
      model: 'fresh',
      source: 'popular',
    });
  });
});
