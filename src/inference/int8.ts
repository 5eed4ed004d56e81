/**
 * Item factors as int8 rows (per-row scales) in one WebAssembly memory, scored by the SIMD
 * kernel in int8.wat: top-k by dot product (user and session vectors) or by cosine (similar
 * items), optionally under a scoring plan (plan.ts: per-item filter classes and per-class
 * score transforms) that the kernel applies while it scores.
 *
 * Why hand-written: a float32 catalogue of 1M items × 64 dims is 256 MB, twice the isolate's
 * memory; int8 rows are a quarter of that and a quarter of the bytes to stream per request.
 * onnxruntime-web's integer GEMV (MatMulInteger) runs at 4× its streaming bound at M = 1, and the
 * ONNX graph needs an N-float mask copied in per request. This kernel fuses the int8 dot
 * products, the per-row rescale and the top-k threshold test, so the only per-request traffic is
 * the matrix itself plus the few candidate groups that beat the running k-th score.
 *
 * Layout of the memory (16-byte aligned regions):
 *   query pairs i16x8 × D/2 | candidate scores f32x4 × CAP | candidate rows i32 × CAP
 *   | rows int8 Np × D (groups of four rows, see int8.wat) | scales f32 Np | 1/‖row‖ f32 Np
 *   | plan classes u8 Np | plan transforms (mul f32, add f32) × 256
 * (Np = N rounded up to 8: the kernel scores two groups of four rows per pass.)
 * Rows beyond N stay zero with a zero multiplier and class 0; candidates at or beyond N are
 * dropped. The plan regions (Np + 2 KiB, 1/D of the rows) are reserved up front so memoryBytes,
 * which the registry budgets with at load, stays true and a request never grows the memory.
 *
 * With a plan, scores stay in the kernel's units (the 16-bit query's, see quantizeQuery) until
 * the end, like without: a class's add is converted once per request, add / query scale rounded
 * to f32, so an item's final score is  query scale · f32(f32(s · mul) + f32(add / query scale)),
 * s = f32(integer dot) · the row's multiplier in f32 (what the kernel compares without a plan):
 * (u · y_i) · mul + add up to float32 rounding, and exactly what the tests' reference computes.
 */
import { int8Supported, quantizeQuery } from '@edge-recs/core/int8';
import { type Scored, TopHeap } from '@edge-recs/core/topk';
import type { ScoringPlan } from './plan';

const CAP = 1024;
/** class bytes address 256 transforms */
const CLASSES = 256;
const align16 = (n: number) => (n + 15) & ~15;

interface KernelExports {
  memory: WebAssembly.Memory;
  count: WebAssembly.Global;
  scan(
    rows: number,
    mult: number,
    query: number,
    dims: number,
    start: number,
    end: number,
    threshold: number,
    candScores: number,
    candBase: number,
    cap: number,
  ): number;
  scanPlan(
    rows: number,
    mult: number,
    query: number,
    dims: number,
    start: number,
    end: number,
    threshold: number,
    candScores: number,
    candBase: number,
    cap: number,
    classes: number,
    table: number,
    ident: number,
  ): number;
  invNorms(rows: number, dims: number, groups: number, out: number): void;
}

/** Byte offset of (row, dim) in the grouped layout int8.wat describes. */
function at8(dims: number, row: number, dim: number): number {
  return (row >> 2) * 4 * dims + (dim >> 1) * 8 + (row & 3) * 2 + (dim & 1);
}

export class Int8Index {
  private readonly padded: number;
  private readonly at: {
    query: number;
    candScores: number;
    candBase: number;
    rows: number;
    scales: number;
    inverseNorms: number;
    classes: number;
    table: number;
    end: number;
  };
  private normsReady = false;

  private constructor(
    private readonly kernel: KernelExports,
    readonly itemCount: number,
    readonly dims: number,
  ) {
    this.padded = Math.ceil(itemCount / 8) * 8;
    const query = 16;
    const candScores = align16(query + dims * 8);
    const candBase = align16(candScores + CAP * 16);
    const rows = align16(candBase + CAP * 4);
    const scales = align16(rows + this.padded * dims);
    const inverseNorms = align16(scales + this.padded * 4);
    const classes = align16(inverseNorms + this.padded * 4);
    const table = align16(classes + this.padded);
    this.at = { query, candScores, candBase, rows, scales, inverseNorms, classes, table, end: table + CLASSES * 8 };
    const memory = kernel.memory;
    const missing = this.at.end - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
  }

  /**
   * @param module     the assembled int8.wat (build/int8.wasm), compiled
   * @param itemCount  N
   * @param dims       D, see int8Supported()
   */
  static async create(module: WebAssembly.Module, itemCount: number, dims: number): Promise<Int8Index> {
    if (!int8Supported(dims)) throw new Error(`the int8 kernel needs dims to be a multiple of 16 and at most 512, not ${dims}`);
    const instance = (await WebAssembly.instantiate(module, {})) as unknown as WebAssembly.Instance;
    return new Int8Index(instance.exports as unknown as KernelExports, itemCount, dims);
  }

