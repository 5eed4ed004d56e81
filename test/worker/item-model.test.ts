/**
 * The item model at the edge, on a planted fixture: users buy inside one block of items, and
 * baskets pair items 2t and 2t+1 of a block. The right answers are known — an item's neighbours
 * are in its own block, what is bought with it is its pair — and the served blend must equal the
 * blend formula computed directly over every item. Also: explanations, trending and its decay,
 * recently viewed.
 */
import { env, SELF } from 'cloudflare:test';
import { FILES } from '@edge-recs/core/manifest';
import { neighbourParts } from '@edge-recs/core/neighbours';
import { decodeShard, shardOf } from '@edge-recs/core/shards';
import { beforeAll, describe, expect, it } from 'vitest';
import { blendScores } from '../../model/blend';
import { readNeighbourFiles } from '../../model/item-artifact';
import { Rng } from '../../model/rng';
import { csrFromTriples } from '../../model/sparse';
import { createInt8Index } from '../../src/inference/int8-module';
import type { ScoringPlan } from '../../src/inference/plan';
import { ItemModel } from '../../src/models/item-model';
import { estimateModelBytes, loadServingModel, neighbourCacheParts, parseManifest, type ServingModel } from '../../src/models/model';
import { r2Source } from '../../src/models/registry';
import { because, rank } from '../../src/services/blend';
import { type BlockData, blockData, buildFixture, clearStorage, getJson, publishFixture } from './fixtures';

const KEY = { authorization: 'Bearer test-api-key', 'content-type': 'application/json' };
const ADMIN = { authorization: 'Bearer test-admin-token' };
type Item = { id: string; score: number; title: string; because?: { id: string; title: string }[] };
type Rec = { model: string; source: string; items: Item[] };

const ITEMS_PER_BLOCK = 12;
const data: BlockData = blockData({ blocks: 4, itemsPerBlock: ITEMS_PER_BLOCK, usersPerBlock: 30, itemsPerUser: 5 });
const blockOf = (id: string) => data.itemBlock[data.itemIds.indexOf(id)];

/** Baskets of the pairs (2t, 2t+1) of every block, with a third item of the block in some. */
function pairedBaskets() {
  const rng = new Rng(3);
  const rows: number[] = [];
  const cols: number[] = [];
  let basket = 0;
  for (let b = 0; b < 4; b++)
    for (let t = 0; t < ITEMS_PER_BLOCK / 2; t++)
      for (let r = 0; r < 8; r++) {
        const first = b * ITEMS_PER_BLOCK + 2 * t;
        const items = [first, first + 1];
        if (r % 4 === 0) items.push(b * ITEMS_PER_BLOCK + ((2 * t + 2 + rng.int(ITEMS_PER_BLOCK - 2)) % ITEMS_PER_BLOCK));
        for (const i of items) {
          rows.push(basket);
          cols.push(i);
        }
        basket++;
      }
  return csrFromTriples(basket, data.itemIds.length, Int32Array.from(rows), Int32Array.from(cols), new Float32Array(rows.length).fill(1));
}

let built: Awaited<ReturnType<typeof buildFixture>>;
let model: ServingModel;

beforeAll(async () => {
  await clearStorage();
  built = await buildFixture({ version: 'items-a', data, itemModel: { baskets: pairedBaskets() }, params: { factors: 4 } });
  await publishFixture(built);
  const res = await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: ADMIN });
  expect((await getJson(res)).outcome).toBe('activated');
  model = await loadServingModel(
    r2Source(env.MODELS, 'items-a'),
    parseManifest(await (await env.MODELS.get('models/items-a/manifest.json'))!.arrayBuffer()),
    { int8MinItems: Infinity, createInt8Index },
  );
});

/** The blend formula for every item, directly (model/blend.ts, the trainer's evaluation scorer). */
function direct(u: ArrayLike<number>, basket: { index: number; strength: number }[]): Float64Array {
  const manifest = built.manifest;
  const im = model.itemModel!;
  const lists = readNeighbourFiles(built.files, manifest.itemCount, FILES.neighbourPart);
  const y = new Float32Array(built.files[FILES.itemFactors].slice().buffer);
  return blendScores(
    { itemFactors: y, dims: manifest.dims, itemCount: manifest.itemCount, stats: im.stats, lists, params: im.blend },
    u,
    basket,
  );
}

function topOf(scores: ArrayLike<number>, k: number, skip: (i: number) => boolean) {
  return Array.from(scores, (s, index) => ({ index, s }))
    .filter((x) => !skip(x.index))
    .sort((a, b) => b.s - a.s || a.index - b.index)
    .slice(0, k);
}

