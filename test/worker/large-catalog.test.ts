/**
 * A catalogue too big for float32 at the edge, served end to end: an int8-only artifact (no
 * float32 factors, no ONNX graph) of 60,000 items in 15 catalogue parts and 2 factor parts,
 * refreshed from R2 and queried over HTTP. The factors have a planted answer: item i points in
 * the direction of cluster i % 32 (±e_d over 16 dims) plus noise, so similar items and basket
 * recommendations must stay inside the cluster, and every title must be the one of its id —
 * including items outside the 10,000 popular ones, whose titles come from lazily read parts.
 */
import { env, SELF } from 'cloudflare:test';
import { FILES } from '@edge-recs/core/manifest';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildArtifact } from '../../model/artifact';
import { Rng } from '../../model/rng';
import { csrFromTriples } from '../../model/sparse';
import { clearStorage, getJson, publishFixture } from './fixtures';

const N = 60_000,
  DIMS = 16,
  CLUSTERS = 32;
const cluster = (i: number) => i % CLUSTERS;
const id = (i: number) => `SKU-${i}`;
const indexOf = (itemId: string) => Number(itemId.slice(4));
const title = (i: number) => `Product ${i} of cluster ${cluster(i)}`;

function direction(c: number): Float32Array {
  const v = new Float32Array(DIMS);
  v[c % DIMS] = c < DIMS ? 1 : -1;
  return v;
}

async function build() {
  const rng = new Rng(11);
  const itemFactors = new Float32Array(N * DIMS);
  for (let i = 0; i < N; i++) {
    const dir = direction(cluster(i));
    for (let d = 0; d < DIMS; d++) itemFactors[i * DIMS + d] = dir[d] * (0.5 + rng.next()) + rng.normal() * 0.05;
  }
  const users = Array.from({ length: 64 }, (_, u) => `shopper-${u}`);
  const userFactors = new Float32Array(users.length * DIMS);
  users.forEach((_, u) => {
    userFactors.set(direction(u % CLUSTERS), u * DIMS);
  });
  const history = csrFromTriples(
    users.length,
    N,
    Int32Array.from(users.map((_, u) => u)),
    Int32Array.from(users.map((_, u) => u % CLUSTERS)),
    new Float32Array(users.length).fill(1),
  );
  return buildArtifact({
    version: 'large-int8',
    algorithm: 'synthetic',
    hyperparameters: {},
    foldIn: { unobservedWeight: 0.1, alpha: 1, regularization: 0.01, regExponent: 0 },
    data: {
      source: 'planted clusters',
      layout: 'generic',
      sha256: '0'.repeat(64),
      users: users.length,
      items: N,
      interactions: users.length,
    },
    dims: DIMS,
    itemIds: Array.from({ length: N }, (_, i) => id(i)),
    titles: Array.from({ length: N }, (_, i) => title(i)),
    // popularity falls with the index: the popular list holds items 0–9,999
    itemCounts: Float32Array.from({ length: N }, (_, i) => N - i),
    itemFactors,
    itemWeights: new Float32Array(N).fill(1),
    userIds: users,
    userFactors,
    userItems: history,
    signingKey: env.TEST_SIGNING_KEY,
    float32MaxBytes: 0,
  });
}

type Rec = { model: string; source: string; items: { id: string; score: number; title: string }[] };

describe('a 60,000-item int8-only catalogue', () => {
  beforeAll(async () => {
    await clearStorage();
    const built = await build();
    expect(Object.keys(built.files)).not.toContain(FILES.itemFactors);
    expect(Object.keys(built.files)).not.toContain(FILES.scorer);
    expect(Object.keys(built.files).filter((f) => f.startsWith('catalog/'))).toHaveLength(16); // 15 parts + popular
    await publishFixture(built);
    const res = await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } });
    expect((await getJson(res)).outcome).toBe('activated');
  });

  it('is activated and scored by the int8 WebAssembly kernel', async () => {
    const info = await getJson(await SELF.fetch('http://x/v1/model'));
    expect(info).toMatchObject({ version: 'large-int8', itemCount: N, dims: DIMS, scoring: 'int8-wasm' });
    expect(info.modelBytes).toBeGreaterThan(N * DIMS); // at least the int8 rows
  });

  it("finds similar items inside the item's cluster, titled from the lazily read catalogue parts", async () => {
    for (const i of [3, 12_345, 59_999]) {
      const body = await getJson<Rec>(await SELF.fetch(`http://x/v1/items/${id(i)}/similar?k=10`));
      expect(body.items).toHaveLength(10);
      for (const it of body.items) {
        expect(cluster(indexOf(it.id))).toBe(cluster(i));
        expect(it.title).toBe(title(indexOf(it.id)));
      }
      expect(body.items.map((it) => it.id)).not.toContain(id(i));
      expect(body.items.some((it) => indexOf(it.id) >= 10_000)).toBe(true);
    }
  });

  it("recommends for a basket from the basket's cluster", async () => {
    const basket = [40_005, 50_021, 20_005].map(id); // cluster 5 (+e_5)
    const res = await SELF.fetch('http://x/v1/recommendations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: basket, k: 20 }),
    });
    expect(res.status).toBe(200);
    const body = await getJson<Rec>(res);
    expect(body.source).toBe('session');
    expect(body.items).toHaveLength(20);
    for (const it of body.items) {
      expect(cluster(indexOf(it.id))).toBe(5);
      expect(it.title).toBe(title(indexOf(it.id)));
      expect(basket).not.toContain(it.id);
    }
  });

  it('serves a trained user from the user shards, and popular items to strangers', async () => {
    const body = await getJson<Rec>(await SELF.fetch('http://x/v1/users/shopper-40/recommendations?k=10')); // cluster 8 (+e_8)
    expect(body.source).toBe('personalized');
    for (const it of body.items) expect(cluster(indexOf(it.id))).toBe(8);
    const cold = await getJson<Rec>(await SELF.fetch('http://x/v1/users/nobody/recommendations?k=5'));
    expect(cold.source).toBe('popular');
    expect(cold.items.map((it) => it.id)).toEqual([0, 1, 2, 3, 4].map(id));
  });

  it("re-ranks a caller's candidates, including ones outside the popular set", async () => {
    const candidates = [id(59_998), id(5), id(37)]; // clusters 30 (−e_14), 5 (+e_5), 5
    const res = await SELF.fetch('http://x/v1/score', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: [id(21)], candidates }),
    });
    const body = await getJson<Rec>(res);
    expect(res.status).toBe(200);
    expect(body.items.map((it) => it.id)).toEqual(candidates);
    expect(body.items[0].title).toBe(title(59_998));
    // the session is cluster 21 (−e_5): cluster-5 items (+e_5) score below the unrelated one
    expect(body.items[1].score).toBeLessThan(body.items[0].score);
  });
});
