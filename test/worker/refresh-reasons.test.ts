/**
 * What a refresh says in public about a rejected artifact: the file that failed, never the
 * decoder's own text (a JSON parser's message quotes the file's bytes); that stays in the operator's
 * detail (GET /admin/refresh).
 */
import { SELF } from 'cloudflare:test';
import { FILES } from '@edge-recs/core/manifest';
import { beforeAll, describe, expect, it } from 'vitest';
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
