/**
 * The item-item model: EASE (Steck 2019) with the dropout-emphasised regulariser of EDLAE
 * (Steck 2020), stored as sparse top-N neighbour lists with int8 or float16 weights.
 *
 *   G = XᵀX                       X: rows × items, binary (a user's or a basket's distinct items)
 *   P = (G + Λ)⁻¹,                Λ = diag(λ + c·G_jj)       (c = 0: plain EASE; c = p/(1−p): EDLAE)
 *   B = I − P·diag(1/diag(P))     i.e. B_jk = −P_jk / P_kk, B_jj = 0 (the closed form of
 *                                  min ‖X − XB‖² + ‖Λ^½B‖² subject to diag(B) = 0)
 *   W_jk = B_jk · (G_kk + 1)^−γ   popularity debiasing of the target item k (γ = 0: off)
 *
 * Item j's neighbour list is the N largest W_jk over k (the row j of W): what item j contributes
 * to other items when it is in a basket. Serving sums the lists of the basket's items, see
 * model/blend.ts.
 *
 * `ItemItemSolver` is the seam for models too big for the dense n×n inverse: exact EASE
 * (`exactEase`) forms the dense Gram matrix and inverts it (n ≤ MAX_EXACT_ITEMS); local EASE
 * (model/local-ease.ts) solves each column's regression on the item's co-occurrence
 * neighbourhood only and returns the same NeighbourLists for any n. `solverFor`
 * (model/item-solvers.ts) picks between them.
 */

import { fromFloat16, toFloat16 } from '@edge-recs/core/neighbours';
import type { Csr } from './sparse';
import type { SweepOptions } from './spd-inverse';
import { inverseReference, MAX_EXACT_ITEMS } from './spd-reference';

export interface ItemModelParams {
  /** λ: L2 regularisation added to every diagonal entry of XᵀX */
  lambda: number;
  /** c: extra diagonal regularisation c·G_jj (EDLAE's dropout emphasis p/(1−p); 0 = plain EASE) */
  dropout: number;
  /** γ: the weight into item k is scaled by (G_kk + 1)^−γ before the top-N cut (0 = off) */
  popularityDebias: number;
  /** N: neighbours kept per item */
  neighbours: number;
  /** how neighbour weights are stored (int8 with one float32 scale per item, or float16) */
  weightType: 'int8' | 'float16';
}

/**
 * Defaults chosen by strong-generalisation evaluation on Online Retail, raw and reduced to unique
 * pairs, over split seeds 2, 3, 4 (not the reporting seeds 2024, 7, 11), from the grid
 * λ ∈ {30, 60, 100} × c ∈ {0.25, 0.5, 1} × γ ∈ {0.15, 0.25, 0.33} × N ∈ {20, 30, 45} with the blend
 * weight: a flat optimum (every point within ~2% of the best), of which this is a central point.
 * Small N helps: cutting each row to its largest weights beat the dense model by ~3%.
 */
export const DEFAULT_ITEM_PARAMS: ItemModelParams = {
  lambda: 60,
  dropout: 0.5,
  popularityDebias: 0.25,
  neighbours: 30,
  weightType: 'int8',
};

/**
 * Sparse neighbour lists: row j holds item j's neighbours k (descending weight) and the weights
 * as stored (dequantised here, so evaluation sees exactly what serving sees).
 */
export interface NeighbourLists {
  itemCount: number;
  /** rowPtr[j]..rowPtr[j+1] index into index/weight; length itemCount + 1 */
  rowPtr: Int32Array;
  index: Int32Array;
  /** dequantised weights (int8·scale or float16 → float32) */
  weight: Float32Array;
  weightType: 'int8' | 'float16';
  /** int8 only: the stored values and one scale per row (weight = q·scale) */
  int8?: { q: Int8Array; scales: Float32Array };
  /** float16 only: the stored IEEE half-precision bits */
  float16?: Uint16Array;
}

