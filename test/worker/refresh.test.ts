/**
 * Publishing a model to origin (the real local R2 binding) and the refresh that activates it:
 * verified before use, one pointer switch, and a broken or unsigned model never replaces a working one.
 */
import { createExecutionContext, createScheduledController, env, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { FILES, LATEST_KEY } from '@edge-recs/core/manifest';
import { beforeEach, describe, expect, it } from 'vitest';
import worker from '../../src/index';
import { KV } from '../../src/storage/keys';
import { buildFixture, clearStorage, getJson, publishFixture, resign } from './fixtures';

const ADMIN = { authorization: 'Bearer test-admin-token' };

async function runCron() {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: '*/15 * * * *', scheduledTime: Date.now() }), env, ctx);
  await waitOnExecutionContext(ctx);
}

const adminRefresh = (query = '') => SELF.fetch(`http://x/admin/refresh${query}`, { method: 'POST', headers: ADMIN });
const model = async () => getJson(await SELF.fetch('http://x/v1/model'));

describe('model refresh from origin', () => {
  beforeEach(clearStorage);

  it('activates a newly published, signed model on the cron and serves it', async () => {
    const built = await buildFixture({ version: 'fixture-a' });
    await publishFixture(built);
    expect((await model()).source).toBe('bundled');
    await runCron();
    const info = await model();
    expect(info).toMatchObject({ version: 'fixture-a', source: 'origin', itemCount: 48, dims: 4 });
    expect(info.lastRefresh).toMatchObject({ outcome: 'activated', version: 'fixture-a', reason: null });
    // a user of block 2 gets block-2 items, from the new model
    const res = await SELF.fetch('http://x/v1/users/u2-3/recommendations?k=5');
    expect(res.headers.get('x-model-version')).toBe('fixture-a');
    const body = await getJson(res);
    expect(body.source).toBe('personalized');
    for (const it of body.items) expect(it.id).toMatch(/^B2-/);
  });

  it('reports "unchanged" when the active model is already the latest', async () => {
    await publishFixture(await buildFixture({ version: 'fixture-a' }));
    expect((await getJson(await adminRefresh())).outcome).toBe('activated');
    expect(await getJson(await adminRefresh())).toMatchObject({ outcome: 'unchanged', version: 'fixture-a' });
  });

  it('says so when origin has no model at all', async () => {
    expect(await getJson(await adminRefresh())).toMatchObject({
      outcome: 'unchanged',
      reason: expect.stringMatching(/no published model/),
    });
    expect((await model()).source).toBe('bundled');
  });

  it('switches to a newer version and keeps the previous one for rollback', async () => {
    await publishFixture(await buildFixture({ version: 'fixture-a' }));
    await adminRefresh();
    await publishFixture(await buildFixture({ version: 'fixture-b', params: { seed: 9 } }));
    expect((await getJson(await adminRefresh())).outcome).toBe('activated');
    expect(await model()).toMatchObject({ version: 'fixture-b', previousVersions: ['fixture-a'] });
    const back = await SELF.fetch('http://x/admin/rollback', { method: 'POST', headers: ADMIN });
    expect(await getJson(back)).toEqual({ version: 'fixture-a', previous: [] });
    expect((await model()).version).toBe('fixture-a');
    // the rolled-back version is not re-activated by the next cron
    await runCron();
    expect((await model()).version).toBe('fixture-a');
    // with no version kept, a rollback returns to the bundled model; then there is nothing left
    const toBundled = await SELF.fetch('http://x/admin/rollback', { method: 'POST', headers: ADMIN });
    expect(await getJson(toBundled)).toEqual({ version: 'bundled', previous: [] });
    expect((await model()).source).toBe('bundled');
    await runCron();
    expect((await model()).source).toBe('bundled');
    const none = await SELF.fetch('http://x/admin/rollback', { method: 'POST', headers: ADMIN });
    expect(none.status).toBe(409);
    expect((await getJson(none)).error.code).toBe('nothing_to_roll_back');
  });

  it('garbage-collects versions beyond the kept history', async () => {
    for (const v of ['v1', 'v2', 'v3', 'v4']) {
      await publishFixture(await buildFixture({ version: v }));
      await adminRefresh();
    }
    const pointer = await env.RECS_KV.get<{ version: string; previous: string[] }>(KV.activeModel, 'json');
    expect(pointer).toMatchObject({ version: 'v4', previous: ['v3', 'v2'] });
    expect(await env.MODELS.head(`models/v1/manifest.json`)).toBeNull();
    expect(await env.MODELS.head(`models/v2/manifest.json`)).not.toBeNull();
  });
});

