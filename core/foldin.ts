/**
 * The iALS user step ("fold-in"): the least-squares user vector for a set of interacted items,
 * given the model's item factors Y, its Gram matrix G = YᵀY and its regularisation.
 *
 * This is the exact same equation the trainer solves for every user, so a user vector computed at
 * the edge from a basket or an event history lives in the same space as the trained ones:
 *
 *   (w0·G + Σ_i (c_i − w0·p_i)·y_i y_iᵀ + λ_u·I) x = Σ_i c_i·y_i,     G = Σ_j p_j·y_j y_jᵀ
 *   c_i = 1 + alpha·log1p(r_i)          (confidence of an observed interaction of strength r_i)
 *   λ_u = λ·(|I_u| + w0·N)^ν            (frequency-scaled regularisation, Rendle et al. 2022)
 *
 * w0 is the weight on unobserved pairs (Hu, Koren & Volinsky use 1; Rendle et al. a small α0);
 * p_i ≥ 0 scales it per item, with mean 1 (p_i = 1 everywhere is plain iALS; popularity-aware
 * weights as in He et al. 2016 make missing popular items stronger negatives). The artifact
 * ships G already weighted, and p.
 */
import { cholesky, choleskySolve } from './linalg';

export interface FoldInParams {
  /** Weight of every unobserved (user, item) pair. */
  unobservedWeight: number;
  /** Confidence scale for observed interactions. */
  alpha: number;
  /** Base L2 regularisation λ. */
  regularization: number;
  /** Exponent ν of the frequency scaling of λ (0 = plain λ). */
  regExponent: number;
  /** c = 1 + alpha·log1p(r) (default) or 1 + alpha·r (Hu et al., Spark MLlib). */
  confidence?: 'log1p' | 'linear';
  /** λ·(n + unobserved mass)^ν (default, Rendle et al.) or λ·n^ν (Spark MLlib's ALS-WR, ν = 1). */
  regularizationScaling?: 'unobserved-mass' | 'interactions';
}

export interface WeightedItem {
  /** Row index into the item factor matrix. */
  index: number;
  /** Interaction strength r ≥ 0 (e.g. number of purchases); confidence is 1 + alpha·log1p(r). */
  strength: number;
}

export function confidence(params: FoldInParams, strength: number): number {
  return 1 + params.alpha * (params.confidence === 'linear' ? strength : Math.log1p(strength));
}

/** λ·(n + unobserved mass)^ν; for a user the unobserved mass is w0·Σp = w0·N. */
export function userRegularization(params: FoldInParams, interactions: number, itemCount: number): number {
  return rowRegularization(params, interactions, params.unobservedWeight * itemCount);
}

export function rowRegularization(params: FoldInParams, interactions: number, unobservedMass: number): number {
  const n = params.regularizationScaling === 'interactions' ? Math.max(1, interactions) : interactions + unobservedMass;
  return params.regularization * n ** params.regExponent;
}

/** The user step's normal equations A·x = b, A already factored (Cholesky), for solving and explaining. */
export interface FoldInSystem {
  dims: number;
  /** the lower Cholesky factor of A, D×D row-major */
  factor: Float64Array;
  /** b = Σ_i c_i·y_i */
  rhs: Float64Array;
  /** c_i per interaction, in the order given */
  confidences: Float64Array;
}

/**
 * Builds and factors the user step's system (see the header).
 * @param y            item factors, row-major N×D float32
 * @param g            weighted Gram matrix Σ p_j·y_j y_jᵀ, D×D
 * @param items        the user's interactions (indices must be < N; duplicates summed by the caller)
 * @param itemWeights  p, length N (omitted = all 1)
 */
export function foldInSystem(
  y: Float32Array,
  g: ArrayLike<number>,
  dims: number,
  itemCount: number,
  params: FoldInParams,
  items: readonly WeightedItem[],
  itemWeights?: ArrayLike<number>,
): FoldInSystem {
  const w0 = params.unobservedWeight;
  const a = new Float64Array(dims * dims);
  for (let k = 0; k < dims * dims; k++) a[k] = w0 * g[k];
  const b = new Float64Array(dims);
  const confidences = new Float64Array(items.length);
  items.forEach(({ index, strength }, j) => {
    const c = confidence(params, strength);
    confidences[j] = c;
    const off = index * dims;
    const extra = c - w0 * (itemWeights ? itemWeights[index] : 1);
    for (let p = 0; p < dims; p++) {
      const yp = y[off + p];
      b[p] += c * yp;
      const ey = extra * yp;
      for (let q = 0; q < dims; q++) a[p * dims + q] += ey * y[off + q];
    }
  });
  const lambda = userRegularization(params, items.length, itemCount);
  for (let p = 0; p < dims; p++) a[p * dims + p] += lambda;
  if (!cholesky(a, dims)) throw new Error('fold-in system is not positive definite');
  return { dims, factor: a, rhs: b, confidences };
}

/**
 * Exact user step by Cholesky.
 * @returns  the user vector, length D (arguments as `foldInSystem`)
 */
export function foldIn(...args: Parameters<typeof foldInSystem>): Float32Array {
  const s = foldInSystem(...args);
  const b = s.rhs.slice();
  choleskySolve(s.factor, s.dims, b);
  return Float32Array.from(b);
}

/**
 * What each interaction contributes to the folded-in user's score of one item (Hu, Koren &
 * Volinsky 2008, §5): x = A⁻¹·Σ_j c_j·y_j, so y_tᵀx = Σ_j c_j·(A⁻¹y_t)ᵀy_j — an exact split of
 * the factor score over the user's items, which a cosine of factors is not.
 * @param y       the factor rows the system was built from (row-major, D each)
 * @param items   the same interactions, in the same order
 * @param target  y_t, length D
 * @returns       one contribution per interaction; they sum to y_tᵀx
 */
export function foldInContributions(
  system: FoldInSystem,
  y: Float32Array,
  items: readonly WeightedItem[],
  target: ArrayLike<number>,
): Float64Array {
  const d = system.dims;
  const v = Float64Array.from(target);
  choleskySolve(system.factor, d, v);
  return Float64Array.from(items, ({ index }, j) => {
    let dot = 0;
    for (let p = 0; p < d; p++) dot += v[p] * y[index * d + p];
    return system.confidences[j] * dot;
  });
}