/** A way of learning neighbour lists from interaction rows: exact EASE, or an approximation of it. */
export interface ItemItemSolver {
  readonly name: string;
  /** largest item count this solver accepts */
  readonly maxItems: number;
  /**
   * @param x  rows × items; only which entries are non-zero matters (binarised)
   */
  fit(x: Csr, params: ItemModelParams): Promise<NeighbourLists>;
}

/**
 * Dense G = XᵀX of the binarised matrix, plus the diagonal separately.
 * @returns g: items × items row-major float64 (full, symmetric)
 */
export function itemGram(x: Csr): Float64Array {
  const n = x.cols;
  const g = new Float64Array(n * n);
  for (let r = 0; r < x.rows; r++) {
    const start = x.rowPtr[r],
      end = x.rowPtr[r + 1];
    for (let p = start; p < end; p++) {
      const i = x.colIdx[p];
      if (x.values[p] === 0) continue;
      const row = i * n;
      for (let q = start; q < end; q++) if (x.values[q] !== 0) g[row + x.colIdx[q]] += 1;
    }
  }
  return g;
}

/** Adds Λ = diag(λ + c·G_jj) to G in place; returns the original diagonal G_jj. */
export function regularise(g: Float64Array, n: number, lambda: number, dropout: number): Float64Array {
  const diag = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    diag[j] = g[j * n + j];
    g[j * n + j] += lambda + dropout * diag[j];
  }
  return diag;
}

/**
 * B = I − P·diag(1/diag(P)) in place of P (B_jj = 0).
 * @param p  n×n row-major float64, P = (G + Λ)⁻¹; overwritten with B
 */
export function easeFromInverse(p: Float64Array, n: number): Float64Array {
  const d = new Float64Array(n);
  for (let k = 0; k < n; k++) d[k] = p[k * n + k];
  for (let j = 0; j < n; j++) {
    const row = j * n;
    for (let k = 0; k < n; k++) p[row + k] = j === k ? 0 : -p[row + k] / d[k];
  }
  return p;
}

export interface DenseEaseOptions extends SweepOptions {
  /** 'sweep' (WebAssembly SIMD, default) or 'reference' (plain Cholesky, slow) */
  solver?: 'sweep' | 'reference';
}

/**
 * Dense EASE/EDLAE weights B (items × items, float64, row j = what item j gives to each item).
 * @param gram  XᵀX from `itemGram` (copied, not modified)
 */
export async function denseEase(
  gram: Float64Array,
  n: number,
  lambda: number,
  dropout: number,
  opts: DenseEaseOptions = {},
): Promise<{ b: Float64Array; diag: Float64Array }> {
  if (n > MAX_EXACT_ITEMS)
    throw new Error(`exact EASE is limited to ${MAX_EXACT_ITEMS} items (got ${n}); use an approximate ItemItemSolver`);
  const a = Float64Array.from(gram);
  const diag = regularise(a, n, lambda, dropout);
  // the sweep (worker threads, the WAT file) is Node-only and loaded on use: this module also runs in workerd
  const p = opts.solver === 'reference' ? inverseReference(a, n) : await (await import('./spd-inverse')).inverseSweep(a, n, opts);
  return { b: easeFromInverse(p, n), diag };
}

export { fromFloat16, toFloat16 };

/**
 * Keeps the N largest debiased weights of each row and quantises them as they will be stored.
 * @param b     items × items dense weights (row j: from item j), float64 or float32
 * @param diag  G_jj (item counts in the training rows), for the debiasing
 */
