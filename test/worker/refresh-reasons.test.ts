/**
 * What a refresh says in public about a rejected artifact: the file that failed, never the
 * decoder's own text (a JSON parser's message quotes the file's bytes); that stays in the operator's
 * detail (GET /admin/refresh). And which faults are verdicts: a manifest cut short is a transport
 * fault (retried), and not knowing the active version's creation time never lets an older one in.
 */
import { env, SELF } from 'cloudflare:test';
import { FILES } from '@edge-recs/core/manifest';
import { beforeAll, describe, expect, it } from 'vitest';
import { KV } from '../../src/storage/keys';
import { buildFixture, clearStorage, getJson, publishFixture, resign } from './fixtures';

const ADMIN = { authorization: 'Bearer test-admin-token' };
const adminRefresh = () => SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: ADMIN });

beforeAll(async () => {
  await clearStorage();
  await publishFixture(await buildFixture({ version: 'good' }));
  expect((await getJson(await adminRefresh())).outcome).toBe('activated');
});

describe('a signed artifact whose item-model statistics do not decode', () => {
  it('is rejected naming the file in public, with the decoder’s message only in the operator detail', async () => {
    const built = await buildFixture({ version: 'badstats', itemModel: {} });
    const bad = await resign(built, { file: FILES.factorStats, mutate: (bytes) => (new Float64Array(bytes.buffer)[3] = Number.NaN) });
    await publishFixture(bad);
    const run = await getJson(await adminRefresh());
    expect(run).toMatchObject({ outcome: 'rejected', reason: `${FILES.factorStats} does not decode` });
    const info = await getJson(await SELF.fetch('http://x/v1/model'));
    expect(info.version).toBe('good');
    expect(info.lastRefresh.reason).toBe(`${FILES.factorStats} does not decode`);
    expect(JSON.stringify(info)).not.toMatch(/non-finite/);
    const admin = await getJson(await SELF.fetch('http://x/admin/refresh', { headers: ADMIN }));
    expect(run.detail).toMatch(/factor statistics contain a non-finite value/);
    expect(admin.last.detail).toMatch(/factor statistics contain a non-finite value/);
  });
});

describe('a manifest cut short at the origin', () => {
  it('is a transport fault: retried by the next run and activated once whole, never remembered as a rejection', async () => {
    const built = await buildFixture({ version: 'cut' });
    await publishFixture(built);
    await env.MODELS.put('models/cut/manifest.json', built.manifestBytes.slice(0, 500));
    const first = await getJson(await adminRefresh());
    expect(first).toMatchObject({ outcome: 'failed', reason: expect.stringMatching(/manifest\.json of cut is not complete JSON/) });
    expect(await env.RECS_KV.get(KV.rejected('cut'))).toBeNull();
    // an HTML error page in its place is the same
    await env.MODELS.put('models/cut/manifest.json', '<html><body>503 maintenance</body></html>');
    expect(await getJson(await adminRefresh())).toMatchObject({ outcome: 'failed' });
    await env.MODELS.put('models/cut/manifest.json', built.manifestBytes);
    expect(await getJson(await adminRefresh())).toMatchObject({ outcome: 'activated', version: 'cut' });
  });
});

describe('an older version offered while the active manifest cannot be read', () => {
  it('is not activated without force: not knowing what is newer lets nothing through', async () => {
    // a rollback's pointer carries no creation time: the target's manifest is where it is read
    const back = await SELF.fetch('http://x/admin/rollback', { method: 'POST', headers: ADMIN });
    expect(back.status).toBe(200);
    const active = (await getJson(back)).version as string;
    expect((await getJson(await SELF.fetch('http://x/v1/model'))).version).toBe(active);
    await env.MODELS.put(`models/${active}/manifest.json`, '{"cut": ');
    await publishFixture(await buildFixture({ version: 'replay', createdAt: new Date('2025-01-01T00:00:00Z') }));
    // the newest version ever activated is on record: the replay is older than that, so refused
    expect(await getJson(await adminRefresh())).toMatchObject({
      outcome: 'rejected',
      reason: expect.stringMatching(/^replay .*is not newer than .*the newest version this deployment has activated/),
    });
    // a deployment whose records predate that one has only the active manifest to go by
    await env.RECS_KV.delete(KV.newestActivated);
    const run = await getJson(await adminRefresh());
    expect(run).toMatchObject({ outcome: 'failed', reason: expect.stringMatching(/cannot read when the active .* was created/) });
    expect((await getJson(await SELF.fetch('http://x/v1/model'))).version).toBe(active);
    expect(await getJson(await SELF.fetch('http://x/admin/refresh?force=true', { method: 'POST', headers: ADMIN }))).toMatchObject({
      outcome: 'activated',
      version: 'replay',
    });
  });
});
