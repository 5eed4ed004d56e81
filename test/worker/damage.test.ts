/**
 * A file of the active model that goes bad after activation (a flipped byte in the bucket) is
 * served around, never turned into a 500: its users fall back to what else is known of them,
 * the damage is logged and shown in GET /v1/model, and the next refresh re-stages the file from
 * the origin — as it does for a version an experiment pins.
 */
import { env, SELF } from 'cloudflare:test';
import { ItemIds } from '@edge-recs/core/item-ids';
import { FILES, LATEST_KEY } from '@edge-recs/core/manifest';
import { shardOf } from '@edge-recs/core/shards';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { configFrom } from '../../src/config';
import { refreshDeps } from '../../src/context';
import { bundledSource } from '../../src/models/bundled';
import { Catalog } from '../../src/models/catalog';
import { ModelRegistry } from '../../src/models/registry';
import { refreshModel } from '../../src/services/refresh';
import { identify } from '../../src/storage/identity';
import { buildFixture, clearStorage, getJson, publishFixture } from './fixtures';

const ADMIN = { authorization: 'Bearer test-admin-token' };
const API = { authorization: 'Bearer test-api-key', 'content-type': 'application/json' };

async function flipByte(key: string, at = 40): Promise<void> {
  const bytes = new Uint8Array(await (await env.MODELS.get(key))!.arrayBuffer());
  bytes[at] ^= 0xff;
  await env.MODELS.put(key, bytes);
}

describe('a damaged user shard of the active model', () => {
  let version: string;
  let inShard0: string[];
  let elsewhere: string;
  let others: string[];
  let n = 0;

  beforeEach(async () => {
    await clearStorage();
    version = `damaged-${++n}`;
    const built = await buildFixture({ version, usersPerShard: 5 });
    await publishFixture(built);
    expect((await getJson(await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: ADMIN }))).outcome).toBe('activated');
    const shards = built.manifest.userShards;
    expect(shards).toBeGreaterThan(1);
    inShard0 = built.data.userIds.filter((u) => shardOf(u, shards) === 0);
    elsewhere = built.data.userIds.find((u) => shardOf(u, shards) !== 0)!;
    // one user from each of ten other shards (more than the isolate caches)
    const seen = new Set<number>([0]);
    others = built.data.userIds.filter((u) => !seen.has(shardOf(u, shards)) && seen.add(shardOf(u, shards))).slice(0, 10);
  });

  it('serves its users without it — popular, or their KV record and event history — never a 500', async () => {
    const [visited, fresh, active] = inShard0;
    // one user was served (and written through to KV) before the damage; then users of other
    // shards push shard 0 out of the isolate's shard cache, as traffic would
    expect((await getJson(await SELF.fetch(`http://x/v1/users/${visited}/recommendations`))).source).toBe('personalized');
    for (const u of others) await SELF.fetch(`http://x/v1/users/${u}/recommendations`);
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    await flipByte(`models/${version}/${FILES.userShard(0)}`);

    const recs = await SELF.fetch(`http://x/v1/users/${fresh}/recommendations?k=3`);
    expect(recs.status).toBe(200);
    expect((await getJson(recs)).source).toBe('popular');
    const history = await SELF.fetch(`http://x/v1/users/${fresh}/history`);
    expect(history.status).toBe(200);
    expect((await getJson(history)).known).toBe(false);
    expect((await getJson(await SELF.fetch(`http://x/v1/users/${visited}/recommendations`))).source).toBe('personalized');
    // events for a user of the damaged shard are accepted and personalise at once
    const ev = await SELF.fetch('http://x/v1/events', {
      method: 'POST',
      headers: API,
      body: JSON.stringify({ userId: active, itemId: 'B1-I2', type: 'purchase' }),
    });
    expect(ev.status).toBe(200);
    expect((await getJson(await SELF.fetch(`http://x/v1/users/${active}/recommendations`))).source).toBe('personalized');
    // other shards are untouched
    expect((await getJson(await SELF.fetch(`http://x/v1/users/${elsewhere}/recommendations`))).source).toBe('personalized');

    expect(log.mock.calls.some(([m]) => String(m).includes(FILES.userShard(0)))).toBe(true);
    log.mockRestore();
    expect((await getJson(await SELF.fetch('http://x/v1/model'))).damagedFiles).toEqual([FILES.userShard(0)]);
    const admin = await getJson(await SELF.fetch('http://x/admin/refresh', { headers: ADMIN }));
    expect(admin.damaged[FILES.userShard(0)].reason).toMatch(/sha256 does not match/);
  });

  it("keeps a user's training history when their first event comes while their shard is damaged: it is taken once the shard reads again", async () => {
    const user = inShard0[1];
    const good = await (await env.MODELS.get(`models/${version}/${FILES.userShard(0)}`))!.arrayBuffer();
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    await flipByte(`models/${version}/${FILES.userShard(0)}`);
    const ev = await SELF.fetch('http://x/v1/events', {
      method: 'POST',
      headers: API,
      body: JSON.stringify({ userId: user, itemId: 'B3-I2', type: 'view' }),
    });
    expect(ev.status).toBe(200);
    // served from the event at once, as before
    expect((await getJson(await SELF.fetch(`http://x/v1/users/${user}/recommendations`))).source).toBe('personalized');
    log.mockRestore();

    // the shard is good again and the next refresh re-stages it
    await env.MODELS.put(`models/${version}/${FILES.userShard(0)}`, good);
    await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: ADMIN });
    expect((await getJson(await SELF.fetch('http://x/v1/model'))).damagedFiles).toEqual([]);

    // the next read starts from the training history too: the event did not replace it
    const recs = await getJson(await SELF.fetch(`http://x/v1/users/${user}/recommendations?k=5&excludePurchased=false&explain=true`));
    expect(recs.source).toBe('personalized');
    const stub = env.USER_HISTORY.get(env.USER_HISTORY.idFromName((await identify(env.USER_ID_SECRET, user)).key));
    const history = await stub.history();
    const items = new Set(history?.items.map((i) => i.itemId));
    expect(items.has('B3-I2')).toBe(true);
    expect(items.size).toBeGreaterThan(1);
    expect(history?.seeded).toBe(true);
  });

  it('is re-staged from an HTTPS origin by the next refresh, and its users are served from it again', async () => {
    // the same version, published at an HTTPS origin that still holds the good bytes
    const good = new Map<string, ArrayBuffer>();
    for (const o of (await env.MODELS.list({ prefix: `models/${version}/` })).objects)
      good.set(o.key, await (await env.MODELS.get(o.key))!.arrayBuffer());
    good.set(LATEST_KEY, new TextEncoder().encode(JSON.stringify({ version })).buffer as ArrayBuffer);
    const origin: typeof fetch = async (input) => {
      const body = good.get(new URL(String(input)).pathname.replace('/recs/', ''));
      return body ? new Response(body) : new Response('no', { status: 404 });
    };
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    await flipByte(`models/${version}/${FILES.userShard(0)}`);
    expect((await getJson(await SELF.fetch(`http://x/v1/users/${inShard0[0]}/recommendations`))).source).toBe('popular');
    log.mockRestore();

    const report = await refreshModel(refreshDeps({ ...env, ORIGIN_URL: 'https://origin.test/recs' }, origin));
    expect(report).toMatchObject({ outcome: 'unchanged', version, repaired: [FILES.userShard(0)] });
    expect((await getJson(await SELF.fetch('http://x/v1/model'))).damagedFiles).toEqual([]);
    expect((await getJson(await SELF.fetch(`http://x/v1/users/${inShard0[0]}/recommendations`))).source).toBe('personalized');
  });
});