describe('neighbour lists', () => {
  it('are in the signed artifact and name only items of the same block, as the planted data says', () => {
    expect(built.manifest.itemModel).toMatchObject({ algorithm: 'edlae', neighbours: 6, weightType: 'int8', boughtTogether: true });
    const lists = readNeighbourFiles(built.files, data.itemIds.length, FILES.neighbourPart);
    for (let j = 0; j < data.itemIds.length; j++) {
      const row = lists.index.subarray(lists.rowPtr[j], lists.rowPtr[j + 1]);
      expect(row.length).toBeGreaterThan(0);
      for (const k of row) expect(data.itemBlock[k]).toBe(data.itemBlock[j]);
      const w = lists.weight.subarray(lists.rowPtr[j], lists.rowPtr[j + 1]);
      expect([...w]).toEqual([...w].sort((a, b) => b - a));
    }
  });

  it('are loaded with the version, and /v1/model says so', async () => {
    expect(model.itemModel).not.toBeNull();
    const info = await getJson(await SELF.fetch('http://x/v1/model'));
    expect(info.version).toBe('items-a');
    expect(info.itemModel).toMatchObject({ algorithm: 'edlae', neighbours: 6, boughtTogether: true, blend: { factorWeight: 0.25 } });
  });
});

describe('neighbour parts kept in the isolate', () => {
  const MiB = 2 ** 20;
  /** the fixture's manifest as if it described `items` items with parts of `partBytes` */
  const shaped = (items: number, partBytes: number) => ({
    ...built.manifest,
    itemCount: items,
    dims: 64,
    files: { ...built.manifest.files, [FILES.neighbourPart(0)]: { bytes: partBytes, sha256: '0'.repeat(64) } },
  });
  // a 4,096-item part at N = 30 with int8 weights: offsets, indices, weights, scales
  const part = 4096 * (4 + 30 * 5 + 4);

  it('are every part of a 100,000-item catalogue, so the blend reads each list once per isolate', () => {
    const keep = neighbourCacheParts(shaped(100_000, part), { int8MinItems: 0 });
    expect(keep.neighbours).toBeGreaterThanOrEqual(neighbourParts(100_000));
  });

  it('stay within what a 1,000,000-item model leaves of the isolate', () => {
    const m = shaped(1_000_000, part);
    const keep = neighbourCacheParts(m, { int8MinItems: 0 });
    expect(keep.neighbours).toBeGreaterThanOrEqual(2);
    expect(keep.neighbours).toBeLessThan(neighbourParts(1_000_000));
    expect(estimateModelBytes(m, { int8MinItems: 0 }) + keep.neighbours * part).toBeLessThanOrEqual(112 * MiB);
  });
});

describe('the served blend', () => {
  it('ranks exactly like the blend formula over every item, for random baskets, with and without a plan', async () => {
    const rng = new Rng(11);
    const n = data.itemIds.length;
    for (let trial = 0; trial < 25; trial++) {
      const size = 1 + rng.int(5);
      const picks = new Set<number>();
      while (picks.size < size) picks.add(rng.int(n));
      const basket = [...picks].map((index) => ({ index, strength: 1 + rng.int(3) }));
      const u = model.foldIn(basket);
      const exclude = new Set(picks);
      const k = 1 + rng.int(15);
      const scores = direct(u, basket);
      // without a plan
      const got = await rank(model, u, basket, k, exclude, null);
      const want = topOf(scores, k, (i) => exclude.has(i));
      expect(got.map((s) => s.index)).toEqual(want.map((w) => w.index));
      got.forEach((s, j) => {
        expect(s.score).toBeCloseTo(want[j].s, 4);
      });
      // a plan: a third of the items removed, some boosted (multiply and add)
      const classes = new Uint8Array(n).map(() => rng.int(3));
      const plan: ScoringPlan = { classes, transforms: Float32Array.from([0, 0, 1, 0, 1.5, 0.25]) };
      const planned = scores.map((s, i) => (classes[i] === 2 ? s * 1.5 + 0.25 : s));
      const gotPlanned = await rank(model, u, basket, k, exclude, plan);
      const wantPlanned = topOf(planned, k, (i) => exclude.has(i) || classes[i] === 0);
      expect(gotPlanned.map((s) => s.index)).toEqual(wantPlanned.map((w) => w.index));
      gotPlanned.forEach((s, j) => {
        expect(s.score).toBeCloseTo(wantPlanned[j].s, 4);
      });
    }
  });

  it('serves the blend through POST /v1/recommendations and for a known user', async () => {
    const ids = ['B2-I0', 'B2-I3', 'B2-I7'];
    const basket = ids.map((id) => ({ index: data.itemIds.indexOf(id), strength: 1 }));
    const res = await SELF.fetch('http://x/v1/recommendations', {
      method: 'POST',
      headers: KEY,
      body: JSON.stringify({ items: ids, k: 8 }),
    });
    const body = await getJson<Rec>(res);
    expect(res.status).toBe(200);
    expect(body.source).toBe('session');
    const want = topOf(direct(model.foldIn(basket), basket), 8, (i) => basket.some((b) => b.index === i));
    expect(body.items.map((i) => i.id)).toEqual(want.map((w) => data.itemIds[w.index]));
    for (const it of body.items) expect(blockOf(it.id)).toBe(2);

    // a known user: their trained vector and their history as the basket
    const user = 'u1-4';
    const { u, history } = userOf(user);
    const mine = await getJson<Rec>(await SELF.fetch(`http://x/v1/users/${user}/recommendations?k=5`));
    expect(mine.source).toBe('personalized');
    const wantUser = topOf(direct(u, history), 5, (i) => history.some((h) => h.index === i));
    expect(mine.items.map((i) => i.id)).toEqual(wantUser.map((w) => data.itemIds[w.index]));
  });

  it('scores given candidates with the same blend (POST /v1/score)', async () => {
    const ids = ['B0-I1', 'B0-I2'];
    const basket = ids.map((id) => ({ index: data.itemIds.indexOf(id), strength: 1 }));
    const candidates = ['B0-I3', 'B0-I0', 'B3-I5', 'B1-I1'];
    const res = await SELF.fetch('http://x/v1/score', {
      method: 'POST',
      headers: KEY,
      body: JSON.stringify({ items: ids, candidates }),
    });
    expect(res.status).toBe(200);
    const body = await getJson(res);
    const scores = direct(model.foldIn(basket), basket);
    const got = new Map<string, number>(body.items.map((i: Item) => [i.id, i.score]));
    for (const id of candidates) expect(got.get(id)).toBeCloseTo(scores[data.itemIds.indexOf(id)], 4);
  });
});

