/**
 * The two ways a model version scores its items, behind one interface:
 *
 * - OrtScorer: the artifact's ONNX graph (Gemm + mask + TopK over float32 factors) in
 *   onnxruntime-web. Exact float32 scores; used for catalogues below INT8_SCORING_MIN_ITEMS.
 * - Int8Scorer: int8 rows with per-row scales in the hand-written WebAssembly SIMD kernel
 *   (src/inference/int8.wat). A quarter of the memory and of the bytes streamed per request,
 *   which is what lets a 1M-item catalogue fit the isolate; ranking quality within 0.1% NDCG of
 *   float32 on Online Retail (BENCHMARKS.md).
 */
import { MASK_EXCLUDED } from '@edge-recs/core/manifest';
import { type Scored, topK } from '@edge-recs/core/topk';
import type { Int8Index } from './int8';
import type { ort } from './ort';

export interface Scorer {
  readonly kind: 'onnx-float32' | 'int8-wasm';
  /** Top-k items by u · y_i, skipping `exclude` (indices); ties go to the lower index. */
  topK(u: Float32Array, k: number, exclude?: Iterable<number>): Promise<Scored[]>;
  /** u · y_i for the given items, in order (re-ranking a caller's candidates). */
  dots(u: Float32Array, indices: readonly number[]): Float32Array;
  /** Top-k items by cosine similarity to item `index`, without the item itself. */
  similar(index: number, k: number): Scored[];
  /** The factor row of one item, as float32 (fold-in). */
  row(index: number): Float32Array;
  /** Bytes of factors this scorer holds (JavaScript and WebAssembly memory). */
  readonly memoryBytes: number;
}

/**
 * One InferenceSession per model version and isolate; runs are serialised because the
 * single-threaded WebAssembly backend executes one run at a time anyway, and queueing keeps
 * concurrent requests from interleaving inside ORT's async API.
 */
export class OrtScorer implements Scorer {
  readonly kind = 'onnx-float32';
  private queue: Promise<unknown> = Promise.resolve();
  /** one additive mask reused by every (serialised) run: set, run, reset — no per-request allocation */
  private readonly mask: Float32Array;
  private inverseNorms: Float32Array | undefined;

  private constructor(
    private readonly runtime: typeof ort,
    private readonly session: ort.InferenceSession,
    readonly itemFactors: Float32Array,
    readonly itemCount: number,
    readonly dims: number,
  ) {
    this.mask = new Float32Array(itemCount);
  }

  /**
   * @param graph        scorer.onnx bytes
   * @param itemFactors  N×D float32, the bytes of item_factors.f32 (the graph's external data)
   */
  static async create(graph: Uint8Array, itemFactors: Float32Array, itemCount: number, dims: number): Promise<OrtScorer> {
    // imported on first use: isolates serving int8 models never instantiate ORT or its heap
    const { initOrt } = await import('./ort');
    const runtime = await initOrt();
    const data = new Uint8Array(itemFactors.buffer, itemFactors.byteOffset, itemFactors.byteLength);
    const session = await runtime.InferenceSession.create(graph, {
      externalData: [{ path: 'item_factors.f32', data }],
      graphOptimizationLevel: 'all',
    });
    return new OrtScorer(runtime, session, itemFactors, itemCount, dims);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  topK(user: Float32Array, k: number, exclude: Iterable<number> = []): Promise<Scored[]> {
    const kk = Math.min(k, this.itemCount);
    const excludedIndices = Array.from(new Set(exclude)).filter((i) => i >= 0 && i < this.itemCount);
    const excluded = excludedIndices.length;
    return this.serial(async () => {
      const mask = this.mask;
      for (const i of excludedIndices) mask[i] = MASK_EXCLUDED;
      let out: ort.InferenceSession.ReturnType;
      try {
        out = await this.session.run(
          {
            user: new this.runtime.Tensor('float32', user, [1, this.dims]),
            mask: new this.runtime.Tensor('float32', mask, [1, this.itemCount]),
            k: new this.runtime.Tensor('int64', BigInt64Array.from([BigInt(kk)]), [1]),
          },
          ['top_values', 'top_indices'],
        );
      } finally {
        for (const i of excludedIndices) mask[i] = 0;
      }
      const values = out.top_values.data as Float32Array;
      const indices = out.top_indices.data as BigInt64Array;
      const result: Scored[] = [];
      // Excluded items sink to the bottom with the mask value; drop any that TopK had to return
      // because fewer than k items were left.
      const keep = Math.min(kk, this.itemCount - excluded);
      for (let j = 0; j < keep; j++) result.push({ index: Number(indices[j]), score: values[j] });
      return result;
    });
  }

  dots(u: Float32Array, indices: readonly number[]): Float32Array {
    const { itemFactors: y, dims } = this;
    return Float32Array.from(indices, (i) => {
      let s = 0;
      for (let d = 0; d < dims; d++) s += y[i * dims + d] * u[d];
      return s;
    });
  }

  similar(index: number, k: number): Scored[] {
    const { dims, itemFactors: y, itemCount } = this;
    this.inverseNorms ??= Float32Array.from({ length: itemCount }, (_, i) => {
      let s = 0;
      for (let d = 0; d < dims; d++) s += y[i * dims + d] ** 2;
      return s > 0 ? 1 / Math.sqrt(s) : 0;
    });
    const inv = this.inverseNorms;
    const scores = new Float32Array(itemCount);
    const q = index * dims;
    for (let i = 0; i < itemCount; i++) {
      let s = 0;
      const o = i * dims;
      for (let d = 0; d < dims; d++) s += y[o + d] * y[q + d];
      scores[i] = s * inv[index] * inv[i];
    }
    return topK(scores, k, new Set([index]));
  }

  row(index: number): Float32Array {
    return this.itemFactors.slice(index * this.dims, (index + 1) * this.dims);
  }

  /** the factors in JavaScript, and ORT's copy of them inside its WebAssembly heap */
  get memoryBytes(): number {
    return 2 * this.itemFactors.byteLength + this.mask.byteLength;
  }
}

export class Int8Scorer implements Scorer {
  readonly kind = 'int8-wasm';
  constructor(readonly index: Int8Index) {}

  async topK(u: Float32Array, k: number, exclude: Iterable<number> = []): Promise<Scored[]> {
    return this.index.topK(u, k, exclude);
  }
  dots(u: Float32Array, indices: readonly number[]): Float32Array {
    return this.index.dots(u, indices);
  }
  similar(index: number, k: number): Scored[] {
    return this.index.similar(index, k);
  }
  row(index: number): Float32Array {
    return this.index.row(index);
  }
  get memoryBytes(): number {
    return this.index.memoryBytes;
  }
}
