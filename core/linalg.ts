/**
 * Small dense linear algebra shared by the trainer and the Worker.
 *
 * Hand-written on purpose: the systems are D×D with D ≤ 256, solved once per user, and a
 * general-purpose matrix library would cost more in bundle size and allocation than it saves.
 * Matrices are row-major Float64Array views (accumulating in float64 keeps the Gram matrix and
 * the Cholesky factor accurate for the tolerance tests between trainer and edge).
 */

/** In-place Cholesky factorisation of a symmetric positive-definite n×n matrix (lower part). */
export function cholesky(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) return false;
    const ljj = Math.sqrt(d);
    a[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / ljj;
    }
  }
  return true;
}

/** Solves L Lᵀ x = b given the factor from `cholesky`; b is overwritten with x. */
export function choleskySolve(l: Float64Array, n: number, b: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * b[k];
    b[i] = s / l[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * b[k];
    b[i] = s / l[i * n + i];
  }
}

/** Dot product of row `row` of a row-major matrix with a vector. */
export function rowDot(m: Float32Array, row: number, dims: number, v: ArrayLike<number>): number {
  const off = row * dims;
  let s = 0;
  for (let d = 0; d < dims; d++) s += m[off + d] * v[d];
  return s;
}

/**
 * Gram matrix Σ_i w_i·y_i y_iᵀ (dims×dims, float64) of a row-major n×dims float32 matrix,
 * with optional per-row weights (omitted = YᵀY).
 */
export function gram(y: Float32Array, n: number, dims: number, weights?: ArrayLike<number>): Float64Array {
  const g = new Float64Array(dims * dims);
  const row = new Float64Array(dims);
  for (let i = 0; i < n; i++) {
    const off = i * dims;
    const w = weights ? weights[i] : 1;
    if (w === 0) continue;
    for (let a = 0; a < dims; a++) row[a] = w * y[off + a];
    for (let a = 0; a < dims; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      const ga = a * dims;
      for (let b = a; b < dims; b++) g[ga + b] += ra * y[off + b];
    }
  }
  for (let a = 0; a < dims; a++) for (let b = 0; b < a; b++) g[a * dims + b] = g[b * dims + a];
  return g;
}
