/**
 * The plain-TypeScript half of model/spd-inverse.ts: the reference inverse and the exact solver's
 * item bound, with no Node-only imports, so code that also runs inside workerd (the Worker tests
 * build small item models there) can use exact EASE without loading the threaded sweep.
 */
import { cholesky, choleskySolve } from '@edge-recs/core/linalg';

/**
 * Largest matrix the exact solver accepts. Bounded by time rather than memory: the work grows
 * as n³ — measured on one thread of the 2-vCPU development machine: 3.7–5.8 s at 3,659 items
 * (Online Retail), 45 s at 8,000, so ≈ 2.5 min at this bound — and the float64 matrix takes 8·n²
 * bytes (1.15 GB at 12,000; the input and output copies triple that). Above it, an approximate
 * item model that never forms the dense items×items matrix has to take over (model/item-model.ts).
 */
export const MAX_EXACT_ITEMS = 12_000;

/**
 * Reference inverse of a symmetric positive-definite matrix.
 * @param a  n×n row-major float64 (not modified)
 * @returns  A⁻¹, n×n row-major float64
 */
export function inverseReference(a: Float64Array, n: number): Float64Array {
  const l = Float64Array.from(a);
  if (!cholesky(l, n)) throw new Error('matrix is not positive definite');
  const inv = new Float64Array(n * n);
  const col = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    col.fill(0);
    col[j] = 1;
    choleskySolve(l, n, col);
    for (let i = 0; i < n; i++) inv[i * n + j] = col[i];
  }
  return inv;
}
