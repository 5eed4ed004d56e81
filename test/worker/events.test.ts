/**
 * Real-time personalisation: events change the next recommendations at once, racing events are
 * never lost, bad events store nothing, and accepted events are exported in the trainer's layout
 * (forgetting a user: forget.test.ts).
 */
import { env, SELF } from 'cloudflare:test';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { itemWeightsFor, solveSide } from '../../model/ials';
import { csrFromTriples } from '../../model/sparse';
import { createApp } from '../../src/app';
import { createInt8Index } from '../../src/inference/int8-module';
import type { OrtScorer } from '../../src/inference/scorer';
import { loadServingModel, parseManifest } from '../../src/models/model';
import { r2Source } from '../../src/models/registry';
import { recordFromHistory } from '../../src/services/users';
import { compactExports, EXPORT_HEADER } from '../../src/storage/exports';
import { identify } from '../../src/storage/identity';
import { KV, R2 } from '../../src/storage/keys';
import { buildFixture, clearStorage, FIXTURE_PARAMS, getJson, publishFixture } from './fixtures';

const KEY = { authorization: 'Bearer test-api-key', 'content-type': 'application/json' };
const postEvents = (body: unknown, headers: Record<string, string> = KEY) =>
  SELF.fetch('http://x/v1/events', { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
const recs = async (user: string, k = 10) => getJson(await SELF.fetch(`http://x/v1/users/${user}/recommendations?k=${k}`));
const who = (id: string) => identify(env.USER_ID_SECRET, id);

async function useFixtureModel(version = 'events-a') {
  const built = await buildFixture({ version });
  await publishFixture(built);
  const res = await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
  expect((await getJson(res)).outcome).toBe('activated');
  return built;
}

describe('events personalise at once', () => {
  beforeEach(clearStorage);

  it("folds a history in exactly like the trainer's user step (max abs difference < 1e-5)", async () => {
    const built = await useFixtureModel();
    const model = await loadServingModel(
      r2Source(env.MODELS, 'events-a'),
      parseManifest(await (await env.MODELS.get('models/events-a/manifest.json'))!.arrayBuffer()),
      { int8MinItems: Infinity, createInt8Index },
    );
    const items = [
      { itemId: 'B1-I2', strength: 1 },
      { itemId: 'B1-I5', strength: 3 },
      { itemId: 'B1-I7', strength: 0.5 },
    ];
    const edge = recordFromHistory(model, { revision: 1, seeded: true, items: items.map((i) => ({ ...i, lastAt: 0, lastViewedAt: 0 })) })!;
    // the trainer's exact (Cholesky) user step for a one-user matrix with the same items
    const idx = items.map((i) => built.data.itemIds.indexOf(i.itemId));
    const m = csrFromTriples(
      1,
      built.data.itemIds.length,
      Int32Array.from([0, 0, 0]),
      Int32Array.from(idx),
      Float32Array.from(items.map((i) => i.strength)),
    );
    const x = new Float32Array(FIXTURE_PARAMS.factors);
    const w = itemWeightsFor(built.data.matrix, FIXTURE_PARAMS.popularityExponent);
    const itemFactors = (model.scorer as OrtScorer).itemFactors;
    solveSide(
      x,
      itemFactors,
      m,
      { ...FIXTURE_PARAMS, solver: 'cholesky' },
      { rowScale: new Float32Array([FIXTURE_PARAMS.unobservedWeight]), colWeight: w },
    );
    for (let d = 0; d < x.length; d++) expect(Math.abs(edge.vector[d] - x[d])).toBeLessThan(1e-5);
  });

  it('personalises a brand-new user after their first event', async () => {
    await useFixtureModel();
    expect((await recs('newbie')).source).toBe('popular');
    const res = await postEvents({ userId: 'newbie', itemId: 'B3-I1', type: 'purchase' });
    expect(await getJson(res)).toMatchObject({ accepted: 1, rejected: [] });
    const after = await recs('newbie', 5);
    expect(after.source).toBe('personalized');
    for (const it of after.items) expect(it.id).toMatch(/^B3-/);
    expect(after.items.map((i: { id: string }) => i.id)).not.toContain('B3-I1');
  });

  it("moves a known customer's recommendations toward what they just bought (bundled model)", async () => {
    const before = await recs('15221', 20);
    const christmas = ['22086', '22910', '22734', '22576', '23355', '22952'];
    const res = await postEvents({ events: christmas.map((itemId) => ({ userId: '15221', itemId, type: 'purchase' })) });
    expect((await getJson(res)).accepted).toBe(6);
    const after = await recs('15221', 20);
    expect(after.source).toBe('personalized');
    const overlap = after.items.filter((i: { id: string }) => before.items.some((b: { id: string }) => b.id === i.id)).length;
    expect(overlap).toBeLessThan(10);
    expect(
      after.items.filter((i: { title: string }) => /CHRISTMAS|ADVENT|SNOW|TREE|STAR|ANGEL|RIBBON|PAPER CHAIN/.test(i.title)).length,
    ).toBeGreaterThan(
      before.items.filter((i: { title: string }) => /CHRISTMAS|ADVENT|SNOW|TREE|STAR|ANGEL|RIBBON|PAPER CHAIN/.test(i.title)).length,
    );
    // the bought items now count as purchased
    for (const id of christmas) expect(after.items.map((i: { id: string }) => i.id)).not.toContain(id);
  });

  it('loses no event when many race for the same user', async () => {
    await useFixtureModel();
    const items = Array.from({ length: 12 }, (_, j) => `B2-I${j}`);
    const responses = await Promise.all(items.map((itemId) => postEvents({ userId: 'racer', itemId, type: 'view' })));
    for (const r of responses) expect(r.status).toBe(200);
    const me = await who('racer');
    const stub = env.USER_HISTORY.get(env.USER_HISTORY.idFromName(me.key));
    const history = await stub.history();
    expect(history!.items.map((i) => i.itemId).sort()).toEqual([...items].sort());
    expect(history!.revision).toBe(12);
    // the stored embedding is the one of the newest revision: it knows all 12 items
    const hist = await getJson(await SELF.fetch('http://x/v1/users/racer/history'));
    expect(hist.items).toHaveLength(12);
  });

  it('after a model switch, folds the stored history in under the new version on the next request', async () => {
    await useFixtureModel('events-a');
    await postEvents({
      events: [
        { userId: 'walker', itemId: 'B1-I3', type: 'purchase' },
        { userId: 'walker', itemId: 'B1-I4', type: 'purchase' },
      ],
    });
    const me = await who('walker');
    await publishFixture(await buildFixture({ version: 'events-b', params: { seed: 77 } }));
    const res = await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
    expect((await getJson(res)).outcome).toBe('activated');
    expect(await env.RECS_KV.get(KV.embedding('events-b', me.key))).toBeNull();
    const after = await recs('walker', 5);
    expect(after).toMatchObject({ model: 'events-b', source: 'personalized' });
    for (const it of after.items) expect(it.id).toMatch(/^B1-/);
    // and it is stored for the new version (after the response, through the user's Durable Object)
    await vi.waitFor(async () => expect(await env.RECS_KV.get(KV.embedding('events-b', me.key))).not.toBeNull());
  });

  it("stores ids only as keyed hashes and exports events in the trainer's CSV layout", async () => {
    await useFixtureModel();
    await postEvents({
      events: [
        { userId: 'alice@example.com', itemId: 'B0-I1', type: 'purchase' },
        { userId: 'alice@example.com', itemId: 'B0-I2', type: 'view', timestamp: '2026-11-20T10:00:00Z' },
      ],
    });
    const keys = (await env.RECS_KV.list()).keys.map((k) => k.name);
    expect(keys.join()).not.toContain('alice');
    const me = await who('alice@example.com');
    expect(keys).toContain(KV.historyMarker(me.key));
    expect(keys).toContain(KV.embedding('events-a', me.key));
    const result = await compactExports(env.MODELS, env.RECS_KV, 3600, Date.now(), { includeOpen: true, opsBudget: 100 });
    expect(result.rows).toBe(2);
    const exported = await env.MODELS.list({ prefix: R2.exports });
    const text = await (await env.MODELS.get(exported.objects[0].key))!.text();
    expect(text.split('\n')[0]).toBe(EXPORT_HEADER);
    expect(text).toContain(`${me.key},B0-I1,1,`);
    expect(text).toContain(`${me.key},B0-I2,0.1,2026-11-20T10:00:00.000Z,view`);
    expect(text).not.toContain('alice');
    expect((await env.MODELS.list({ prefix: R2.pendingEvents })).objects).toHaveLength(0);
  });
});

describe('bad events are rejected and store nothing', () => {
  beforeEach(clearStorage);

  async function expectNothingStored() {
    expect((await env.RECS_KV.list({ prefix: 'hist:' })).keys).toHaveLength(0);
    expect((await env.RECS_KV.list({ prefix: 'emb:' })).keys).toHaveLength(0);
    expect((await env.MODELS.list({ prefix: R2.pendingEvents })).objects).toHaveLength(0);
  }

  it('unknown item, unknown type, oversize batch, malformed JSON', async () => {
    const cases: [unknown, number, string][] = [
      [{ userId: 'u', itemId: 'NOT-AN-ITEM', type: 'purchase' }, 400, 'invalid_request'],
      [{ userId: 'u', itemId: '85123A', type: 'like' }, 400, 'invalid_request'],
      [{ events: Array.from({ length: 101 }, () => ({ userId: 'u', itemId: '85123A', type: 'view' })) }, 400, 'too_many_items'],
      ['{"userId": "u", "itemId": ', 400, 'malformed_json'],
      [{ userId: 'u', itemId: '85123A', type: 'view', timestamp: 'yesterday' }, 400, 'invalid_request'],
      // a date that does not exist is refused, not rolled over to March 2
      [{ userId: 'u', itemId: '85123A', type: 'view', timestamp: '2026-02-30T00:00:00Z' }, 400, 'invalid_request'],
      [{ events: [] }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of cases) {
      const res = await postEvents(body);
      expect(res.status).toBe(status);
      expect((await getJson(res)).error.code).toBe(code);
    }
    await expectNothingStored();
  });

  it('missing or wrong API key', async () => {
    for (const headers of [{ 'content-type': 'application/json' }, { ...KEY, authorization: 'Bearer nope' }]) {
      const res = await postEvents({ userId: 'u', itemId: '85123A', type: 'view' }, headers);
      expect(res.status).toBe(401);
      expect((await getJson(res)).error.code).toBe('unauthorized');
      const del = await SELF.fetch('http://x/v1/users/u', { method: 'DELETE', headers });
      expect(del.status).toBe(401);
    }
    await expectNothingStored();
  });

  it('accepts the valid events of a mixed batch and reports the others', async () => {
    const res = await postEvents({
      events: [
        { userId: 'mix', itemId: '85123A', type: 'purchase' },
        { userId: 'mix', itemId: 'NOPE', type: 'view' },
      ],
    });
    expect(await getJson(res)).toMatchObject({
      accepted: 1,
      rejected: [{ index: 1, itemId: 'NOPE', reason: expect.stringMatching(/in neither model .* nor the catalogue/) }],
    });
  });

  it('can require the API key for reads too', async () => {
    const app = createApp();
    const locked = { ...env, REQUIRE_API_KEY_FOR_READS: 'true' };
    expect((await app.request('/v1/users/17850/recommendations', undefined, locked)).status).toBe(401);
    expect(
      (await app.request('/v1/users/17850/recommendations', { headers: { authorization: 'Bearer test-api-key' } }, locked)).status,
    ).toBe(200);
  });
});
