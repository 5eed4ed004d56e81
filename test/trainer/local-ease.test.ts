/**
 * Local EASE, the approximate item model above the exact bound (model/local-ease.ts): the sparse
 * fast path against its dense reference, against exact EASE where it must coincide and where it
 * only approximates, planted blocks, non-negative weights, and which solver `solverFor` picks.
 */
import { cholesky } from '@edge-recs/core/linalg';
import { describe, expect, it } from 'vitest';
import { zipfMatrix } from '../../bench/synthetic';
import { overlapAtK } from '../../model/bought-together';
import { denseEase, exactEase, type ItemModelParams, itemGram, type NeighbourLists } from '../../model/item-model';
import { solverFor } from '../../model/item-solvers';
import { choleskyUnrolled, localEase, localEaseReference, sparseGram } from '../../model/local-ease';
import { Rng } from '../../model/rng';
import { type Csr, csrFromTriples } from '../../model/sparse';
import { MAX_EXACT_ITEMS } from '../../model/spd-inverse';
import { blockData } from '../blocks';

/** rows × n binary matrix, each entry present with probability p(i) */
function randomBinary(rows: number, n: number, seed: number, p: (i: number) => number): Csr {
  const rng = new Rng(seed);
  const r: number[] = [],
    c: number[] = [];
  for (let u = 0; u < rows; u++)
    for (let i = 0; i < n; i++)
      if (rng.next() < p(i)) {
        r.push(u);
        c.push(i);
      }
  return csrFromTriples(rows, n, Int32Array.from(r), Int32Array.from(c), new Float32Array(r.length).fill(1));
}

const PARAMS: ItemModelParams = { lambda: 5, dropout: 0.5, popularityDebias: 0.25, neighbours: 10, weightType: 'float16' };

function row(l: NeighbourLists, j: number): number[] {
  return Array.from(l.index.subarray(l.rowPtr[j], l.rowPtr[j + 1]));
}

describe('local EASE: pieces', () => {
  it('the sparse Gram matrix is the dense one off the diagonal, rows sorted, zeros left out', () => {
    const x = randomBinary(80, 40, 1, (i) => (i < 5 ? 0.4 : 0.06));
    const g = sparseGram(x);
    const dense = itemGram(x);
    for (let j = 0; j < 40; j++) {
      expect(g.diag[j]).toBe(dense[j * 40 + j]);
      const expected = Array.from({ length: 40 }, (_, k) => k).filter((k) => k !== j && dense[j * 40 + k] > 0);
      expect(Array.from(g.col.subarray(g.rowPtr[j], g.rowPtr[j + 1]))).toEqual(expected);
      for (let p = g.rowPtr[j]; p < g.rowPtr[j + 1]; p++) expect(g.count[p]).toBe(dense[j * 40 + g.col[p]]);
    }
  });

  it('the unrolled Cholesky matches core/linalg’s', () => {
    for (const n of [1, 3, 4, 7, 33]) {
      const rng = new Rng(n);
      const m = Float64Array.from({ length: n * n }, () => rng.normal());
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += m[i * n + k] * m[j * n + k];
      for (let i = 0; i < n; i++) a[i * n + i] += 1;
      const ref = Float64Array.from(a),
        fast = Float64Array.from(a);
      expect(cholesky(ref, n)).toBe(true);
      expect(choleskyUnrolled(fast, n)).toBe(true);
      for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) expect(fast[i * n + j]).toBeCloseTo(ref[i * n + j], 12);
    }
    expect(choleskyUnrolled(new Float64Array([1, 2, 2, 1]), 2)).toBe(false);
  });
});

describe('local EASE against its dense reference', () => {
  // a popular head (long Gram rows: the galloping gather) and a sparse tail (the scanning one)
  const x = randomBinary(400, 90, 2, (i) => (i < 12 ? 0.5 : 0.05));

  it.each([
    [4, 1],
    [20, 1],
    [20, 2], // worker threads: the same lists whatever order the chunks finish in
    [200, 1],
  ])('M=%i, %i thread(s): the same lists and weights', async (m, threads) => {
    for (const weightType of ['float16', 'int8'] as const) {
      const params = { ...PARAMS, weightType };
      const ref = localEaseReference(x, params, m).lists;
      const fast = await localEase({ neighbourhood: m, threads }).fit(x, params);
      expect(fast.rowPtr).toEqual(ref.rowPtr);
      expect(fast.index).toEqual(ref.index);
      for (let p = 0; p < ref.weight.length; p++) expect(fast.weight[p]).toBeCloseTo(ref.weight[p], 6);
    }
  });
});

