/**
 * The item model's neighbour lists as the artifact stores them, in parts the edge reads lazily
 * (like the catalogue): part n holds the lists of items [n·NEIGHBOUR_PART_ITEMS, …).
 *
 * A part (little-endian, 4-byte aligned sections):
 *   u32 magic "NBP1" | u32 first item | u32 count | u32 nnz | u32 weightType (0 = int8, 1 = float16)
 *   i32 rowPtr[count + 1] (relative to the part) | i32 index[nnz] (item indices of the model)
 *   int8:    i8 q[nnz] (padded to 4) | f32 scale[count]          weight = q · scale[row]
 *   float16: u16 half[nnz] (padded to 4)                          weight = half
 * Row j lists item j's neighbours in descending weight; every weight is ≥ 0 (the blend relies on
 * it, see core/blend.ts) and finite. A part that breaks that — a float16 Infinity or NaN, an int8
 * scale that is not finite or whose products overflow float32, a negative weight — is refused like
 * any other malformed part (NeighbourPart's constructor throws): a served score is never null or
 * NaN. (encodeNeighbourPart does not check; the trainer and the importer never write such weights.)
 */
export const NEIGHBOUR_PART_ITEMS = 4096;
const MAGIC = 0x3150424e; // "NBP1"
const HEADER = 20;
const pad4 = (n: number) => (n + 3) & ~3;

export const neighbourParts = (itemCount: number) => Math.ceil(itemCount / NEIGHBOUR_PART_ITEMS);

/** Lists of a range of items in memory (what the trainer writes from). */
export interface NeighbourRows {
  /** rows of items [first, first + count) */
  rowPtr: ArrayLike<number>;
  index: ArrayLike<number>;
  weightType: 'int8' | 'float16';
  /** int8: the stored values and a scale per row */
  int8?: { q: ArrayLike<number>; scales: ArrayLike<number> };
  /** float16: the stored bits */
  float16?: ArrayLike<number>;
}

/** Float32 → IEEE 754 half precision bits, round to nearest even (Node 20 has no Math.f16round). */
export function toFloat16(v: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = v;
  const x = u[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h; // a mantissa carry correctly bumps the exponent (up to infinity)
}

export function fromFloat16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Encodes the lists of items [first, first + count) of `rows` (whose rowPtr is over all items).
 */
export function encodeNeighbourPart(rows: NeighbourRows, first: number, count: number): Uint8Array {
  const start = rows.rowPtr[first];
  const nnz = rows.rowPtr[first + count] - start;
  const weightBytes = rows.weightType === 'int8' ? pad4(nnz) + 4 * count : pad4(2 * nnz);
  const bytes = new Uint8Array(HEADER + 4 * (count + 1) + 4 * nnz + weightBytes);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, first, true);
  v.setUint32(8, count, true);
  v.setUint32(12, nnz, true);
  v.setUint32(16, rows.weightType === 'int8' ? 0 : 1, true);
  let o = HEADER;
  for (let j = 0; j <= count; j++, o += 4) v.setInt32(o, rows.rowPtr[first + j] - start, true);
  for (let p = 0; p < nnz; p++, o += 4) v.setInt32(o, rows.index[start + p], true);
  if (rows.weightType === 'int8') {
    if (!rows.int8) throw new Error('int8 lists without their stored values');
    for (let p = 0; p < nnz; p++) v.setInt8(o + p, rows.int8.q[start + p]);
    o += pad4(nnz);
    for (let j = 0; j < count; j++, o += 4) v.setFloat32(o, rows.int8.scales[first + j], true);
  } else {
    if (!rows.float16) throw new Error('float16 lists without their stored values');
    for (let p = 0; p < nnz; p++) v.setUint16(o + 2 * p, rows.float16[start + p], true);
  }
  return bytes;
}

/** A part, read without copying its sections; rows are dequantised as they are asked for. */
export class NeighbourPart {
  readonly first: number;
  readonly count: number;
  readonly weightType: 'int8' | 'float16';
  private readonly rowPtr: Int32Array;
  private readonly index: Int32Array;
  private readonly q?: Int8Array;
  private readonly scales?: Float32Array;
  private readonly half?: Uint16Array;

  /** @throws Error when the bytes are not a well-formed part of `expected` items starting at `first` */
  constructor(bytes: ArrayBuffer, expected: { first: number; count: number; itemCount: number }) {
    const v = new DataView(bytes);
    if (bytes.byteLength < HEADER || v.getUint32(0, true) !== MAGIC) throw new Error('not a neighbour part');
    this.first = v.getUint32(4, true);
    this.count = v.getUint32(8, true);
    const nnz = v.getUint32(12, true);
    this.weightType = v.getUint32(16, true) === 0 ? 'int8' : 'float16';
    if (this.first !== expected.first || this.count !== expected.count)
      throw new Error('neighbour part does not cover the items it should');
    const weightBytes = this.weightType === 'int8' ? pad4(nnz) + 4 * this.count : pad4(2 * nnz);
    if (bytes.byteLength !== HEADER + 4 * (this.count + 1) + 4 * nnz + weightBytes) throw new Error('neighbour part has the wrong size');
    let o = HEADER;
    this.rowPtr = new Int32Array(bytes, o, this.count + 1);
    o += 4 * (this.count + 1);
    this.index = new Int32Array(bytes, o, nnz);
    o += 4 * nnz;
    if (this.weightType === 'int8') {
      this.q = new Int8Array(bytes, o, nnz);
      this.scales = new Float32Array(bytes, o + pad4(nnz), this.count);
    } else this.half = new Uint16Array(bytes, o, nnz);
    if (this.rowPtr[0] !== 0 || this.rowPtr[this.count] !== nnz) throw new Error('neighbour part has a broken row index');
    for (let j = 0; j < this.count; j++) if (this.rowPtr[j + 1] < this.rowPtr[j]) throw new Error('neighbour part has a broken row index');
    for (const i of this.index) if (!(i >= 0 && i < expected.itemCount)) throw new Error('neighbour part names an item outside the model');
    const bad = this.badWeight();
    if (bad !== null)
      throw new Error(`neighbour part has a weight that is not a finite number ≥ 0 (item ${this.first + bad.row}: ${bad.weight})`);
  }

  /** The first row and weight as row() would give it that is not a finite float32 ≥ 0, or null. */
  private badWeight(): { row: number; weight: number } | null {
    for (let j = 0; j < this.count; j++) {
      for (let p = this.rowPtr[j]; p < this.rowPtr[j + 1]; p++) {
        let w: number;
        if (this.q && this.scales) w = Math.fround(this.q[p] * this.scales[j]);
        else {
          const h = this.half?.[p] ?? 0;
          // Infinity and NaN (exponent all ones), or a negative number other than -0
          if ((h & 0x7c00) !== 0x7c00 && h <= 0x8000) continue;
          w = fromFloat16(h);
        }
        if (!(w >= 0 && w < Number.POSITIVE_INFINITY)) return { row: j, weight: w };
      }
    }
    return null;
  }

  /** Item `item`'s neighbours (indices) and weights, best first. */
  row(item: number): { index: Int32Array; weight: Float32Array } {
    const j = item - this.first;
    const from = this.rowPtr[j];
    const to = this.rowPtr[j + 1];
    const weight = new Float32Array(to - from);
    for (let p = from; p < to; p++) {
      weight[p - from] = this.q && this.scales ? this.q[p] * this.scales[j] : fromFloat16(this.half?.[p] ?? 0);
    }
    return { index: this.index.subarray(from, to), weight };
  }
}