/** A known user's trained vector and history, from the artifact's user shard. */
function userOf(user: string): { u: Float32Array; history: { index: number; strength: number }[] } {
  const shard = decodeShard(built.files[FILES.userShard(shardOf(user, built.manifest.userShards))].slice().buffer);
  const j = shard.ids.indexOf(user);
  const d = shard.dims;
  const history = Array.from(shard.historyItems.subarray(shard.historyPtr[j], shard.historyPtr[j + 1]), (index, p) => ({
    index,
    strength: shard.historyStrengths[shard.historyPtr[j] + p],
  }));
  return { u: shard.vectors.slice(j * d, (j + 1) * d), history };
}

describe('explain=true', () => {
  it('names the one to three history or basket items behind each item, with titles', async () => {
    const ids = ['B3-I0', 'B3-I5', 'B1-I2'];
    const res = await SELF.fetch('http://x/v1/recommendations', {
      method: 'POST',
      headers: KEY,
      body: JSON.stringify({ items: ids, k: 10, explain: true }),
    });
    const body = await getJson<Rec>(res);
    expect(body.items.length).toBe(10);
    for (const it of body.items) {
      expect(it.because?.length).toBeGreaterThanOrEqual(1);
      expect(it.because?.length).toBeLessThanOrEqual(3);
      for (const b of it.because ?? []) {
        expect(ids).toContain(b.id);
        expect(b.title).toBe(data.titles[data.itemIds.indexOf(b.id)]);
        // the planted answer: what makes an item rank is a basket item of its own block
        expect(blockOf(b.id)).toBe(blockOf(it.id));
      }
    }
    // without the flag there is no because
    const plain = await getJson<Rec>(
      await SELF.fetch('http://x/v1/recommendations', { method: 'POST', headers: KEY, body: JSON.stringify({ items: ids, k: 10 }) }),
    );
    for (const it of plain.items) expect(it.because).toBeUndefined();
  });

  it('works for a known user, as a query parameter', async () => {
    const mine = await getJson<Rec>(await SELF.fetch('http://x/v1/users/u0-2/recommendations?k=5&explain=true'));
    const { history } = userOf('u0-2');
    const bought = new Set(history.map((h) => data.itemIds[h.index]));
    for (const it of mine.items) for (const b of it.because ?? []) expect(bought.has(b.id)).toBe(true);
    expect(mine.items.filter((it) => it.because?.length).length).toBeGreaterThan(0);
    expect((await SELF.fetch('http://x/v1/users/u0-2/recommendations?explain=maybe')).status).toBe(400);
  });

  it('explains every item of a long list that the history raises, however far down, by one to three of its items', async () => {
    // far down, the item model's lists no longer name the items: the factor part's exact split explains them
    let raised = 0;
    for (const user of ['u0-2', 'u3-1']) {
      const bought = new Set(userOf(user).history.map((h) => data.itemIds[h.index]));
      const mine = await getJson<Rec>(await SELF.fetch(`http://x/v1/users/${user}/recommendations?k=40&explain=true`));
      expect(mine.items.length).toBe(40); // of the 48 items, all but the five bought
      for (const it of mine.items) {
        // an item nothing raises (score ≤ 0) may have no because, but never an empty one
        if (it.score <= 0 && it.because === undefined) continue;
        expect(it.because?.length, it.id).toBeGreaterThanOrEqual(1);
        expect(it.because?.length).toBeLessThanOrEqual(3);
        for (const b of it.because ?? []) expect(bought.has(b.id)).toBe(true);
        if (it.score > 0) raised++;
      }
    }
    // the planted answer: what the history raises is the rest of the user's block (12 items, 5 bought)
    expect(raised).toBe(2 * 7);
  });

  it('never gives an item of the history or basket itself as its own reason', async () => {
    const mine = await getJson<Rec>(await SELF.fetch('http://x/v1/users/u0-2/recommendations?k=20&explain=true&excludePurchased=false'));
    const bought = new Set(userOf('u0-2').history.map((h) => data.itemIds[h.index]));
    const own = mine.items.filter((it) => bought.has(it.id));
    expect(own.length).toBeGreaterThan(0);
    for (const it of mine.items) expect(it.because?.map((b) => b.id) ?? []).not.toContain(it.id);
    const ids = ['B2-I0', 'B2-I1', 'B2-I6'];
    const basket = await getJson<Rec>(
      await SELF.fetch('http://x/v1/recommendations', {
        method: 'POST',
        headers: KEY,
        body: JSON.stringify({ items: ids, k: 12, explain: true, excludeGiven: false }),
      }),
    );
    expect(basket.items.some((it) => ids.includes(it.id))).toBe(true);
    for (const it of basket.items) expect(it.because?.map((b) => b.id) ?? []).not.toContain(it.id);
  });
  it("ranks a list's reasons by what each adds to the score: a strong item's weight counts more when the model's input is log1p", async () => {
    // the same lists served with neighbourInput log1p: an item of strength s adds (1 + log1p(s))·w to n_i
    const im = model.itemModel!;
    const log1p = new ItemModel({ ...im.blend, neighbourInput: 'log1p' }, im.stats, im.neighbours, im.boughtTogether, im.manifest);
    const served: ServingModel = Object.create(model, { itemModel: { value: log1p } });
    const basket = ['B1-I0', 'B1-I3', 'B1-I6', 'B1-I9'].map((id, j) => ({ index: data.itemIds.indexOf(id), strength: j === 3 ? 1e4 : 0 }));
    const rows = await im.neighbours.rows(basket.map((b) => b.index));
    const named = [...new Set(rows.flatMap((r) => Array.from(r.index)))].filter((i) => !basket.some((b) => b.index === i));
    const reasons = await because(served, basket, named);
    let reordered = 0;
    for (const i of named) {
      const terms = basket
        .map((b, j) => ({ j, s: b.strength, p: Array.from(rows[j].index).indexOf(i) }))
        .filter((x) => x.p >= 0)
        .map(({ j, s, p }) => ({ j, w: rows[j].weight[p], c: (1 + Math.log1p(s)) * rows[j].weight[p] }));
      const byTerm = [...terms].sort((x, y) => y.c - x.c || x.j - y.j).slice(0, 3);
      expect(reasons.get(i), data.itemIds[i]).toEqual(byTerm.map((t) => basket[t.j].index));
      const byWeight = [...terms].sort((x, y) => y.w - x.w || x.j - y.j).slice(0, 3);
      if (byWeight.map((t) => t.j).join() !== byTerm.map((t) => t.j).join()) reordered++;
    }
    // the strong item changes some answers, so weights alone would have been caught out
    expect(reordered).toBeGreaterThan(0);
  });
});

