/**
 * The served score of the blend, shared by the trainer's evaluation (model/blend.ts) and the
 * edge (src/services/blend.ts), so both compute exactly the same thing. For a basket or history of
 * items j with strengths x_j and its folded-in user vector u:
 *
 *   z_i = (u·y_i − u·ȳ) / √(uᵀΣu)                      ȳ, Σ: mean and covariance of the item factors
 *   n_i = Σ_j f(x_j)·W_ji   over each j's stored neighbour list only (W ≥ 0)
 *   ñ_i = n_i / √(Σ_k n_k² / N)                         (0 when no list touches anything)
 *   s_i = a·z_i + (1 − a)·ñ_i
 *
 * z is an increasing affine map of u·y_i, so the factor kernel's top-k of u·y_i is the top-k of
 * a·z_i among items no list touches; the touched items (≤ |basket|·N) are scored exactly. The
 * final top-k lies in the union of the two.
 */

export interface BlendParams {
  /** a: weight of the z-normalised factor score (1 − a goes to the neighbour score) */
  factorWeight: number;
  /** f(x) applied to a basket item's strength before summing its neighbour list */
  neighbourInput: 'binary' | 'log1p';
}

/** ȳ (D) and Σ (D×D, row-major) of the item factors. */
export interface FactorStats {
  dims: number;
  mean: Float64Array;
  cov: Float64Array;
}

/** factor_stats.f64: f64 mean[D] | f64 cov[D×D]. */
export function encodeFactorStats(s: FactorStats): Uint8Array {
  const out = new Float64Array(s.dims + s.dims * s.dims);
  out.set(s.mean);
  out.set(s.cov, s.dims);
  return new Uint8Array(out.buffer);
}

export function decodeFactorStats(bytes: ArrayBuffer, dims: number): FactorStats {
  if (bytes.byteLength !== 8 * (dims + dims * dims)) throw new Error(`factor statistics are not ${dims} + ${dims}×${dims} float64`);
  const all = new Float64Array(bytes);
  for (const x of all) if (!Number.isFinite(x)) throw new Error('factor statistics contain a non-finite value');
  return { dims, mean: all.subarray(0, dims), cov: all.subarray(dims) };
}

/** The affine map z = (score − shift)/scale for one user vector: shift = u·ȳ, scale = √(uᵀΣu). */
export function zParams(stats: FactorStats, u: ArrayLike<number>): { shift: number; scale: number } {
  const D = stats.dims;
  let shift = 0;
  let quad = 0;
  for (let p = 0; p < D; p++) {
    shift += u[p] * stats.mean[p];
    let row = 0;
    for (let q = 0; q < D; q++) row += stats.cov[p * D + q] * u[q];
    quad += u[p] * row;
  }
  return { shift, scale: quad > 0 ? Math.sqrt(quad) : 1 };
}

/** f(x): what a basket item's strength contributes to its neighbours. */
export function neighbourInput(params: BlendParams, strength: number): number {
  return params.neighbourInput === 'log1p' ? 1 + Math.log1p(strength) : 1;
}

/**
 * Sparse neighbour scores of a basket, from each item's list (read through `row`): the touched
 * items with n_i, each item's contributions by source (for explanations), and the RMS normaliser
 * over all `itemCount` items.
 */
export function neighbourScores(
  row: (item: number) => { index: ArrayLike<number>; weight: ArrayLike<number> },
  basket: readonly { index: number; strength: number }[],
  params: BlendParams,
  itemCount: number,
): { scores: Map<number, number>; rms: number } {
  const scores = new Map<number, number>();
  for (const { index, strength } of basket) {
    const f = neighbourInput(params, strength);
    const { index: to, weight } = row(index);
    for (let p = 0; p < to.length; p++) scores.set(to[p], (scores.get(to[p]) ?? 0) + f * weight[p]);
  }
  let sq = 0;
  for (const v of scores.values()) sq += v * v;
  return { scores, rms: Math.sqrt(sq / itemCount) };
}