describe('a damaged catalogue part', () => {
  it('describes its items by id, with no title, and reports the part once', async () => {
    const ids = new ItemIds(ItemIds.encode(['a', 'b', 'c']), 3);
    const reported: number[] = [];
    const catalog = new Catalog(
      ids,
      { items: [0], titles: ['Apple'], counts: [3] },
      async () => {
        throw new Error('catalog/0000.bin sha256 does not match the manifest');
      },
      async (part) => {
        reported.push(part);
      },
    );
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(await catalog.describe([0, 2, 1])).toEqual([
      { id: 'a', title: 'Apple', count: 3 },
      { id: 'c', title: '', count: 0 },
      { id: 'b', title: '', count: 0 },
    ]);
    await catalog.describe([1]);
    log.mockRestore();
    expect(reported).toEqual([0]);
  });
});

describe('a damaged file of a version an experiment pins', () => {
  it('is re-staged by the next refresh, and the variant is answered by its own version again', async () => {
    await clearStorage();
    const pinned = 'dmg-pin';
    await publishFixture(await buildFixture({ version: pinned }));
    expect((await getJson(await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: ADMIN }))).outcome).toBe('activated');
    // two later versions push the pinned one out of this isolate's loaded models (two at most)
    for (const v of ['dmg-next', 'dmg-active']) {
      await publishFixture(await buildFixture({ version: v }));
      expect((await getJson(await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: ADMIN }))).outcome).toBe('activated');
    }
    const put = await SELF.fetch('http://x/admin/experiments/dmg', {
      method: 'PUT',
      headers: { ...ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({
        variants: [
          { name: 'control', weight: 1 },
          { name: 'pinned', weight: 1, modelVersion: pinned },
        ],
      }),
    });
    expect(put.status).toBe(201);
    // the origin (HTTPS) still holds the good bytes of both versions
    const good = new Map<string, ArrayBuffer>();
    for (const o of (await env.MODELS.list({ prefix: 'models/' })).objects)
      good.set(o.key, await (await env.MODELS.get(o.key))!.arrayBuffer());
    const origin: typeof fetch = async (input) => {
      const body = good.get(new URL(String(input)).pathname.replace('/recs/', ''));
      return body ? new Response(body) : new Response('no', { status: 404 });
    };

    await flipByte(`models/${pinned}/${FILES.itemWeights}`, 0);
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    // a shopper the experiment puts in the pinned variant: answered by the active model meanwhile
    let session = '';
    try {
      for (let i = 0; !session && i < 64; i++) {
        const served = await getJson(await SELF.fetch(`http://x/v1/popular?k=3&sessionId=s-${i}`));
        if (served.variant === 'pinned') {
          session = `s-${i}`;
          expect(served.model).toBe('dmg-active');
        }
      }
    } finally {
      log.mockRestore();
    }
    expect(session).not.toBe('');
    expect((await getJson(await SELF.fetch('http://x/admin/refresh', { headers: ADMIN }))).damaged).toHaveProperty(
      `${pinned}/${FILES.itemWeights}`,
    );

    const report = await refreshModel(refreshDeps({ ...env, ORIGIN_URL: 'https://origin.test/recs' }, origin));
    expect(report).toMatchObject({ version: 'dmg-active', repaired: [`${pinned}/${FILES.itemWeights}`] });
    expect((await getJson(await SELF.fetch('http://x/admin/refresh', { headers: ADMIN }))).damaged).toEqual({});
    expect(await getJson(await SELF.fetch(`http://x/v1/popular?k=3&sessionId=${session}`))).toMatchObject({
      variant: 'pinned',
      model: pinned,
    });
    expect((await SELF.fetch('http://x/admin/experiments/dmg/stop', { method: 'POST', headers: ADMIN })).status).toBe(200);
  });
});