export function sparsify(
  b: ArrayLike<number>,
  n: number,
  diag: ArrayLike<number>,
  params: Pick<ItemModelParams, 'neighbours' | 'popularityDebias' | 'weightType'>,
): NeighbourLists {
  const keep = Math.min(params.neighbours, n - 1);
  const scaleTo = new Float64Array(n);
  for (let k = 0; k < n; k++) scaleTo[k] = (diag[k] + 1) ** -params.popularityDebias;
  const rowPtr = new Int32Array(n + 1);
  const index = new Int32Array(n * keep);
  const raw = new Float64Array(n * keep);
  // per row: a min-heap of the best `keep` (weight, index); ties prefer the lower index
  const hw = new Float64Array(keep),
    hi = new Int32Array(keep);
  let w = 0;
  for (let j = 0; j < n; j++) {
    let size = 0;
    const worse = (a: number, c: number) => hw[a] < hw[c] || (hw[a] === hw[c] && hi[a] > hi[c]);
    const down = (i: number) => {
      for (;;) {
        const l = 2 * i + 1,
          r = l + 1;
        let m = i;
        if (l < size && worse(l, m)) m = l;
        if (r < size && worse(r, m)) m = r;
        if (m === i) return;
        const tw = hw[i],
          ti = hi[i];
        hw[i] = hw[m];
        hi[i] = hi[m];
        hw[m] = tw;
        hi[m] = ti;
        i = m;
      }
    };
    const row = j * n;
    for (let k = 0; k < n; k++) {
      if (k === j) continue;
      const v = b[row + k] * scaleTo[k];
      if (!(v > 0)) continue; // only positive weights: neighbour scores only ever raise an item
      if (size < keep) {
        hw[size] = v;
        hi[size] = k;
        let c = size++;
        while (c > 0) {
          const par = (c - 1) >> 1;
          if (!worse(c, par)) break;
          const tw = hw[c],
            ti = hi[c];
          hw[c] = hw[par];
          hi[c] = hi[par];
          hw[par] = tw;
          hi[par] = ti;
          c = par;
        }
      } else if (v > hw[0]) {
        hw[0] = v;
        hi[0] = k;
        down(0);
      }
    }
    const order = Array.from({ length: size }, (_, t) => t).sort((a, c) => hw[c] - hw[a] || hi[a] - hi[c]);
    for (const t of order) {
      index[w] = hi[t];
      raw[w] = hw[t];
      w++;
    }
    rowPtr[j + 1] = w;
  }
  return quantise({ n, rowPtr, index: index.slice(0, w), raw: raw.subarray(0, w) }, params.weightType);
}

/** Stores the weights as int8 (scale per row = max/127) or float16, and dequantises them back. */
export function quantise(
  l: { n: number; rowPtr: Int32Array; index: Int32Array; raw: ArrayLike<number> },
  type: 'int8' | 'float16',
): NeighbourLists {
  const nnz = l.rowPtr[l.n];
  const weight = new Float32Array(nnz);
  if (type === 'float16') {
    const bits = new Uint16Array(nnz);
    for (let p = 0; p < nnz; p++) {
      bits[p] = toFloat16(l.raw[p]);
      weight[p] = fromFloat16(bits[p]);
    }
    return { itemCount: l.n, rowPtr: l.rowPtr, index: l.index, weight, weightType: type, float16: bits };
  }
  const q = new Int8Array(nnz);
  const scales = new Float32Array(l.n);
  for (let j = 0; j < l.n; j++) {
    let max = 0;
    for (let p = l.rowPtr[j]; p < l.rowPtr[j + 1]; p++) max = Math.max(max, Math.abs(l.raw[p]));
    const scale = Math.fround(max / 127) || 1;
    scales[j] = scale;
    for (let p = l.rowPtr[j]; p < l.rowPtr[j + 1]; p++) {
      q[p] = Math.max(-127, Math.min(127, Math.round(l.raw[p] / scale)));
      weight[p] = q[p] * scale;
    }
  }
  return { itemCount: l.n, rowPtr: l.rowPtr, index: l.index, weight, weightType: type, int8: { q, scales } };
}

/** Exact EASE/EDLAE through the dense inverse (WebAssembly SIMD sweep), then top-N. */
export function exactEase(opts: DenseEaseOptions = {}): ItemItemSolver {
  return {
    name: 'exact-ease',
    maxItems: MAX_EXACT_ITEMS,
    async fit(x, params) {
      const g = itemGram(x);
      const { b, diag } = await denseEase(g, x.cols, params.lambda, params.dropout, opts);
      return sparsify(b, x.cols, diag, params);
    },
  };
}
