/**
 * Implicit-feedback alternating least squares (iALS).
 *
 * Hu, Koren & Volinsky (2008), with the unobserved weight w0 and frequency-scaled regularisation
 * of Rendle et al. (2022, "Revisiting the Performance of iALS on Item Recommendation Benchmarks").
 * Every (user, item) pair is a regression target: 1 with confidence c = 1 + alpha·log1p(r) where
 * the user interacted with strength r, 0 with weight w0 everywhere else. See src/core/foldin.ts
 * for the per-row equation; the trainer and the edge share it.
 *
 * Two solvers for the same per-row system:
 * - `cg`: a few conjugate-gradient steps warm-started from the previous epoch's row (the fast
 *   path, as in benfred/implicit): A·p is formed implicitly in O(D² + |I_u|·D), A never is.
 * - `cholesky`: builds A and solves exactly in O(|I_u|·D² + D³) — the slow reference path the
 *   tests compare CG against.
 */
import { confidence, userRegularization, type FoldInParams } from '../src/core/foldin';
import { cholesky, choleskySolve, gram } from '../src/core/linalg';
import { Rng } from './rng';
import { transpose, type Csr } from './sparse';

export interface IalsParams extends FoldInParams {
  /** Latent dimension D. */
  factors: number;
  /** Full epochs (one user step + one item step each). */
  iterations: number;
  /** Conjugate-gradient steps per row and half-epoch (fast path only). */
  cgSteps: number;
  solver: 'cg' | 'cholesky';
  seed: number;
  /** Standard deviation of the initial factors is initScale / sqrt(D). */
  initScale: number;
}

export const DEFAULT_PARAMS: IalsParams = {
  factors: 64,
  iterations: 15,
  cgSteps: 3,
  solver: 'cg',
  seed: 42,
  initScale: 0.1,
  unobservedWeight: 1,
  alpha: 10,
  regularization: 0.1,
  regExponent: 0,
};

export interface IalsModel {
  params: IalsParams;
  dims: number;
  userCount: number;
  itemCount: number;
  /** U×D row-major */
  userFactors: Float32Array;
  /** N×D row-major */
  itemFactors: Float32Array;
}

export interface EpochReport {
  epoch: number;
  seconds: number;
  /** Training loss per observed pair, when requested (costs one extra pass). */
  loss?: number;
}

export interface TrainOptions {
  onEpoch?: (r: EpochReport) => void;
  computeLoss?: boolean;
}

export function initFactors(rows: number, dims: number, scale: number, rng: Rng): Float32Array {
  const f = new Float32Array(rows * dims);
  const sd = scale / Math.sqrt(dims);
  for (let k = 0; k < f.length; k++) f[k] = rng.normal() * sd;
  return f;
}

/**
 * Trains iALS on a users × items strength matrix.
 * @param userItems  U×N CSR of interaction strengths
 */
export function trainIals(userItems: Csr, params: IalsParams, opts: TrainOptions = {}): IalsModel {
  const dims = params.factors;
  const rng = new Rng(params.seed);
  const itemUsers = transpose(userItems);
  // Item factors start random; user factors are solved first so their initial value only
  // matters as the CG warm start.
  const userFactors = initFactors(userItems.rows, dims, params.initScale, rng);
  const itemFactors = initFactors(userItems.cols, dims, params.initScale, rng);
  for (let epoch = 1; epoch <= params.iterations; epoch++) {
    const t0 = performance.now();
    solveSide(userFactors, itemFactors, userItems, params);
    solveSide(itemFactors, userFactors, itemUsers, params);
    const seconds = (performance.now() - t0) / 1000;
    const report: EpochReport = { epoch, seconds };
    if (opts.computeLoss) report.loss = trainingLoss(userItems, userFactors, itemFactors, params);
    opts.onEpoch?.(report);
  }
  return { params, dims, userCount: userItems.rows, itemCount: userItems.cols, userFactors, itemFactors };
}

/**
 * One half-epoch: re-solves every row of `target` with `fixed` held constant.
 * @param target  R×D factors being solved (updated in place)
 * @param fixed   C×D factors of the other side
 * @param m       R×C strengths
 */
export function solveSide(target: Float32Array, fixed: Float32Array, m: Csr, params: IalsParams): void {
  const dims = params.factors;
  const g = gram(fixed, m.cols, dims);
  const scratch = new Scratch(dims);
  for (let r = 0; r < m.rows; r++) {
    if (params.solver === 'cholesky') solveRowCholesky(target, fixed, g, m, r, params, scratch);
    else solveRowCg(target, fixed, g, m, r, params, scratch);
  }
}

class Scratch {
  a: Float64Array;
  b: Float64Array;
  x: Float64Array;
  r: Float64Array;
  p: Float64Array;
  ap: Float64Array;
  constructor(dims: number) {
    this.a = new Float64Array(dims * dims);
    this.b = new Float64Array(dims);
    this.x = new Float64Array(dims);
    this.r = new Float64Array(dims);
    this.p = new Float64Array(dims);
    this.ap = new Float64Array(dims);
  }
}

