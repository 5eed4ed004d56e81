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
 * One int8 factor part (FILES.factorPart): `rows` int8 rows of `dims` values, row-major, then the
 * rows' float32 scales — the layout the kernel's memory takes part by part.
 * @param q       rows × dims int8
 * @param scales  rows float32
 */
export function encodeFactorPart(q: Int8Array, scales: Float32Array, rows: number, dims: number): Uint8Array {
  if (q.length !== rows * dims || scales.length !== rows) throw new Error(`a factor part needs ${rows}×${dims} values and ${rows} scales`);
  const part = new Uint8Array(rows * (dims + 4));
  part.set(new Uint8Array(q.buffer, q.byteOffset, q.byteLength));
  part.set(new Uint8Array(scales.buffer, scales.byteOffset, scales.byteLength), rows * dims);
  return part;
}

/**
 * Reads a factor part back, checking what the kernel relies on: the exact size, and scales that
 * are finite and non-negative. Returns the reason instead when the bytes are not such a part.
 */
export function decodeFactorPart(buf: ArrayBuffer, rows: number, dims: number): { q: Int8Array; scales: Float32Array } | { error: string } {
  if (buf.byteLength !== rows * (dims + 4)) return { error: `is not ${rows} int8 rows of ${dims} dims with their scales` };
  const scales = new Float32Array(buf.slice(rows * dims));
  for (const x of scales) if (!(Number.isFinite(x) && x >= 0)) return { error: 'has a scale that is not finite and non-negative' };
  return { q: new Int8Array(buf, 0, rows * dims), scales };
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