describe('an active version that cannot be loaded at all (a core file deleted or damaged after activation)', () => {
  it("is recorded and shown, tried again only after the pointer's TTL, and serves once repaired — the bundled model meanwhile", async () => {
    await clearStorage();
    const built = await buildFixture({ version: 'unloadable' });
    await publishFixture(built);
    expect((await getJson(await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: ADMIN }))).outcome).toBe('activated');
    await env.MODELS.delete(`models/unloadable/${FILES.itemFactors}`);
    // a fresh isolate: nothing of the version loaded yet
    const registry = new ModelRegistry();
    // (tests read the pointer at once: ACTIVE_POINTER_TTL_SECONDS 0; a deployment's is 30 s)
    const deps = {
      kv: env.RECS_KV,
      bucket: env.MODELS,
      config: { ...configFrom(env), activePointerTtlSeconds: 60 },
      bundled: bundledSource,
    };
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const gets = vi.spyOn(env.MODELS, 'get');
    const first = await registry.active(deps);
    expect(first.version).not.toBe('unloadable');
    expect(log).toHaveBeenCalledTimes(1);
    expect(String(log.mock.calls[0][0])).toMatch(
      /active model unloadable cannot be loaded .*item_factors\.f32.*the bundled model serves meanwhile/,
    );
    expect((await getJson(await SELF.fetch('http://x/v1/model'))).damagedFiles).toEqual([FILES.itemFactors]);
    // later requests are answered without reading the version again, or logging again
    const reads = gets.mock.calls.length;
    for (let i = 0; i < 5; i++) expect((await registry.active(deps)).version).toBe(first.version);
    expect(gets.mock.calls.slice(reads).map((c) => c[0])).toEqual([]);
    expect(log).toHaveBeenCalledTimes(1);
    log.mockRestore();
    gets.mockRestore();
    // the file is back and a refresh found it whole: this isolate serves the version at once
    await env.MODELS.put(`models/unloadable/${FILES.itemFactors}`, built.files[FILES.itemFactors]);
    registry.repaired('unloadable');
    expect((await registry.active(deps)).version).toBe('unloadable');
  });
});

describe('POST /admin/rollback', () => {
  it('passes over a kept version that can no longer be loaded from the bucket, says so, and keeps it no more', async () => {
    await clearStorage();
    for (const version of ['rb-a', 'rb-b', 'rb-c']) {
      await publishFixture(await buildFixture({ version }));
      expect((await getJson(await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: ADMIN }))).outcome).toBe('activated');
    }
    // rb-b may still be loaded in this isolate: the rollback must not trust that copy
    await SELF.fetch('http://x/v1/popular?k=1');
    await env.MODELS.delete(`models/rb-b/${FILES.itemFactors}`);
    const res = await SELF.fetch('http://x/admin/rollback', { method: 'POST', headers: ADMIN });
    expect(res.status).toBe(200);
    expect(await getJson(res)).toEqual({
      version: 'rb-a',
      previous: [],
      skipped: [{ version: 'rb-b', reason: expect.stringMatching(/item_factors\.f32/) }],
    });
    const info = await getJson(await SELF.fetch('http://x/v1/model'));
    expect(info).toMatchObject({ version: 'rb-a', source: 'origin' });
    expect(info.lastRefresh.reason).toMatch(/^rollback from rb-c, past rb-b \(cannot be loaded: /);
  });
});
