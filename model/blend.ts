/**
 * The served score: iALS factor scores, z-normalised per user, blended with the item model's
 * neighbour scores, RMS-normalised per user. For a basket (or history) of items j with strengths x_j:
 *
 *   u      = foldIn(basket)                                    (core/foldin.ts, D ≤ 128)
 *   z_i    = (u·y_i − u·ȳ) / √(uᵀΣu)                          ȳ = mean item factor, Σ = their covariance
 *   n_i    = Σ_j f(x_j)·W_ji   over each basket item's stored neighbour list only
 *   ñ_i    = n_i / √(Σ_k n_k² / N)                             (0 when no list touches anything)
 *   s_i    = a·z_i + (1 − a)·ñ_i,   basket items excluded
 *
 * Why the edge computes exactly this: u·ȳ and uᵀΣu are D- and D²-sized (ȳ and Σ travel in the
 * artifact), so z is an increasing affine map of u·y_i and the factor kernel's top-k of u·y_i is
 * the top-k of a·z_i. Every stored weight W_ji is ≥ 0 (see model/item-model.ts) and f > 0, so
 * ñ_i ≥ 0 and the final top-k lies in (factor top-k) ∪ (items the lists touch): the edge scores
 * the touched items (≤ |basket|·N dot products) and merges. `recommendBlend` does it that way;
 * `blendScores` computes s for every item directly (the evaluation's scorer; the tests check that
 * both agree).
 */
import { type BlendParams, type FactorStats, neighbourScores as sparseScores, zParams } from '@edge-recs/core/blend';
import type { WeightedItem } from '@edge-recs/core/foldin';
import { type Scored, topK } from '@edge-recs/core/topk';
import type { NeighbourLists } from './item-model';

export type { BlendParams, FactorStats };
export { zParams };

/**
 * Chosen with the item model's defaults (see DEFAULT_ITEM_PARAMS): on seeds 2, 3, 4 every a in
 * 0.2–0.3 was within 0.3% of the best; the neighbour scores carry most of the ranking.
 */
export const DEFAULT_BLEND: BlendParams = { factorWeight: 0.25, neighbourInput: 'binary' };

/** @param y  items × D row-major item factors */
export function factorStats(y: Float32Array, itemCount: number, dims: number): FactorStats {
  const mean = new Float64Array(dims);
  for (let i = 0; i < itemCount; i++) for (let d = 0; d < dims; d++) mean[d] += y[i * dims + d];
  for (let d = 0; d < dims; d++) mean[d] /= itemCount;
  const cov = new Float64Array(dims * dims);
  const c = new Float64Array(dims);
  for (let i = 0; i < itemCount; i++) {
    for (let d = 0; d < dims; d++) c[d] = y[i * dims + d] - mean[d];
    for (let p = 0; p < dims; p++) {
      const cp = c[p];
      for (let q = p; q < dims; q++) cov[p * dims + q] += cp * c[q];
    }
  }
  for (let p = 0; p < dims; p++)
    for (let q = p; q < dims; q++) {
      cov[p * dims + q] /= itemCount;
      cov[q * dims + p] = cov[p * dims + q];
    }
  return { dims, mean, cov };
}

/**
 * Sparse neighbour scores of a basket over in-memory lists (core/blend.ts computes them the same
 * way at the edge, over lists read part by part). Only the basket items' lists are read.
 */
export function neighbourScores(
  lists: NeighbourLists,
  basket: readonly WeightedItem[],
  params: BlendParams,
): { scores: Map<number, number>; rms: number } {
  return sparseScores(
    (j) => ({
      index: lists.index.subarray(lists.rowPtr[j], lists.rowPtr[j + 1]),
      weight: lists.weight.subarray(lists.rowPtr[j], lists.rowPtr[j + 1]),
    }),
    basket,
    params,
    lists.itemCount,
  );
}

export interface BlendModel {
  /** items × D item factors as the edge scores them */
  itemFactors: Float32Array;
  dims: number;
  itemCount: number;
  stats: FactorStats;
  lists: NeighbourLists;
  params: BlendParams;
}

/**
 * s_i for every item (no exclusion), computed directly: the evaluation's scorer.
 * @param u  the folded-in user vector (length D)
 */
export function blendScores(
  m: BlendModel,
  u: ArrayLike<number>,
  basket: readonly WeightedItem[],
  out = new Float64Array(m.itemCount),
): Float64Array {
  const { shift, scale } = zParams(m.stats, u);
  const a = m.params.factorWeight;
  const D = m.dims;
  for (let i = 0; i < m.itemCount; i++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += m.itemFactors[i * D + d] * u[d];
    out[i] = (a * (s - shift)) / scale;
  }
  const { scores, rms } = neighbourScores(m.lists, basket, m.params);
  if (rms > 0) for (const [k, v] of scores) out[k] += ((1 - a) * v) / rms;
  return out;
}

/**
 * Top-k as the edge computes it: the factor kernel's top-k of u·y_i (basket excluded), the
 * touched items scored exactly, merged. Equal to topK(blendScores(…), k, basket) — see header.
 * @param factorTopK  the kernel: top-k of u·y_i over all items, skipping `exclude`
 */
export function recommendBlend(
  m: BlendModel,
  u: ArrayLike<number>,
  basket: readonly WeightedItem[],
  k: number,
  factorTopK: (u: ArrayLike<number>, k: number, exclude: ReadonlySet<number>) => Scored[],
): Scored[] {
  const exclude = new Set(basket.map((b) => b.index));
  const { shift, scale } = zParams(m.stats, u);
  const a = m.params.factorWeight;
  const D = m.dims;
  const { scores, rms } = neighbourScores(m.lists, basket, m.params);
  const candidates = new Map<number, number>();
  for (const s of factorTopK(u, k, exclude)) candidates.set(s.index, (a * (s.score - shift)) / scale);
  if (rms > 0) {
    for (const [i, v] of scores) {
      if (exclude.has(i)) continue;
      let f = 0;
      for (let d = 0; d < D; d++) f += m.itemFactors[i * D + d] * u[d];
      candidates.set(i, (a * (f - shift)) / scale + ((1 - a) * v) / rms);
    }
  }
  const out = [...candidates].map(([index, score]) => ({ index, score }));
  out.sort((x, y) => y.score - x.score || x.index - y.index);
  return out.slice(0, k);
}

/** Convenience for tests and the evaluation: a plain top-k over all items. */
export function factorTopKOver(y: Float32Array, itemCount: number, dims: number) {
  return (u: ArrayLike<number>, k: number, exclude: ReadonlySet<number>): Scored[] => {
    const s = new Float64Array(itemCount);
    for (let i = 0; i < itemCount; i++) {
      let v = 0;
      for (let d = 0; d < dims; d++) v += y[i * dims + d] * u[d];
      s[i] = v;
    }
    return topK(s, k, exclude);
  };
}
