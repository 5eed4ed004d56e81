/**
 * iALS on seeded synthetic data whose right answer is known, and the fast (CG) solver against
 * the exact (Cholesky) reference.
 */

import { foldIn } from '@edge-recs/core/foldin';
import { gram } from '@edge-recs/core/linalg';
import { scoreAll, topK } from '@edge-recs/core/topk';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, type IalsParams, itemWeightsFor, solveSide, trainIals } from '../../model/ials';
import { type Csr, csrFromTriples, transpose } from '../../model/sparse';
import { blockData } from '../blocks';

/** Users of block b buy only items of block b (a rank-`blocks` matrix). */
function blocks(nBlocks: number, itemsPerBlock: number, usersPerBlock: number, itemsPerUser: number, seed: number) {
  const d = blockData({ blocks: nBlocks, itemsPerBlock, usersPerBlock, itemsPerUser, seed, maxStrength: 4 });
  return { m: d.matrix, userBlock: d.userBlock, itemBlock: (i: number) => d.itemBlock[i] };
}

const SMALL: IalsParams = {
  ...DEFAULT_PARAMS,
  factors: 8,
  iterations: 12,
  regularization: 0.1,
  alpha: 1,
  unobservedWeight: 1,
  regExponent: 0,
  confidence: 'log1p',
  popularityExponent: 0,
};

function userItems(m: Csr, u: number) {
  return Array.from(m.colIdx.subarray(m.rowPtr[u], m.rowPtr[u + 1]));
}

describe('iALS on a planted block structure', () => {
  // 4 blocks and 4 factors: the best rank-4 fit is block-diagonal, so the known answer is that
  // every cross-block score is 0 and every user's unseen in-block items outrank everything else.
  const data = blocks(4, 15, 25, 6, 1);
  const D = 4;
  const model = trainIals(data.m, { ...SMALL, factors: D });
  const userScores = (u: number) => scoreAll(model.itemFactors, model.itemCount, D, model.userFactors.subarray(u * D, (u + 1) * D));

  it('recommends every user only unseen items of their own block', () => {
    for (let u = 0; u < data.m.rows; u++) {
      const top = topK(userScores(u), 5, new Set(userItems(data.m, u)));
      for (const t of top) expect(data.itemBlock(t.index)).toBe(data.userBlock[u]);
    }
  });

  it('predicts cross-block pairs as 0 and in-block pairs well above it', () => {
    let inBlock = 0,
      nIn = 0,
      cross = 0;
    for (let u = 0; u < data.m.rows; u++) {
      const scores = userScores(u);
      for (let i = 0; i < model.itemCount; i++) {
        if (data.itemBlock(i) === data.userBlock[u]) {
          inBlock += scores[i];
          nIn++;
        } else cross = Math.max(cross, Math.abs(scores[i]));
      }
    }
    expect(cross).toBeLessThan(1e-3);
    expect(inBlock / nIn).toBeGreaterThan(0.3);
  });

  it('is reproducible for a seed and differs for another seed', () => {
    const again = trainIals(data.m, { ...SMALL, factors: D });
    expect(again.itemFactors).toEqual(model.itemFactors);
    const other = trainIals(data.m, { ...SMALL, factors: D, seed: SMALL.seed + 1 });
    expect(other.itemFactors).not.toEqual(model.itemFactors);
  });

  it('folds a new user in with the same user step the trainer solves', () => {
    // trainer's exact user step for user 0, via the Cholesky reference solver
    const params = { ...SMALL, factors: D, solver: 'cholesky' as const };
    const x = new Float32Array(data.m.rows * D);
    const p = itemWeightsFor(data.m, 0);
    solveSide(x, model.itemFactors, data.m, params, { rowScale: new Float32Array(data.m.rows).fill(1), colWeight: p });
    const u = 3;
    const items = Array.from({ length: data.m.rowPtr[u + 1] - data.m.rowPtr[u] }, (_, k) => ({
      index: data.m.colIdx[data.m.rowPtr[u] + k],
      strength: data.m.values[data.m.rowPtr[u] + k],
    }));
    const folded = foldIn(model.itemFactors, gram(model.itemFactors, model.itemCount, D), D, model.itemCount, params, items);
    for (let d = 0; d < D; d++) expect(folded[d]).toBeCloseTo(x[u * D + d], 5);
  });
});