describe('GET /v1/items/{id}/bought-together', () => {
  it("puts an item's basket partner first and stays inside its block", async () => {
    for (const [id, partner] of [
      ['B0-I0', 'B0-I1'],
      ['B2-I5', 'B2-I4'],
      ['B3-I10', 'B3-I11'],
    ]) {
      const res = await SELF.fetch(`http://x/v1/items/${id}/bought-together?k=5`);
      expect(res.status).toBe(200);
      const body = await getJson<Rec>(res);
      expect(body.source).toBe('bought-together');
      expect(body.items[0].id).toBe(partner);
      for (const it of body.items) {
        expect(blockOf(it.id)).toBe(blockOf(id));
        expect(it.id).not.toBe(id);
      }
    }
  });

  it("ranks the item's whole list under a placement's boost, so a smaller k is the top of a larger one", async () => {
    const full = (await getJson<Rec>(await SELF.fetch('http://x/v1/items/B0-I0/bought-together?k=20'))).items.map((i) => i.id);
    expect(full.length).toBeGreaterThan(3);
    const last = full[full.length - 1];
    const put = await SELF.fetch('http://x/admin/placements/bt-boost', {
      method: 'PUT',
      headers: { ...ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ boosts: [{ match: { ids: [last] }, add: 10 }] }),
    });
    expect(put.status).toBe(200);
    const boosted = async (k: number) =>
      (await getJson<Rec>(await SELF.fetch(`http://x/v1/items/B0-I0/bought-together?k=${k}&placement=bt-boost`))).items.map((i) => i.id);
    expect(await boosted(1)).toEqual([last]);
    expect(await boosted(20)).toEqual([last, ...full.slice(0, -1)]);
  });

  it('applies the catalogue filters, and answers 404 for an item nobody knows', async () => {
    const res = await SELF.fetch('http://x/v1/items/B0-I0/bought-together?k=5&exclude=B0-I1');
    expect(res.status).toBe(200);
    expect((await getJson<Rec>(res)).items.map((i) => i.id)).not.toContain('B0-I1');
    const missing = await SELF.fetch('http://x/v1/items/NOPE/bought-together');
    expect(missing.status).toBe(404);
    expect((await getJson(missing)).error.code).toBe('item_not_found');
  });
});

