/**
 * The int8 form of item factors, shared by the trainer (which writes it) and the edge's kernel
 * (which scores it): per-row symmetric quantisation v ≈ q · scale, the 16-bit query the kernel
 * multiplies with, and the TypeScript reference of the kernel's arithmetic that its tests and
 * the benchmarks compare against.
 */

/** The edge's int8 kernel needs whole 16-dim steps, and i32 sums that cannot overflow (dims ≤ 512). */
export function int8Supported(dims: number): boolean {
  return dims % 16 === 0 && dims > 0 && dims <= 512;
}

/**
 * Per-row symmetric int8 quantisation: v ≈ q · scale, scale = max|v| / 127.
 * @param f  rows × dims float32, row-major
 * @returns  q: rows × dims int8; scales: rows float32
 */
export function quantizeRows(f: Float32Array, rows: number, dims: number): { q: Int8Array; scales: Float32Array } {
  const q = new Int8Array(rows * dims);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let d = 0; d < dims; d++) max = Math.max(max, Math.abs(f[r * dims + d]));
    const scale = max / 127 || 1;
    scales[r] = scale;
    for (let d = 0; d < dims; d++) q[r * dims + d] = Math.round(f[r * dims + d] / scale);
  }
  return { q, scales };
}

/**
 * The query as the kernel sees it: u ≈ q · scale with |q| ≤ 32767. Its rounding error is ~256×
 * below the int8 rows'.
 */
export function quantizeQuery(u: ArrayLike<number>, dims: number): { q: Int16Array; scale: number } {
  let max = 0;
  for (let d = 0; d < dims; d++) max = Math.max(max, Math.abs(u[d]));
  const scale = max > 0 ? max / 32767 : 1;
  return { q: Int16Array.from({ length: dims }, (_, d) => Math.round(u[d] / scale)), scale };
}

/**
 * Reference of the kernel's score for one row: (Σ_d q16[d]·row[d]) · rowScale · queryScale, with
 * the integer sum exact (as the kernel's i32 lanes keep it).
 */
export function int8Dot(query: { q: Int16Array; scale: number }, row: Int8Array, rowScale: number): number {
  let s = 0;
  for (let d = 0; d < row.length; d++) s += query.q[d] * row[d];
  return Math.fround(Math.fround(s) * rowScale) * query.scale;
}