function solveRowCholesky(target: Float32Array, fixed: Float32Array, g: Float64Array, m: Csr, row: number, params: IalsParams, s: Scratch): void {
  const dims = params.factors;
  const w0 = params.unobservedWeight;
  const { a, b } = s;
  for (let k = 0; k < dims * dims; k++) a[k] = w0 * g[k];
  b.fill(0);
  const start = m.rowPtr[row], end = m.rowPtr[row + 1];
  for (let p = start; p < end; p++) {
    const off = m.colIdx[p] * dims;
    const c = confidence(params, m.values[p]);
    const extra = c - w0;
    for (let i = 0; i < dims; i++) {
      const yi = fixed[off + i];
      b[i] += c * yi;
      const e = extra * yi;
      const ai = i * dims;
      for (let j = 0; j < dims; j++) a[ai + j] += e * fixed[off + j];
    }
  }
  const lambda = userRegularization(params, end - start, m.cols);
  for (let i = 0; i < dims; i++) a[i * dims + i] += lambda;
  if (!cholesky(a, dims)) throw new Error(`row ${row}: system not positive definite`);
  choleskySolve(a, dims, b);
  const off = row * dims;
  for (let i = 0; i < dims; i++) target[off + i] = b[i];
}

function solveRowCg(target: Float32Array, fixed: Float32Array, g: Float64Array, m: Csr, row: number, params: IalsParams, s: Scratch): void {
  const dims = params.factors;
  const w0 = params.unobservedWeight;
  const { x, r, p, ap } = s;
  const start = m.rowPtr[row], end = m.rowPtr[row + 1];
  const lambda = userRegularization(params, end - start, m.cols);
  const off = row * dims;
  for (let i = 0; i < dims; i++) x[i] = target[off + i];

  // r = b − A·x, with A·x = w0·G·x + Σ (c−w0)·y (y·x) + λx and b = Σ c·y
  for (let i = 0; i < dims; i++) {
    let gx = 0;
    const gi = i * dims;
    for (let j = 0; j < dims; j++) gx += g[gi + j] * x[j];
    r[i] = -w0 * gx - lambda * x[i];
  }
  for (let q = start; q < end; q++) {
    const yo = m.colIdx[q] * dims;
    const c = confidence(params, m.values[q]);
    let yx = 0;
    for (let i = 0; i < dims; i++) yx += fixed[yo + i] * x[i];
    const coef = c - (c - w0) * yx;
    for (let i = 0; i < dims; i++) r[i] += coef * fixed[yo + i];
  }
  let rsold = 0;
  for (let i = 0; i < dims; i++) {
    p[i] = r[i];
    rsold += r[i] * r[i];
  }
  for (let step = 0; step < params.cgSteps && rsold > 1e-20; step++) {
    // ap = A·p
    for (let i = 0; i < dims; i++) {
      let gp = 0;
      const gi = i * dims;
      for (let j = 0; j < dims; j++) gp += g[gi + j] * p[j];
      ap[i] = w0 * gp + lambda * p[i];
    }
    for (let q = start; q < end; q++) {
      const yo = m.colIdx[q] * dims;
      const extra = confidence(params, m.values[q]) - w0;
      let yp = 0;
      for (let i = 0; i < dims; i++) yp += fixed[yo + i] * p[i];
      const coef = extra * yp;
      for (let i = 0; i < dims; i++) ap[i] += coef * fixed[yo + i];
    }
    let pap = 0;
    for (let i = 0; i < dims; i++) pap += p[i] * ap[i];
    if (!(pap > 0)) break;
    const step_ = rsold / pap;
    let rsnew = 0;
    for (let i = 0; i < dims; i++) {
      x[i] += step_ * p[i];
      r[i] -= step_ * ap[i];
      rsnew += r[i] * r[i];
    }
    const beta = rsnew / rsold;
    for (let i = 0; i < dims; i++) p[i] = r[i] + beta * p[i];
    rsold = rsnew;
  }
  for (let i = 0; i < dims; i++) target[off + i] = x[i];
}

/**
 * Weighted squared loss (plus L2 terms) per observed pair:
 *   Σ_obs c(1−ŷ)² + w0·Σ_unobs ŷ² + Σ_u λ_u‖x_u‖² + Σ_i λ_i‖y_i‖²
 * computed without visiting the unobserved pairs: Σ_all ŷ² = Σ_u x_uᵀ G x_u.
 */
export function trainingLoss(m: Csr, x: Float32Array, y: Float32Array, params: IalsParams): number {
  const dims = params.factors;
  const w0 = params.unobservedWeight;
  const g = gram(y, m.cols, dims);
  let loss = 0;
  const itemCounts = new Int32Array(m.cols);
  for (let u = 0; u < m.rows; u++) {
    const xo = u * dims;
    let quad = 0;
    for (let i = 0; i < dims; i++) {
      let gx = 0;
      for (let j = 0; j < dims; j++) gx += g[i * dims + j] * x[xo + j];
      quad += x[xo + i] * gx;
    }
    loss += w0 * quad;
    let norm = 0;
    for (let i = 0; i < dims; i++) norm += x[xo + i] * x[xo + i];
    loss += userRegularization(params, m.rowPtr[u + 1] - m.rowPtr[u], m.cols) * norm;
    for (let q = m.rowPtr[u]; q < m.rowPtr[u + 1]; q++) {
      const it = m.colIdx[q];
      itemCounts[it]++;
      const c = confidence(params, m.values[q]);
      let pred = 0;
      for (let i = 0; i < dims; i++) pred += x[xo + i] * y[it * dims + i];
      loss += c * (1 - pred) * (1 - pred) - w0 * pred * pred;
    }
  }
  for (let it = 0; it < m.cols; it++) {
    let norm = 0;
    for (let i = 0; i < dims; i++) norm += y[it * dims + i] * y[it * dims + i];
    loss += userRegularization(params, itemCounts[it], m.rows) * norm;
  }
  const nnz = m.rowPtr[m.rows];
  return nnz > 0 ? loss / nnz : 0;
}