  /** Bytes of WebAssembly memory this index holds. */
  get memoryBytes(): number {
    return this.kernel.memory.buffer.byteLength;
  }

  /**
   * Copies rows [first, first + scales.length) in, from row-major int8 values and their scales,
   * into the kernel's grouped layout.
   */
  setRows(first: number, values: Int8Array, scales: Float32Array): void {
    const { dims } = this;
    const count = scales.length;
    if (first < 0 || first + count > this.itemCount || values.length !== count * dims) throw new RangeError('rows do not fit the index');
    const buf = this.kernel.memory.buffer;
    const rows = new Int8Array(buf, this.at.rows, this.padded * dims);
    for (let r = 0; r < count; r++) {
      const row = first + r;
      // a pair of dims is two adjacent bytes in both layouts
      const base = (row >> 2) * 4 * dims + (row & 3) * 2;
      for (let d = 0, src = r * dims; d < dims; d += 2, src += 2) {
        const o = base + d * 4;
        rows[o] = values[src];
        rows[o + 1] = values[src + 1];
      }
    }
    new Float32Array(buf, this.at.scales + first * 4, count).set(scales);
    this.normsReady = false;
  }

  /** The int8 values of one item's row. */
  private quantized(index: number, out = new Int8Array(this.dims)): Int8Array {
    // a plain loop over a view of the grouped layout: Int8Array.from with a mapping callback
    // cost ~5 µs a row, which the blend pays for every item a basket's lists touch
    const rows = new Int8Array(this.kernel.memory.buffer, this.at.rows, this.padded * this.dims);
    const dims = this.dims;
    for (let d = 0; d < dims; d++) out[d] = rows[at8(dims, index, d)];
    return out;
  }

  /** The dequantised row of one item (q · scale), as float32. */
  row(index: number, out = new Float32Array(this.dims)): Float32Array {
    const q = this.quantized(index);
    const scale = new Float32Array(this.kernel.memory.buffer, this.at.scales + index * 4, 1)[0];
    for (let d = 0; d < this.dims; d++) out[d] = q[d] * scale;
    return out;
  }

  /** Dot products of u with the given items' dequantised rows (re-ranking a caller's candidates). */
  dots(u: ArrayLike<number>, indices: readonly number[]): Float32Array {
    const { dims } = this;
    const buf = this.kernel.memory.buffer;
    const rows = new Int8Array(buf, this.at.rows, this.padded * dims);
    const scales = new Float32Array(buf, this.at.scales, this.itemCount);
    const uf = u instanceof Float32Array ? u : Float32Array.from(u);
    const out = new Float32Array(indices.length);
    for (let j = 0; j < indices.length; j++) {
      const i = indices[j];
      // at8's layout walked directly: dims in pairs, 8 bytes between one row's pairs
      let s0 = 0;
      let s1 = 0;
      for (let d = 0, o = at8(dims, i, 0); d < dims; d += 2, o += 8) {
        s0 += rows[o] * uf[d];
        s1 += rows[o + 1] * uf[d + 1];
      }
      out[j] = (s0 + s1) * scales[i];
    }
    return out;
  }

  /**
   * Top-k items by u · y_i, skipping `exclude` (indices). Ties go to the lower index. With a
   * plan (plan.classes.length must be itemCount): only items of a class ≥ 1 that has a
   * transform, ranked by their transformed score (u · y_i) · mul + add, which is the score
   * returned; fewer than k when fewer pass, never filler. (An item whose transformed score is
   * −∞ or NaN is left out too.)
   */
  topK(u: ArrayLike<number>, k: number, exclude: Iterable<number> = [], plan?: ScoringPlan): Scored[] {
    // a caller's Set is only read, so it is not copied (the blend passes ~150 excluded items)
    return this.search(u, k, exclude instanceof Set ? exclude : new Set(exclude), this.at.scales, plan);
  }

  /**
   * Top-k items by cosine similarity to item `index`, excluding the item itself; with a plan,
   * by transformed cosine among the items it lets through (as topK).
   */
  similar(index: number, k: number, plan?: ScoringPlan): Scored[] {
    if (!this.normsReady) {
      this.kernel.invNorms(this.at.rows, this.dims, this.padded / 4, this.at.inverseNorms);
      this.normsReady = true;
    }
    const q = this.quantized(index);
    const inv = new Float32Array(this.kernel.memory.buffer, this.at.inverseNorms + index * 4, 1)[0];
    return this.search(
      Float32Array.from(q, (x) => x * inv),
      k,
      new Set([index]),
      this.at.inverseNorms,
      plan,
    );
  }

