/**
 * The item-item model: the fast SPD inverse (WebAssembly SIMD sweep) against the plain Cholesky
 * reference, EASE on planted block data whose neighbours are known, the stored weight formats,
 * and the served blend against a direct computation of its formula.
 */

import { FILES } from '@edge-recs/core/manifest';
import { topK } from '@edge-recs/core/topk';
import { describe, expect, it } from 'vitest';
import { type BlendModel, blendScores, factorStats, factorTopKOver, recommendBlend } from '../../model/blend';
import { neighbourFiles, readNeighbourFiles } from '../../model/item-artifact';
import { denseEase, exactEase, fromFloat16, itemGram, type NeighbourLists, sparsify, toFloat16 } from '../../model/item-model';
import { Rng } from '../../model/rng';
import { csrFromTriples } from '../../model/sparse';
import { inverseReference, inverseSweep } from '../../model/spd-inverse';
import { blockData } from '../blocks';

/** XᵀX + 3I of a random sparse binary X: SPD, n×n row-major. */
function randomSpd(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const rows = n + 7;
  const r: number[] = [],
    c: number[] = [];
  for (let u = 0; u < rows; u++)
    for (let i = 0; i < n; i++)
      if (rng.next() < 0.15) {
        r.push(u);
        c.push(i);
      }
  const g = itemGram(csrFromTriples(rows, n, Int32Array.from(r), Int32Array.from(c), new Float32Array(r.length).fill(1)));
  for (let i = 0; i < n; i++) g[i * n + i] += 3;
  return g;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let k = 0; k < a.length; k++) d = Math.max(d, Math.abs(a[k] - b[k]));
  return d;
}

describe('SPD inverse: blocked sweep (WebAssembly SIMD) against the Cholesky reference', () => {
  it.each([
    [5, 8, 1],
    [37, 8, 1], // not a multiple of the block: identity padding
    [64, 16, 2],
    [150, 64, 1],
    [150, 64, 2], // two worker threads share the rank-b updates
  ])('n=%i, block %i, %i thread(s)', async (n, b, threads) => {
    const a = randomSpd(n, n + b);
    const ref = inverseReference(a, n);
    const fast = await inverseSweep(a, n, { b, threads });
    expect(maxAbsDiff(fast, ref)).toBeLessThan(1e-12);
    // and it is an inverse: A·A⁻¹ = I
    let err = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += a[i * n + k] * fast[k * n + j];
        err = Math.max(err, Math.abs(s - (i === j ? 1 : 0)));
      }
    expect(err).toBeLessThan(1e-10);
  });

  it('leaves its input untouched and refuses a matrix that is not positive definite', async () => {
    const a = randomSpd(20, 1);
    const copy = Float64Array.from(a);
    await inverseSweep(a, 20, { b: 8, threads: 1 });
    expect(a).toEqual(copy);
    const bad = new Float64Array([1, 2, 2, 1]);
    expect(() => inverseReference(bad, 2)).toThrow(/positive definite/);
  });
});