describe('a broken model never replaces a working one', () => {
  beforeEach(async () => {
    await clearStorage();
    await publishFixture(await buildFixture({ version: 'good' }));
    await adminRefresh();
  });

  const expectRejected = (reason: RegExp) => expectNotActivated('rejected', reason);

  async function expectNotActivated(outcome: 'rejected' | 'failed', reason: RegExp) {
    const status = await getJson(await adminRefresh());
    expect(status.outcome).toBe(outcome);
    expect(status.reason).toMatch(reason);
    const info = await model();
    expect(info.version).toBe('good');
    expect(info.lastRefresh).toMatchObject({ outcome, reason: expect.stringMatching(reason) });
    const res = await SELF.fetch('http://x/v1/users/u1-1/recommendations');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-model-version')).toBe('good');
  }

  it('rejects an unsigned model', async () => {
    await publishFixture({ ...(await buildFixture({ version: 'unsigned', signingKey: null })), signature: new TextEncoder().encode('{}') });
    await expectRejected(/manifest.sig is malformed/);
  });

  it('rejects a model signed by an untrusted key', async () => {
    await publishFixture(await buildFixture({ version: 'stranger', signingKey: env.TEST_OTHER_SIGNING_KEY }));
    await expectRejected(/unknown key/);
  });

  it('rejects a file whose checksum does not match', async () => {
    await publishFixture(await buildFixture({ version: 'tampered' }));
    const obj = await env.MODELS.get(`models/tampered/${FILES.itemFactors}`);
    const bytes = new Uint8Array(await obj!.arrayBuffer());
    bytes[5] ^= 0xff;
    await env.MODELS.put(`models/tampered/${FILES.itemFactors}`, bytes);
    await expectRejected(/item_factors.f32 sha256 does not match/);
  });

  it('treats a truncated file as a transient fault: retried next run, activated once whole, never remembered', async () => {
    const built = await buildFixture({ version: 'truncated' });
    await publishFixture(built);
    await env.MODELS.put(`models/truncated/${FILES.scorer}`, built.files[FILES.scorer].slice(0, 100));
    await expectNotActivated('failed', /scorer.onnx has 100 bytes/);
    expect(await env.RECS_KV.get(KV.rejected('truncated'))).toBeNull();
    await env.MODELS.put(`models/truncated/${FILES.scorer}`, built.files[FILES.scorer]);
    expect(await getJson(await adminRefresh())).toMatchObject({ outcome: 'activated', version: 'truncated' });
  });

  it('treats a missing file as not uploaded yet: retried, and activated once it arrives', async () => {
    const built = await buildFixture({ version: 'missing' });
    await publishFixture(built);
    await env.MODELS.delete(`models/missing/${FILES.popular}`);
    await expectNotActivated('failed', /catalog\/popular.json is not at the origin yet/);
    await env.MODELS.put(`models/missing/${FILES.popular}`, built.files[FILES.popular]);
    expect(await getJson(await adminRefresh())).toMatchObject({ outcome: 'activated', version: 'missing' });
  });

  it('remembers a verdict about the signed content, and verifies again only when forced', async () => {
    await publishFixture(await buildFixture({ version: 'tampered' }));
    const obj = await env.MODELS.get(`models/tampered/${FILES.itemWeights}`);
    const bytes = new Uint8Array(await obj!.arrayBuffer());
    bytes[1] ^= 0xff;
    await env.MODELS.put(`models/tampered/${FILES.itemWeights}`, bytes);
    await expectRejected(/item_weights.f32 sha256 does not match/);
    await expectRejected(/previously rejected: item_weights.f32 sha256/);
    expect(await getJson(await adminRefresh('?force=true'))).toMatchObject({
      outcome: 'rejected',
      reason: expect.stringMatching(/^item_weights.f32 sha256/),
    });
  });

  it('does not remember a refusal that is about configuration (a key it does not trust yet)', async () => {
    await publishFixture(await buildFixture({ version: 'stranger', signingKey: env.TEST_OTHER_SIGNING_KEY }));
    await expectRejected(/signed with unknown key/);
    expect(await env.RECS_KV.get(KV.rejected('stranger'))).toBeNull();
    await expectRejected(/^signed with unknown key/); // checked again, not "previously rejected"
  });

  it('only moves forward: an older signed version (a replay) is refused unless rolled back to or forced', async () => {
    const older = await buildFixture({ version: 'older', createdAt: new Date('2025-06-01T00:00:00Z') });
    await publishFixture(older);
    await expectRejected(/older.*is not newer than the active good/);
    expect(await env.RECS_KV.get(KV.rejected('older'))).toBeNull();
    expect(await getJson(await adminRefresh('?force=true'))).toMatchObject({ outcome: 'activated', version: 'older' });
  });

  it('still only moves forward after a rollback to the bundled model: a replay stays refused', async () => {
    const newer = await buildFixture({ version: 'newest' });
    await publishFixture(newer);
    expect(await getJson(await adminRefresh())).toMatchObject({ outcome: 'activated', version: 'newest' });
    // roll back until the bundled model serves: no active pointer is left to compare with
    for (let i = 0; i < 10; i++) {
      const res = await SELF.fetch('http://x/admin/rollback', { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
      if (res.status !== 200 || (await getJson(res)).version === 'bundled') break;
    }
    expect((await getJson(await SELF.fetch('http://x/v1/model'))).source).toBe('bundled');
    const replay = await buildFixture({ version: 'replayed', createdAt: new Date('2025-02-01T00:00:00Z') });
    await publishFixture(replay);
    expect(await getJson(await adminRefresh())).toMatchObject({
      outcome: 'rejected',
      reason: expect.stringMatching(/^replayed .*is not newer than newest .*the newest version this deployment has activated/),
    });
    expect((await getJson(await SELF.fetch('http://x/v1/model'))).source).toBe('bundled');
    expect(await env.RECS_KV.get(KV.rejected('replayed'))).toBeNull();
    // a version newer than any activated one goes through, and force still moves back on purpose
    const next = await buildFixture({ version: 'after-rb' });
    await publishFixture(next);
    expect(await getJson(await adminRefresh())).toMatchObject({ outcome: 'activated', version: 'after-rb' });
  });

  it('rejects NaN factors even when the manifest and signature are valid', async () => {
    const built = await buildFixture({ version: 'nan' });
    await publishFixture(await resign(built, { file: FILES.itemFactors, mutate: (b) => (new Float32Array(b.buffer)[7] = NaN) }));
    await expectRejected(/non-finite/);
  });

  it('rejects a manifest whose dims do not match the files', async () => {
    const built = await buildFixture({ version: 'dims' });
    await publishFixture(await resign(built, { manifest: (m) => (m.dims = 5) }));
    await expectRejected(/Gram matrix is not 5×5/);
  });

  it('rejects an unsupported format version', async () => {
    const built = await buildFixture({ version: 'future' });
    await publishFixture(await resign(built, { manifest: (m) => (m.formatVersion = 99) }));
    await expectRejected(/unsupported format version 99/);
  });

  it('rejects an ONNX graph that does not load', async () => {
    const built = await buildFixture({ version: 'badgraph' });
    await publishFixture(await resign(built, { file: FILES.scorer, mutate: (b) => b.fill(7, 0, 40) }));
    await expectRejected(/scorer.onnx does not load/);
  });

  it('waits for a publish that is still uploading, then activates it without force', async () => {
    const built = await buildFixture({ version: 'uploading' });
    // data files only: manifest and pointer not yet written
    for (const [name, bytes] of Object.entries(built.files)) await env.MODELS.put(`models/uploading/${name}`, bytes);
    expect(await getJson(await adminRefresh())).toMatchObject({ outcome: 'unchanged', version: 'good' });
    // latest.json pointing at a version whose manifest is not there yet
    await env.MODELS.put(LATEST_KEY, JSON.stringify({ version: 'uploading' }));
    await expectNotActivated('failed', /manifest.json of uploading is not at the origin/);
    await publishFixture(built);
    expect(await getJson(await adminRefresh())).toMatchObject({ outcome: 'activated', version: 'uploading' });
  });

  it('requires the admin token for operator endpoints', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic abc' }] as Record<string, string>[]) {
      const res = await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers });
      expect(res.status).toBe(401);
      expect((await getJson(res)).error.code).toBe('unauthorized');
    }
  });
});