  /**
   * Copies the plan in for one request: its classes, and its transforms with each add in the
   * kernel's units (add / queryScale, so the kernel never rescales a score before comparing).
   * Classes 0 and those without a transform get (0, −∞): never candidates, as plan.ts's
   * `transformed` gives them no (finite) score. Returns the identity class the kernel may skip
   * transforming (the first with mul 1 and add 0), or 0.
   */
  private loadPlan(plan: ScoringPlan, queryScale: number): number {
    const { classes, transforms } = plan;
    if (classes.length !== this.itemCount) throw new RangeError(`a plan has ${classes.length} classes for ${this.itemCount} items`);
    const buf = this.kernel.memory.buffer;
    // the N-byte copy is the plan's only per-request cost that grows with N (~30 µs at 1M
    // items, under 1% of the scan); plans are not assumed immutable, so it is not cached
    new Uint8Array(buf, this.at.classes, this.itemCount).set(classes);
    const table = new Float32Array(buf, this.at.table, 2 * CLASSES);
    let ident = 0;
    const defined = Math.min(CLASSES, transforms.length >> 1);
    for (let c = 0; c < CLASSES; c++) {
      if (c === 0 || c >= defined) {
        table[2 * c] = 0;
        table[2 * c + 1] = -Infinity;
        continue;
      }
      const mul = transforms[2 * c];
      const add = transforms[2 * c + 1];
      table[2 * c] = mul;
      table[2 * c + 1] = add / queryScale;
      if (ident === 0 && mul === 1 && add === 0) ident = c;
    }
    return ident;
  }

  private search(u: ArrayLike<number>, k: number, exclude: ReadonlySet<number>, mult: number, plan?: ScoringPlan): Scored[] {
    const kk = Math.min(k, this.itemCount);
    if (kk <= 0) return [];
    const { dims, itemCount, padded, at, kernel } = this;
    const { q: q16, scale: qScale } = quantizeQuery(u, dims);
    const buf = kernel.memory.buffer;
    // pairs (u[2j], u[2j+1]) repeated for the four rows of a group
    const query = new Int16Array(buf, at.query, dims * 4);
    for (let d = 0; d < dims; d += 2) {
      for (let lane = 0; lane < 8; lane += 2) {
        query[d * 4 + lane] = q16[d];
        query[d * 4 + lane + 1] = q16[d + 1];
      }
    }
    const candScores = new Float32Array(buf, at.candScores, CAP * 4);
    const candBase = new Int32Array(buf, at.candBase, CAP);

    const heap = new TopHeap(kk);
    // Scanned in chunks that double from ~4·k rows: under the first chunk's −∞ threshold every
    // group is a candidate, and a threshold from few rows is weak, so one scan of the whole range
    // handed CAP·4 = 4,096 candidates to the heap (~30% of a 100K-item search); growing chunks
    // let the threshold tighten before most rows are scanned, for a dozen more kernel calls.
    const first = Math.ceil(kk / 2) * 8; // ≥ 4·k, a multiple of 8 as scan needs
    const next = (end: number, chunk: number) => Math.min(padded, end + chunk);
    if (!plan) {
      for (let start = 0, chunk = first, end = next(0, chunk); start < padded; ) {
        start = kernel.scan(at.rows, mult, at.query, dims, start, end, heap.threshold(), at.candScores, at.candBase, CAP);
        if (start >= end) {
          chunk *= 2;
          end = next(end, chunk);
        }
        const n = kernel.count.value as number;
        for (let c = 0; c < n; c++) {
          const base = candBase[c];
          for (let lane = 0; lane < 4; lane++) {
            const index = base + lane;
            if (index >= itemCount || exclude.has(index)) continue;
            heap.offer(index, candScores[c * 4 + lane]);
          }
        }
      }
      return heap.sorted(qScale);
    }
    const ident = this.loadPlan(plan, qScale);
    const classes = plan.classes;
    for (let start = 0, chunk = first, end = next(0, chunk); start < padded; ) {
      start = kernel.scanPlan(
        at.rows,
        mult,
        at.query,
        dims,
        start,
        end,
        heap.threshold(),
        at.candScores,
        at.candBase,
        CAP,
        at.classes,
        at.table,
        ident,
      );
      if (start >= end) {
        chunk *= 2;
        end = next(end, chunk);
      }
      const n = kernel.count.value as number;
      for (let c = 0; c < n; c++) {
        const base = candBase[c];
        for (let lane = 0; lane < 4; lane++) {
          const index = base + lane;
          if (index >= itemCount || exclude.has(index)) continue;
          // a candidate group's filtered lanes hold −∞ (or NaN from a NaN transform): the heap
          // would take −∞ while it is not full, and a filtered item must never be filler
          const s = candScores[c * 4 + lane];
          if (classes[index] === 0 || !(s > -Infinity)) continue;
          heap.offer(index, s);
        }
      }
    }
    return heap.sorted(qScale);
  }
}