describe('trending', () => {
  const view = (userId: string, itemId: string, timestamp?: number) => ({
    userId,
    itemId,
    type: 'view',
    ...(timestamp ? { timestamp } : {}),
  });
  const post = (events: unknown[]) => SELF.fetch('http://x/v1/events', { method: 'POST', headers: KEY, body: JSON.stringify({ events }) });

  it("falls back to the model's popularity before any events, still answering as trending (every score 0)", async () => {
    const body = await getJson<Rec>(await SELF.fetch('http://x/v1/trending?k=5'));
    expect(body.source).toBe('trending');
    expect(body.items).toHaveLength(5);
    expect(body.items.map((i) => i.score)).toEqual([0, 0, 0, 0, 0]);
    const popular = await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=5'));
    expect(body.items.map((i) => i.id)).toEqual(popular.items.map((i) => i.id));
  });

  it('puts an item twenty shoppers just viewed in the top 10; one shopper viewing twenty times does not', async () => {
    const popular = await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=10'));
    // one shopper reloading an item twenty times, and two shoppers viewing others once: no trend yet
    expect((await post(Array.from({ length: 20 }, () => view('reloader', 'B1-I9')))).status).toBe(200);
    expect((await post([view('x1', 'B0-I3'), view('x2', 'B2-I2')])).status).toBe(200);
    const quiet = await getJson<Rec>(await SELF.fetch('http://x/v1/trending?k=10'));
    expect(quiet.items.map((i) => i.id)).toEqual(popular.items.map((i) => i.id));
    expect(quiet.items.every((i) => i.score === 0)).toBe(true);
    // twenty different shoppers view B3-I7 within minutes
    expect((await post(Array.from({ length: 20 }, (_, j) => view(`shopper-${j}`, 'B3-I7')))).status).toBe(200);
    const body = await getJson<Rec>(await SELF.fetch('http://x/v1/trending?k=10'));
    expect(body.source).toBe('trending');
    expect(body.items[0].id).toBe('B3-I7');
    expect(body.items[0].score).toBeCloseTo(20 * 0.1, 3);
    // the rest is the model's popularity, in its order, each item once
    const rest = body.items.slice(1).map((i) => i.id);
    expect(rest).toEqual(
      popular.items
        .map((i) => i.id)
        .filter((id) => id !== 'B3-I7')
        .slice(0, 9),
    );
    expect(body.items.slice(1).every((i) => i.score === 0)).toBe(true);
    // filters apply
    const filtered = await getJson<Rec>(await SELF.fetch('http://x/v1/trending?k=10&exclude=B3-I7'));
    expect(filtered.items.map((i) => i.id)).not.toContain('B3-I7');
  });

  it("ranks every trending item under a placement's boost, so a smaller k is the top of a larger one", async () => {
    // three shoppers make B2-I5 trend, far below B3-I7's twenty
    expect((await post(['a', 'b', 'c'].map((u) => view(`boost-${u}`, 'B2-I5')))).status).toBe(200);
    const plain = await getJson<Rec>(await SELF.fetch('http://x/v1/trending?k=10'));
    expect(plain.items.slice(0, 2).map((i) => i.id)).toEqual(['B3-I7', 'B2-I5']);
    const put = await SELF.fetch('http://x/admin/placements/trend-boost', {
      method: 'PUT',
      headers: { ...ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ boosts: [{ match: { ids: ['B2-I5'] }, multiply: 100 }] }),
    });
    expect(put.status).toBe(200);
    const top = async (k: number) =>
      (await getJson<Rec>(await SELF.fetch(`http://x/v1/trending?k=${k}&placement=trend-boost`))).items.map((i) => i.id);
    expect(await top(1)).toEqual(['B2-I5']);
    expect((await top(10)).slice(0, 2)).toEqual(['B2-I5', 'B3-I7']);
  });

  it('lists a new catalogue product that shoppers view, once, above the popular fill', async () => {
    const put = await SELF.fetch('http://x/v1/items', {
      method: 'PUT',
      headers: KEY,
      body: JSON.stringify({ items: [{ id: 'NEW-TREND', title: 'Lantern brand new', category: 'lights' }] }),
    });
    expect(put.status).toBe(200);
    expect((await post(['p', 'q', 'r', 's'].map((u) => view(`new-${u}`, 'NEW-TREND')))).status).toBe(200);
    const body = await getJson<Rec>(await SELF.fetch('http://x/v1/trending?k=40'));
    const ids = body.items.map((i) => i.id);
    expect(ids.filter((id) => id === 'NEW-TREND')).toHaveLength(1);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.indexOf('NEW-TREND')).toBeLessThan(3);
  });

  const settings = (minShoppers: number) => ({ halfLifeSeconds: 3600, minShoppers });

  it('decays with the configured half-life', async () => {
    const stub = env.TRENDING.get(env.TRENDING.idFromName('decay-test'));
    const H = 3600;
    const t0 = Date.parse('2026-06-01T00:00:00Z');
    await stub.record(
      Array.from({ length: 8 }, (_, j) => ({ itemId: 'A', userKey: `k${j}`, weight: 1, at: t0 })),
      H,
      t0,
    );
    const at = async (t: number) => (await stub.top(10, settings(1), t)).map(({ itemId, score }) => ({ itemId, score }));
    expect((await at(t0))[0]).toEqual({ itemId: 'A', score: 8 });
    // the same shopper again within a half-life is not counted
    await stub.record([{ itemId: 'A', userKey: 'k0', weight: 1, at: t0 + 1000 }], H, t0 + 1000);
    expect((await at(t0 + 1000))[0].score).toBeCloseTo(8 * 2 ** (-1 / 3600), 9);
    expect((await at(t0 + H * 1000))[0].score).toBeCloseTo(4, 9);
    // two half-lives on, three fresh views of B outrank A's eight old ones (8 → 2)
    const t2 = t0 + 2 * H * 1000;
    await stub.record(
      Array.from({ length: 3 }, (_, j) => ({ itemId: 'B', userKey: `k${j}`, weight: 1, at: t2 })),
      H,
      t2,
    );
    const now2 = await at(t2);
    expect(now2.map((x) => x.itemId)).toEqual(['B', 'A']);
    expect(now2[0].score).toBeCloseTo(3, 9);
    expect(now2[1].score).toBeCloseTo(2, 9);
    // events that happened a half-life ago count half (two shoppers: score 1, shoppers 1)
    await stub.record(
      ['k8', 'k9'].map((userKey) => ({ itemId: 'C', userKey, weight: 1, at: t2 - H * 1000 })),
      H,
      t2,
    );
    const c = (await stub.top(10, settings(1), t2)).find((x) => x.itemId === 'C');
    expect(c?.score).toBeCloseTo(1, 9);
    expect(c?.shoppers).toBeCloseTo(1, 9);
  });

  it("counts a shopper's strongest event once per half-life: a view, then a purchase, adds the difference", async () => {
    const stub = env.TRENDING.get(env.TRENDING.idFromName('strongest-test'));
    const t = Date.parse('2026-06-01T00:00:00Z');
    const ev = (userKey: string, weight: number) => ({ itemId: 'P', userKey, weight, at: t });
    await stub.record([ev('u1', 0.1), ev('u1', 1), ev('u1', 0.1), ev('u2', 1), ev('u2', 0.1), ev('u3', 0.3)], 3600, t);
    const [p] = await stub.top(10, settings(1), t);
    expect(p.score).toBeCloseTo(1 + 1 + 0.3, 9);
    expect(p.shoppers).toBeCloseTo(3, 9);
  });

  it("counts half-lives by the events' own times: yesterday's views sent late do not shut out today's", async () => {
    const stub = env.TRENDING.get(env.TRENDING.idFromName('late-test'));
    const H = 3600;
    const now = Date.parse('2026-06-02T06:00:00Z');
    const ev = (userKey: string, itemId: string, at: number) => ({ itemId, userKey, weight: 1, at });
    const shoppers = ['s0', 's1', 's2'];
    // item L: each shopper's view of 1.25 half-lives ago arrives now, then their view of now
    await stub.record(
      shoppers.map((u) => ev(u, 'L', now - 1.25 * H * 1000)),
      H,
      now,
    );
    await stub.record(
      shoppers.map((u) => ev(u, 'L', now)),
      H,
      now,
    );
    // item E: the same events the other way round
    await stub.record(
      shoppers.map((u) => ev(u, 'E', now)),
      H,
      now,
    );
    await stub.record(
      shoppers.map((u) => ev(u, 'E', now - 1.25 * H * 1000)),
      H,
      now,
    );
    const both = 3 * (1 + 2 ** -1.25);
    const top = await stub.top(10, settings(1), now);
    for (const id of ['L', 'E']) {
      const x = top.find((t) => t.itemId === id);
      expect(x?.score, id).toBeCloseTo(both, 9);
      expect(x?.shoppers, id).toBeCloseTo(both, 9);
    }
    // a further view within today's half-life adds nothing, whichever order came before
    await stub.record(
      shoppers.flatMap((u) => [ev(u, 'L', now - 0.5 * H * 1000), ev(u, 'E', now - 0.5 * H * 1000)]),
      H,
      now,
    );
    const again = await stub.top(10, settings(1), now);
    for (const id of ['L', 'E']) expect(again.find((t) => t.itemId === id)?.score, id).toBeCloseTo(both, 9);
  });

  it("takes a forgotten shopper's share out again, decayed as it was, and counts their later events afresh", async () => {
    const stub = env.TRENDING.get(env.TRENDING.idFromName('forget-test'));
    const H = 3600;
    const t0 = Date.parse('2026-06-01T00:00:00Z');
    const ev = (userKey: string, itemId: string, weight: number, at: number) => ({ itemId, userKey, weight, at });
    // the shopper to forget: a view, then a purchase of A (within the half-life: the difference), and B
    await stub.record([ev('gone', 'A', 0.1, t0), ev('gone', 'B', 1, t0)], H, t0);
    await stub.record([ev('gone', 'A', 1, t0)], H, t0);
    const t1 = t0 + H * 1000;
    await stub.record([ev('stay1', 'A', 1, t1), ev('stay2', 'A', 0.5, t1), ev('stay1', 'B', 1, t1)], H, t1);
    const t = t0 + 2 * H * 1000;
    const top = async () => new Map((await stub.top(10, settings(0.1), t)).map((x) => [x.itemId, x]));
    const before = await top();
    expect(before.get('A')?.score).toBeCloseTo(0.25 * 1 + 0.5 * (1 + 0.5), 9); // gone two half-lives ago, the others one
    expect(before.get('A')?.shoppers).toBeCloseTo(0.25 + 0.5 * 2, 9);
    expect(await stub.forget('gone', H, t)).toBe(2);
    const after = await top();
    expect(after.get('A')?.score).toBeCloseTo(0.5 * 1.5, 9);
    expect(after.get('A')?.shoppers).toBeCloseTo(0.5 * 2, 9);
    expect(after.get('B')?.score).toBeCloseTo(0.5, 9);
    expect(after.get('B')?.shoppers).toBeCloseTo(0.5, 9);
    // nothing left to take: a second forget changes nothing
    expect(await stub.forget('gone', H, t)).toBe(0);
    // an event of theirs from before the deletion, arriving after it (in flight), is not counted
    expect(await stub.record([ev('gone', 'B', 1, t - 5000)], H, t)).toBe(0);
    // one from after it is a new consent's, counted afresh
    const later = t + 1000;
    expect(await stub.record([ev('gone', 'B', 1, later)], H, later)).toBe(1);
    const again = (await stub.top(10, settings(0.1), later)).find((x) => x.itemId === 'B');
    const decayed = 2 ** (-1 / 3600);
    expect(again?.score).toBeCloseTo(0.5 * decayed + 1, 9);
    expect(again?.shoppers).toBeCloseTo(0.5 * decayed + 1, 9);
  });

  it("never takes other shoppers' share: an item pruned from the sums and counted again starts over", async () => {
    const stub = env.TRENDING.get(env.TRENDING.idFromName('forget-prune-test'));
    const H = 3600;
    const t0 = Date.parse('2026-06-01T00:00:00Z');
    const ev = (userKey: string, itemId: string, weight: number) => ({ itemId, userKey, weight, at: t0 });
    await stub.record([ev('gone', 'X', 1)], H, t0);
    // 50,000 busier items (the store's bound) push X, the lowest score, out
    for (let s = 0; s < 50_000; s += 10_000)
      await stub.record(
        Array.from({ length: 10_000 }, (_, i) => ev('crowd', `busy-${s + i}`, 2)),
        H,
        t0,
      );
    await stub.record([ev('c1', 'X', 1), ev('c2', 'X', 1), ev('c3', 'X', 1)], H, t0);
    const x = async () => (await stub.top(50_000, settings(3), t0)).find((t) => t.itemId === 'X');
    expect((await x())?.shoppers).toBeCloseTo(3, 9);
    // what 'gone' added left with X's old sums: nothing of the new ones is theirs
    await stub.forget('gone', H, t0);
    expect((await x())?.shoppers).toBeCloseTo(3, 9);
  });

  it('lists an item only once enough different shoppers touched it recently: not for one shopper, nor for a crowd days ago', async () => {
    const stub = env.TRENDING.get(env.TRENDING.idFromName('gate-test'));
    const H = 3600;
    const t = Date.parse('2026-06-01T00:00:00Z');
    const crowd = (itemId: string, n: number, at: number) =>
      Array.from({ length: n }, (_, j) => ({ itemId, userKey: `${itemId}-${j}`, weight: 1, at }));
    await stub.record(
      [
        { itemId: 'SOLO', userKey: 'one', weight: 1, at: t }, // one purchase: score 1, one shopper
        ...crowd('PAIR', 2, t), // two shoppers now
        ...crowd('TRIO', 3, t), // three shoppers now
        ...crowd('OLD', 20, t - 5 * H * 1000), // twenty shoppers five half-lives ago: 20/32 shoppers now
        ...crowd('SPREAD', 6, t - H * 1000), // six shoppers a half-life ago: 3 now
      ],
      H,
      t,
    );
    const listed = async (minShoppers: number) => (await stub.top(10, settings(minShoppers), t)).map((x) => x.itemId).sort();
    expect(await listed(3)).toEqual(['SPREAD', 'TRIO']);
    expect(await listed(2)).toEqual(['PAIR', 'SPREAD', 'TRIO']);
    expect(await listed(1)).toEqual(['PAIR', 'SOLO', 'SPREAD', 'TRIO']);
  });
});

