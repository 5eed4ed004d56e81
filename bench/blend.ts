/**
 * What the item model adds to a request's scoring at the edge: the served blend (src/services/
 * blend.ts `rank`: neighbour lists of the basket read from their parts, the neighbour scores, the
 * factor kernel with the blend folded in, the touched items scored exactly, the merge) against the
 * factor kernel alone (`scorer.topK`), on the same synthetic catalogue, user vectors and baskets,
 * with the Worker's own loader and int8 kernel in Node (as bench/model-memory.ts does). Variants
 * are interleaved per round, so machine noise hits both alike. Issue #14's target: ≤ 1.5×.
 */

import { buildArtifact } from '../model/artifact';
import { DEFAULT_BLEND, factorStats } from '../model/blend';
import { itemModelArtifact } from '../model/item-artifact';
import { quantise } from '../model/item-model';
import { csrFromTriples } from '../model/sparse';
import { Int8Index } from '../src/inference/int8';
import { type ArtifactSource, loadServingModel, parseManifest } from '../src/models/model';
import { rank } from '../src/services/blend';
import { int8Module, randomFactors } from './kernels';

export interface BlendRow {
  items: number;
  basket: number;
  neighbours: number;
  /** median ms per request */
  factorsMs: number;
  blendMs: number;
  ratio: number;
}

/**
 * A synthetic catalogue of `items` × `dims` with an item model of `neighbours` int8 lists per item
 * (random partners, weights falling with rank), loaded as the Worker loads it. Shapes:
 * factors items×dims f32; lists rowPtr[items+1], index/weight[items·neighbours].
 */
export async function syntheticModel(items: number, dims: number, neighbours: number) {
  const y = randomFactors(items, dims, 1);
  const rowPtr = new Int32Array(items + 1);
  const index = new Int32Array(items * neighbours);
  const raw = new Float32Array(items * neighbours);
  let s = 12345;
  const rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  for (let i = 0; i < items; i++) {
    rowPtr[i + 1] = (i + 1) * neighbours;
    for (let j = 0; j < neighbours; j++) {
      index[i * neighbours + j] = (i + 1 + Math.floor(rnd() * (items - 1))) % items;
      raw[i * neighbours + j] = 1 / (1 + j);
    }
  }
  const lists = quantise({ n: items, rowPtr, index, raw }, 'int8');
  const itemModel = itemModelArtifact({
    lists,
    boughtTogether: null,
    stats: factorStats(y, items, dims),
    params: { neighbours, weightType: 'int8' },
    blend: DEFAULT_BLEND,
    algorithm: 'synthetic',
  });
  const users = 10;
  const userItems = csrFromTriples(
    users,
    items,
    Int32Array.from({ length: users }, (_, u) => u),
    Int32Array.from({ length: users }, (_, u) => u),
    new Float32Array(users).fill(1),
  );
  const itemIds = Array.from({ length: items }, (_, i) => `I${i}`);
  const built = await buildArtifact({
    version: `blend-${items}`,
    algorithm: 'synthetic',
    hyperparameters: {},
    foldIn: { unobservedWeight: 1, alpha: 1, regularization: 1, regExponent: 0 },
    data: { source: 'synthetic', layout: 'generic', sha256: '0'.repeat(64), users, items, interactions: users },
    dims,
    itemIds,
    titles: itemIds,
    itemCounts: new Float32Array(items).map((_, i) => items - i),
    itemFactors: y,
    itemWeights: new Float32Array(items).fill(1),
    userIds: Array.from({ length: users }, (_, u) => `U${u}`),
    userFactors: randomFactors(users, dims, 2),
    userItems,
    itemModel,
  });
  const files: Record<string, Uint8Array> = { ...built.files, 'manifest.json': built.manifestBytes };
  const source: ArtifactSource = {
    kind: 'r2',
    async get(file) {
      const b = files[file];
      return b ? (b.slice().buffer as ArrayBuffer) : null;
    },
  };
  const module = await int8Module();
  return loadServingModel(source, parseManifest((await source.get('manifest.json')) as ArrayBuffer), {
    int8MinItems: 0,
    createInt8Index: (n, d) => Int8Index.create(module, n, d),
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchBlend(sizes: number[], dims = 64, k = 20, basket = 5, neighbours = 30): Promise<BlendRow[]> {
  const rows: BlendRow[] = [];
  for (const items of sizes) {
    const model = await syntheticModel(items, dims, neighbours);
    if (!model.itemModel) throw new Error('the synthetic model lost its item model');
    const requests = Array.from({ length: 64 }, (_, r) => {
      const b = Array.from({ length: basket }, (_, j) => ({ index: (r * 7919 + j * 104_729) % items, strength: 1 }));
      return { b, u: model.foldIn(b), exclude: new Set(b.map((x) => x.index)) };
    });
    const factors = async (q: (typeof requests)[number]) => model.scorer.topK(q.u, k, q.exclude);
    const blended = async (q: (typeof requests)[number]) => rank(model, q.u, q.b, k, q.exclude, null);
    // warm both paths (kernel, neighbour parts read once and kept, as the Worker keeps them)
    for (const q of requests) {
      await factors(q);
      await blended(q);
    }
    const times: Record<'f' | 'b', number[]> = { f: [], b: [] };
    for (let round = 0; round < 15; round++) {
      const order: ('f' | 'b')[] = round % 2 ? ['f', 'b'] : ['b', 'f'];
      for (const v of order) {
        const t = performance.now();
        for (const q of requests) await (v === 'f' ? factors(q) : blended(q));
        times[v].push((performance.now() - t) / requests.length);
      }
    }
    const factorsMs = median(times.f);
    const blendMs = median(times.b);
    rows.push({ items, basket, neighbours, factorsMs, blendMs, ratio: blendMs / factorsMs });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchBlend([100_000])) console.log(r);
}