describe('EASE', () => {
  it('fast and reference solvers give the same weights, with a zero diagonal and B = I − P·diag(1/diag P)', async () => {
    const n = 90;
    const g = randomSpd(n, 5);
    for (let i = 0; i < n; i++) g[i * n + i] -= 3; // a plain Gram matrix again
    const fast = await denseEase(g, n, 10, 0.3, { threads: 1 });
    const ref = await denseEase(g, n, 10, 0.3, { solver: 'reference' });
    expect(maxAbsDiff(fast.b, ref.b)).toBeLessThan(1e-12);
    for (let j = 0; j < n; j++) expect(fast.b[j * n + j]).toBe(0);
    // the defining property: (G + Λ)·B = G − Λ… only off the diagonal of (G+Λ)B − G, i.e.
    // ((G + Λ)(I − B))_jk = 0 for j ≠ k (P·diag(1/diag P) times (G + Λ) is diagonal)
    const a = Float64Array.from(g);
    for (let j = 0; j < n; j++) a[j * n + j] += 10 + 0.3 * g[j * n + j];
    let off = 0;
    for (let j = 0; j < n; j++)
      for (let k = 0; k < n; k++) {
        if (j === k) continue;
        let s = 0;
        for (let l = 0; l < n; l++) s += a[j * n + l] * ((l === k ? 1 : 0) - fast.b[l * n + k]);
        off = Math.max(off, Math.abs(s));
      }
    expect(off).toBeLessThan(1e-9);
  });

  it('on planted blocks, every item’s neighbours are its block mates', async () => {
    const d = blockData({ blocks: 5, itemsPerBlock: 10, usersPerBlock: 40, itemsPerUser: 4, seed: 3 });
    const lists = await exactEase({ threads: 1 }).fit(d.matrix, {
      lambda: 5,
      dropout: 0.2,
      popularityDebias: 0.25,
      neighbours: 9,
      weightType: 'int8',
    });
    for (let j = 0; j < lists.itemCount; j++) {
      const mates = Array.from(lists.index.subarray(lists.rowPtr[j], lists.rowPtr[j + 1]));
      expect(mates.length).toBeGreaterThanOrEqual(5);
      for (const k of mates) {
        expect(k).not.toBe(j);
        expect(d.itemBlock[k]).toBe(d.itemBlock[j]);
      }
    }
    // and the dense weights across blocks are exactly zero (G is block-diagonal)
    const { b } = await denseEase(itemGram(d.matrix), 50, 5, 0.2, { threads: 1 });
    for (let j = 0; j < 50; j++)
      for (let k = 0; k < 50; k++) if (d.itemBlock[j] !== d.itemBlock[k]) expect(Math.abs(b[j * 50 + k])).toBe(0);
  });
});

describe('neighbour lists as stored', () => {
  const n = 40;
  const rng = new Rng(9);
  const b = Float64Array.from({ length: n * n }, () => rng.normal());
  const diag = Float64Array.from({ length: n }, () => rng.int(50));

  it('keep the N largest positive debiased weights per row, in descending order', () => {
    const lists = sparsify(b, n, diag, { neighbours: 6, popularityDebias: 0.5, weightType: 'float16' });
    for (let j = 0; j < n; j++) {
      const expected = Array.from({ length: n }, (_, k) => ({ k, v: k === j ? -Infinity : b[j * n + k] * (diag[k] + 1) ** -0.5 }))
        .filter((x) => x.v > 0)
        .sort((x, y) => y.v - x.v || x.k - y.k)
        .slice(0, 6);
      const got = Array.from(lists.index.subarray(lists.rowPtr[j], lists.rowPtr[j + 1]));
      expect(got).toEqual(expected.map((x) => x.k));
      expected.forEach((x, t) => {
        expect(lists.weight[lists.rowPtr[j] + t]).toBeCloseTo(x.v, 2);
      });
    }
  });

  it('int8: one scale per row, every weight within half a step of the float', () => {
    const lists = sparsify(b, n, diag, { neighbours: 6, popularityDebias: 0.5, weightType: 'int8' });
    for (let j = 0; j < n; j++) {
      const scale = lists.int8!.scales[j];
      for (let p = lists.rowPtr[j]; p < lists.rowPtr[j + 1]; p++) {
        const k = lists.index[p];
        const v = b[j * n + k] * (diag[k] + 1) ** -0.5;
        expect(Math.abs(lists.weight[p] - v)).toBeLessThanOrEqual(scale / 2 + 1e-7);
        expect(lists.weight[p]).toBe(Math.fround(lists.int8!.q[p] * scale));
      }
      if (lists.rowPtr[j + 1] > lists.rowPtr[j]) expect(lists.int8!.q[lists.rowPtr[j]]).toBe(127); // the largest maps to 127
    }
  });

  it('float16 conversion rounds to the nearest half-precision value', () => {
    expect(toFloat16(1)).toBe(0x3c00);
    expect(toFloat16(-2)).toBe(0xc000);
    expect(toFloat16(65504)).toBe(0x7bff);
    expect(toFloat16(1e6)).toBe(0x7c00);
    expect(toFloat16(2 ** -24)).toBe(1); // smallest subnormal
    expect(fromFloat16(toFloat16(0.1))).toBeCloseTo(0.1, 4);
    expect(fromFloat16(toFloat16(1 + 2 ** -11))).toBe(1); // a tie rounds to even
    expect(fromFloat16(toFloat16(5e-6))).toBeCloseTo(5e-6, 7); // subnormal: absolute steps of 2^-24
    for (const v of [0.3, 1e-3, 123.456, 7e-5]) expect(Math.abs(fromFloat16(toFloat16(v)) - v) / v).toBeLessThan(2 ** -10);
  });
});