describe('conjugate gradient against the exact Cholesky solve', () => {
  const data = blocks(3, 20, 30, 8, 2);
  const base = trainIals(data.m, { ...SMALL, factors: 16, iterations: 3 });
  const users = new Float32Array(data.m.rows * 16);
  const weights = { rowScale: new Float32Array(data.m.rows).fill(1), colWeight: itemWeightsFor(data.m, 0) };

  it('converges to the Cholesky solution with enough steps', () => {
    const exact = users.slice();
    solveSide(exact, base.itemFactors, data.m, { ...SMALL, factors: 16, solver: 'cholesky' }, weights);
    const cg = users.slice();
    solveSide(cg, base.itemFactors, data.m, { ...SMALL, factors: 16, solver: 'cg', cgSteps: 16 }, weights);
    let maxDiff = 0;
    for (let k = 0; k < exact.length; k++) maxDiff = Math.max(maxDiff, Math.abs(exact[k] - cg[k]));
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('gives the same recommendations as Cholesky after full training with 3 warm-started steps', () => {
    const params = { ...SMALL, factors: 16 };
    const fast = trainIals(data.m, params);
    const slow = trainIals(data.m, { ...params, solver: 'cholesky' });
    let agree = 0,
      total = 0;
    for (let u = 0; u < data.m.rows; u++) {
      const seen = new Set(userItems(data.m, u));
      const a = topK(scoreAll(fast.itemFactors, fast.itemCount, 16, fast.userFactors.subarray(u * 16, u * 16 + 16)), 5, seen).map(
        (s) => s.index,
      );
      const b = new Set(
        topK(scoreAll(slow.itemFactors, slow.itemCount, 16, slow.userFactors.subarray(u * 16, u * 16 + 16)), 5, seen).map((s) => s.index),
      );
      agree += a.filter((i) => b.has(i)).length;
      total += 5;
    }
    expect(agree / total).toBeGreaterThan(0.9);
  });

  it('applies popularity-aware unobserved weights consistently in trainer and fold-in', () => {
    const params = { ...SMALL, factors: 16, popularityExponent: 0.5, solver: 'cholesky' as const };
    const model = trainIals(data.m, params);
    const x = new Float32Array(data.m.rows * 16);
    solveSide(x, model.itemFactors, data.m, params, {
      rowScale: new Float32Array(data.m.rows).fill(params.unobservedWeight),
      colWeight: model.itemWeights,
    });
    const u = 5;
    const items = userItems(data.m, u).map((index, k) => ({ index, strength: data.m.values[data.m.rowPtr[u] + k] }));
    const g = gram(model.itemFactors, model.itemCount, 16, model.itemWeights);
    const folded = foldIn(model.itemFactors, g, 16, model.itemCount, params, items, model.itemWeights);
    for (let d = 0; d < 16; d++) expect(folded[d]).toBeCloseTo(x[u * 16 + d], 5);
    // weights have mean 1 and favour popular items for β > 0
    const mean = model.itemWeights.reduce((a, b) => a + b, 0) / model.itemWeights.length;
    expect(mean).toBeCloseTo(1, 5);
  });
});

describe('sparse matrices', () => {
  it('sums duplicate pairs and transposes losslessly', () => {
    const m = csrFromTriples(2, 3, Int32Array.from([0, 0, 1, 0]), Int32Array.from([2, 0, 1, 2]), Float32Array.from([1, 2, 3, 4]));
    expect(Array.from(m.rowPtr)).toEqual([0, 2, 3]);
    expect(Array.from(m.colIdx)).toEqual([0, 2, 1]);
    expect(Array.from(m.values)).toEqual([2, 5, 3]);
    const t = transpose(transpose(m));
    expect(t).toEqual(m);
  });
});

describe('parallel training', () => {
  const data = blocks(3, 20, 40, 8, 4);
  const params = { ...SMALL, factors: 8, iterations: 3 };
  const serial = trainIals(data.m, params);

  it('gives bit-identical factors on worker threads with the TypeScript kernel', async () => {
    const { trainIalsParallel } = await import('../../model/ials-parallel');
    const parallel = await trainIalsParallel(data.m, params, { threads: 3, kernel: 'js' });
    expect(parallel.itemFactors).toEqual(serial.itemFactors);
    expect(parallel.userFactors).toEqual(serial.userFactors);
  });

  it('matches the TypeScript kernel to float32 rounding with the WebAssembly SIMD kernel', async () => {
    const { trainIalsParallel } = await import('../../model/ials-parallel');
    const simd = await trainIalsParallel(data.m, params, { threads: 2, kernel: 'wasm' });
    let maxDiff = 0;
    for (let k = 0; k < serial.itemFactors.length; k++) maxDiff = Math.max(maxDiff, Math.abs(simd.itemFactors[k] - serial.itemFactors[k]));
    expect(maxDiff).toBeGreaterThan(0); // really a different code path
    expect(maxDiff).toBeLessThan(1e-4);
  });
});