describe('GET /v1/users/{id}/recent', () => {
  it("lists a shopper's recently viewed items newest first by their last view, not what was only carted or bought, and nothing for a stranger", async () => {
    const now = Date.now();
    const events = [
      { userId: 'browser', itemId: 'B0-I4', type: 'view', timestamp: now - 30_000 },
      { userId: 'browser', itemId: 'B2-I1', type: 'view', timestamp: now - 10_000 },
      { userId: 'browser', itemId: 'B1-I8', type: 'add_to_cart', timestamp: now - 20_000 },
      { userId: 'browser', itemId: 'B3-I2', type: 'click', timestamp: now - 5_000 },
      { userId: 'browser', itemId: 'B2-I7', type: 'purchase', timestamp: now - 2_000 },
      // bought after viewing: still listed, at the time it was viewed
      { userId: 'browser', itemId: 'B0-I4', type: 'purchase', timestamp: now - 1_000 },
    ];
    expect((await SELF.fetch('http://x/v1/events', { method: 'POST', headers: KEY, body: JSON.stringify({ events }) })).status).toBe(200);
    const body = await getJson<Rec>(await SELF.fetch('http://x/v1/users/browser/recent?k=10'));
    expect(body.source).toBe('recent');
    expect(body.items.map((i) => i.id)).toEqual(['B3-I2', 'B2-I1', 'B0-I4']);
    expect((await getJson<Rec>(await SELF.fetch('http://x/v1/users/browser/recent?k=2'))).items.map((i) => i.id)).toEqual([
      'B3-I2',
      'B2-I1',
    ]);
    expect((await getJson<Rec>(await SELF.fetch('http://x/v1/users/nobody/recent'))).items).toEqual([]);
  });
});