describe('local EASE against exact EASE', () => {
  it('is exact EASE when every pair co-occurs and the neighbourhood holds every item', async () => {
    const n = 30;
    const x = randomBinary(200, n, 3, () => 0.45);
    const g = itemGram(x);
    for (let k = 0; k < n * n; k++) expect(g[k]).toBeGreaterThan(0); // every pair co-occurs
    const exact = await denseEase(g, n, PARAMS.lambda, PARAMS.dropout, { threads: 1 });
    const local = localEaseReference(x, PARAMS, n - 1);
    let diff = 0;
    for (let k = 0; k < n * n; k++) diff = Math.max(diff, Math.abs(local.b[k] - exact.b[k]));
    expect(diff).toBeLessThan(1e-12);
    const fast = await localEase({ neighbourhood: n - 1 }).fit(x, PARAMS);
    const lists = await exactEase({ threads: 1 }).fit(x, PARAMS);
    expect(fast.index).toEqual(lists.index);
    for (let p = 0; p < lists.weight.length; p++) expect(fast.weight[p]).toBeCloseTo(lists.weight[p], 6);
  });

  it('on a sparse random Zipf matrix (no structure to find, the hardest case) agrees on most of the top 5', async () => {
    // measured over seeds 1–3 with 300 items: top-5 overlap 0.63–0.67 at M = 50, 0.93–0.94 with
    // every co-occurring item (M = 299; only the items that never co-occur with the target differ)
    const x = zipfMatrix(2000, 300, 20_000, 1);
    const params = { ...PARAMS, lambda: 20 };
    const exact = await exactEase({ threads: 1 }).fit(x, params);
    expect(overlapAtK(await localEase({ neighbourhood: 50 }).fit(x, params), exact, 5)).toBeGreaterThan(0.6);
    expect(overlapAtK(await localEase({ neighbourhood: 299 }).fit(x, params), exact, 5)).toBeGreaterThan(0.9);
  });

  it('on planted blocks, every item’s neighbours are its block mates, as exact EASE’s', async () => {
    const d = blockData({ blocks: 5, itemsPerBlock: 10, usersPerBlock: 40, itemsPerUser: 4, seed: 3 });
    const params = { ...PARAMS, neighbours: 9, weightType: 'int8' as const };
    for (const m of [3, 9, 128]) {
      const lists = await localEase({ neighbourhood: m }).fit(d.matrix, params);
      for (let j = 0; j < lists.itemCount; j++) {
        const mates = row(lists, j);
        // with M below the block size an item is listed only by targets whose M most frequent
        // partners include it, so its own list can be short
        if (m >= 9) expect(mates.length).toBeGreaterThanOrEqual(5);
        for (const k of mates) {
          expect(k).not.toBe(j);
          expect(d.itemBlock[k]).toBe(d.itemBlock[j]);
        }
      }
      expect(lists.rowPtr[lists.itemCount]).toBeGreaterThan(lists.itemCount);
    }
  });

  it('stores only positive weights, best first, however negative the regression’s coefficients', async () => {
    // substitutes: items 0–9 almost never together, so their mutual coefficients are negative
    const x = randomBinary(300, 40, 4, (i) => (i < 10 ? 0.1 : 0.2));
    const b = localEaseReference(x, PARAMS, 39).b;
    expect(b.some((v) => v < 0)).toBe(true);
    for (const weightType of ['int8', 'float16'] as const) {
      const lists = await localEase({ neighbourhood: 39 }).fit(x, { ...PARAMS, weightType });
      for (let j = 0; j < 40; j++)
        for (let p = lists.rowPtr[j]; p < lists.rowPtr[j + 1]; p++) {
          expect(lists.weight[p]).toBeGreaterThanOrEqual(0);
          if (p > lists.rowPtr[j]) expect(lists.weight[p]).toBeLessThanOrEqual(lists.weight[p - 1]);
        }
    }
  });
});

describe('solverFor', () => {
  it('picks exact EASE up to the bound and local EASE above; refuses exact above the bound', () => {
    expect(solverFor(MAX_EXACT_ITEMS).name).toBe('exact-ease');
    expect(solverFor(MAX_EXACT_ITEMS + 1).name).toMatch(/^local-ease/);
    expect(solverFor(100, { solver: 'approximate', approximate: { neighbourhood: 64 } }).name).toBe('local-ease(M=64)');
    expect(() => solverFor(MAX_EXACT_ITEMS + 1, { solver: 'exact' })).toThrow(/limited to/);
  });
});