describe('rollback and a version a running experiment pins', () => {
  beforeEach(clearStorage);

  const JSON_ADMIN = { ...ADMIN, 'content-type': 'application/json' };
  const rollbackNow = async () => {
    const res = await SELF.fetch('http://x/admin/rollback', { method: 'POST', headers: ADMIN });
    return { status: res.status, body: await getJson(res) };
  };
  const putExperiment = (name: string, modelVersion: string) =>
    SELF.fetch(`http://x/admin/experiments/${name}`, {
      method: 'PUT',
      headers: JSON_ADMIN,
      body: JSON.stringify({
        variants: [
          { name: 'control', weight: 1, modelVersion: 'bundled' },
          { name: 'pinned', weight: 1, modelVersion },
        ],
      }),
    });
  const stop = (name: string) => SELF.fetch(`http://x/admin/experiments/${name}/stop`, { method: 'POST', headers: ADMIN });
  const overviewVersions = async () =>
    (await getJson(await SELF.fetch('http://x/admin/overview', { headers: ADMIN }))).versions.map(
      (v: { version: string; role: string }) => ({
        version: v.version,
        role: v.role,
      }),
    );

  it('never forgets it: rolling back to it and from it keeps it kept, servable and visible, and the cron does not undo the rollback', async () => {
    await publishFixture(await buildFixture({ version: 'rb-pin' }));
    expect((await getJson(await adminRefresh())).outcome).toBe('activated');
    expect((await putExperiment('rb-exp', 'rb-pin')).status).toBe(201);
    for (const v of ['rb-2', 'rb-3', 'rb-4']) {
      await publishFixture(await buildFixture({ version: v }));
      expect((await getJson(await adminRefresh())).outcome).toBe('activated');
    }
    // KEEP_PREVIOUS_VERSIONS is 2; rb-pin is kept beyond them because the experiment pins it
    expect((await model()).previousVersions).toEqual(['rb-3', 'rb-2', 'rb-pin']);

    expect((await rollbackNow()).body).toEqual({ version: 'rb-3', previous: ['rb-2', 'rb-pin'] });
    expect((await rollbackNow()).body).toEqual({ version: 'rb-2', previous: ['rb-pin'] });
    expect((await rollbackNow()).body).toEqual({ version: 'rb-pin', previous: [] });
    // rolling back from the pinned version: the bundled model serves, and rb-pin stays kept
    expect((await rollbackNow()).body).toEqual({ version: 'bundled', previous: ['rb-pin'] });
    const info = await model();
    expect(info).toMatchObject({ source: 'bundled', previousVersions: ['rb-pin'] });
    const listed = await overviewVersions();
    expect(listed).toContainEqual({ version: 'rb-pin', role: 'previous' });
    expect(listed.filter((v: { role: string }) => v.role === 'active')).toHaveLength(1);
    expect(listed.find((v: { role: string }) => v.role === 'active').version).toBe(info.version);
    expect(await env.MODELS.head('models/rb-pin/manifest.json')).not.toBeNull();

    // the experiment's pinned variant is still served by rb-pin
    const served = new Set<string>();
    for (let s = 0; s < 12; s++) {
      const res = await SELF.fetch(`http://x/v1/popular?k=3&sessionId=rb-${s}`);
      expect(res.status).toBe(200);
      const body = await getJson(res);
      if (body.variant === 'pinned') served.add(body.model);
    }
    expect(served).toEqual(new Set(['rb-pin']));

    // a version rolled back from is no rollback target, and the cron does not re-activate anything
    const none = await rollbackNow();
    expect(none.status).toBe(409);
    expect(none.body.error.code).toBe('nothing_to_roll_back');
    await runCron();
    expect((await model()).source).toBe('bundled');

    // a new experiment may still name it
    expect((await stop('rb-exp')).status).toBe(200);
    expect((await putExperiment('rb-exp-2', 'rb-pin')).status).toBe(201);

    // the next activation keeps it in the history, and the bundled model is never listed there
    await publishFixture(await buildFixture({ version: 'rb-5' }));
    expect((await getJson(await adminRefresh())).outcome).toBe('activated');
    expect(await model()).toMatchObject({ version: 'rb-5', previousVersions: ['rb-pin'] });
    expect((await stop('rb-exp-2')).status).toBe(200);
  });

  it('rolling back from a pinned version to a kept one keeps the pinned one last in the history, not a rollback target', async () => {
    await publishFixture(await buildFixture({ version: 'rc-1' }));
    await adminRefresh();
    await publishFixture(await buildFixture({ version: 'rc-pin' }));
    expect((await getJson(await adminRefresh())).outcome).toBe('activated');
    expect((await putExperiment('rc-exp', 'rc-pin')).status).toBe(201);
    expect((await rollbackNow()).body).toEqual({ version: 'rc-1', previous: ['rc-pin'] });
    // latest.json still names rc-pin: the cron must not undo the rollback
    await runCron();
    expect((await model()).version).toBe('rc-1');
    // the next rollback goes to the bundled model, past rc-pin, which stays kept
    expect((await rollbackNow()).body).toEqual({ version: 'bundled', previous: ['rc-pin'] });
    expect((await stop('rc-exp')).status).toBe(200);
  });

  it('stays listed in the operator overview, with why, when its manifest is deleted from the bucket', async () => {
    await publishFixture(await buildFixture({ version: 'rd-pin' }));
    expect((await getJson(await adminRefresh())).outcome).toBe('activated');
    expect((await putExperiment('rd-exp', 'rd-pin')).status).toBe(201);
    await publishFixture(await buildFixture({ version: 'rd-2' }));
    expect((await getJson(await adminRefresh())).outcome).toBe('activated');
    await env.MODELS.delete('models/rd-pin/manifest.json');
    const res = await SELF.fetch('http://x/admin/overview', { headers: ADMIN });
    expect(res.status).toBe(200);
    const { versions } = await getJson(res);
    expect(versions.find((v: { version: string }) => v.version === 'rd-2')).toMatchObject({ role: 'active', problem: null, dims: 4 });
    expect(versions.find((v: { version: string }) => v.version === 'rd-pin')).toMatchObject({
      role: 'previous',
      problem: expect.stringMatching(/manifest\.json is missing/),
      trainedAt: null,
      itemCount: null,
    });
    expect((await stop('rd-exp')).status).toBe(200);
  });
});