describe('neighbour weights that are not finite numbers (damaged data)', () => {
  /** byte offset of the weight section of a neighbour part (core/neighbours.ts) */
  const weightsAt = (bytes: Uint8Array) => {
    const v = new DataView(bytes.buffer, bytes.byteOffset);
    return 20 + 4 * (v.getUint32(8, true) + 1) + 4 * v.getUint32(12, true);
  };
  const refresh = async () => getJson(await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: ADMIN }));

  it('rejects a version whose first neighbour part has an Infinity weight at refresh; the active one keeps serving', async () => {
    const { resign } = await import('./fixtures');
    const active = (await getJson(await SELF.fetch('http://x/v1/model'))).version;
    const bad = await buildFixture({ version: 'items-inf', data, itemModel: {}, params: { factors: 4 } });
    expect(bad.manifest.itemModel?.weightType).toBe('int8');
    // item 0's int8 scale (the first f32 after the padded values) becomes Infinity: q · scale = Infinity
    const scaleInfinity = (b: Uint8Array) => {
      const nnz = new DataView(b.buffer).getUint32(12, true);
      new DataView(b.buffer).setFloat32(weightsAt(b) + ((nnz + 3) & ~3), Number.POSITIVE_INFINITY, true);
    };
    await publishFixture(await resign(bad, { file: FILES.neighbourPart(0), mutate: scaleInfinity }));
    const report = await refresh();
    expect(report).toMatchObject({ outcome: 'rejected', version: 'items-inf' });
    // the public reason names the file; the decoder's words are in it or in the operator's detail
    expect(report.reason).toMatch(/item_model\/neighbours\/0000\.bin/);
    expect(`${report.reason} ${report.detail ?? ''}`).toMatch(
      /neighbour part has a weight that is not a finite number ≥ 0 \(item 0: (Infinity|NaN)\)/,
    );
    expect((await getJson(await SELF.fetch('http://x/v1/model'))).version).toBe(active);
  });

  it('rejects a version whose first bought-together part has a float16 Infinity, as for the neighbour lists', async () => {
    const { resign } = await import('./fixtures');
    const active = (await getJson(await SELF.fetch('http://x/v1/model'))).version;
    const built16 = await buildFixture({
      version: 'items-f16',
      data,
      itemModel: { baskets: pairedBaskets(), params: { weightType: 'float16' } },
      params: { factors: 4 },
    });
    // the first bought-together weight of B0-I0 (item 0) becomes 0x7c00, as an unscaled 1e6 used to
    const infinity = (b: Uint8Array) => new DataView(b.buffer).setUint16(weightsAt(b), 0x7c00, true);
    await publishFixture(await resign(built16, { file: FILES.boughtTogetherPart(0), mutate: infinity }));
    const report = await refresh();
    expect(report).toMatchObject({ outcome: 'rejected', version: 'items-f16', reason: `${FILES.boughtTogetherPart(0)} does not decode` });
    expect(report.detail).toMatch(/not a finite number ≥ 0 \(item 0: Infinity\)/);
    expect((await getJson(await SELF.fetch('http://x/v1/model'))).version).toBe(active);
    // the active version's bought-together answers stay finite
    const body = await getJson<Rec>(await SELF.fetch('http://x/v1/items/B0-I0/bought-together?k=4'));
    expect(body.items).toHaveLength(4);
    for (const it of body.items) expect(Number.isFinite(it.score)).toBe(true);
  });

  it('treats such a part as damaged in the lists the Worker reads lazily: its items have no neighbours, reported once', async () => {
    const { NeighbourLists } = await import('../../src/models/item-model');
    const { encodeNeighbourPart } = await import('@edge-recs/core/neighbours');
    const bytes = encodeNeighbourPart({ rowPtr: [0, 1, 2], index: [1, 0], weightType: 'float16', float16: [0x7c00, 0x3c00] }, 0, 2);
    const reasons: string[] = [];
    const lists = new NeighbourLists(
      2,
      2,
      async () => bytes.slice().buffer,
      async (_part, reason) => {
        reasons.push(reason);
      },
    );
    const [a, b] = await lists.rows([0, 1]);
    expect(a.index.length + b.index.length).toBe(0);
    await lists.rows([1]);
    expect(reasons).toEqual(['neighbour part has a weight that is not a finite number ≥ 0 (item 0: Infinity)']);
  });
});