describe('served blend', () => {
  const rng = new Rng(4);
  const n = 120,
    D = 8;
  const y = Float32Array.from({ length: n * D }, () => rng.normal() * 0.3);
  // random sparse non-negative neighbour lists, stored as int8
  const rowPtr = new Int32Array(n + 1),
    index: number[] = [],
    weight: number[] = [];
  for (let j = 0; j < n; j++) {
    const picks = Array.from({ length: n }, (_, k) => k).filter((k) => k !== j);
    rng.shuffle(picks);
    for (const k of picks.slice(0, 7)) {
      index.push(k);
      weight.push((1 + Math.round(rng.next() * 126)) * 0.01);
    }
    rowPtr[j + 1] = index.length;
  }
  const lists: NeighbourLists = {
    itemCount: n,
    rowPtr,
    index: Int32Array.from(index),
    weight: Float32Array.from(weight),
    weightType: 'int8',
  };
  const model: BlendModel = {
    itemFactors: y,
    dims: D,
    itemCount: n,
    stats: factorStats(y, n, D),
    lists,
    params: { factorWeight: 0.3, neighbourInput: 'log1p' },
  };
  const basket = [
    { index: 3, strength: 1 },
    { index: 50, strength: 4 },
    { index: 77, strength: 2 },
  ];
  const u = Float32Array.from({ length: D }, () => rng.normal());

  it('equals a·z(u·y) + (1 − a)·n/rms computed the long way (mean and deviation over all items, dense W)', () => {
    const f = Array.from({ length: n }, (_, i) => y.subarray(i * D, (i + 1) * D).reduce((s, v, d) => s + v * u[d], 0));
    const mu = f.reduce((s, v) => s + v, 0) / n;
    const sd = Math.sqrt(f.reduce((s, v) => s + (v - mu) ** 2, 0) / n);
    const w = new Float64Array(n * n);
    for (let j = 0; j < n; j++) for (let p = rowPtr[j]; p < rowPtr[j + 1]; p++) w[j * n + index[p]] = lists.weight[p];
    const nb = new Float64Array(n);
    for (const { index: j, strength } of basket) for (let k = 0; k < n; k++) nb[k] += (1 + Math.log1p(strength)) * w[j * n + k];
    const rms = Math.sqrt(nb.reduce((s, v) => s + v * v, 0) / n);
    const s = blendScores(model, u, basket);
    for (let i = 0; i < n; i++) expect(s[i]).toBeCloseTo(0.3 * ((f[i] - mu) / sd) + 0.7 * (nb[i] / rms), 9);
  });

  it('the edge’s way (factor top-k merged with the touched items) gives the same top-k as scoring everything', () => {
    for (const a of [0.05, 0.3, 0.9, 1]) {
      const m = { ...model, params: { ...model.params, factorWeight: a } };
      for (const k of [1, 10, 40]) {
        const direct = topK(blendScores(m, u, basket), k, new Set(basket.map((b) => b.index)));
        const edge = recommendBlend(m, u, basket, k, factorTopKOver(y, n, D));
        expect(edge.map((s) => s.index)).toEqual(direct.map((s) => s.index));
        edge.forEach((s, t) => {
          expect(s.score).toBeCloseTo(direct[t].score, 12);
        });
      }
    }
  });
});

describe('item model files', () => {
  it('neighbour lists round-trip through their parts in both weight types', async () => {
    const d = blockData({ blocks: 3, itemsPerBlock: 7, usersPerBlock: 20, itemsPerUser: 3, seed: 5 });
    for (const weightType of ['int8', 'float16'] as const) {
      const lists = await exactEase({ threads: 1 }).fit(d.matrix, {
        lambda: 3,
        dropout: 0.5,
        popularityDebias: 0.3,
        neighbours: 4,
        weightType,
      });
      const back = readNeighbourFiles(neighbourFiles(lists, FILES.neighbourPart), lists.itemCount, FILES.neighbourPart);
      expect(back.itemCount).toBe(lists.itemCount);
      expect(back.rowPtr).toEqual(lists.rowPtr);
      expect(back.index).toEqual(lists.index);
      expect(back.weight).toEqual(lists.weight);
      expect(back.weightType).toBe(weightType);
    }
  });
});
