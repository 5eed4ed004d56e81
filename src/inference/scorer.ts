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
import { type Scored, TopHeap } from '@edge-recs/core/topk';
import type { Int8Index } from './int8';
import type { ort } from './ort';
import type { ScoringPlan } from './plan';

export interface Scorer {
  readonly kind: 'onnx-float32' | 'int8-wasm';
  /**
   * Top-k items by u · y_i, skipping `exclude` (indices); ties go to the lower index. With a
   * plan, filtered items are never returned and each score is transformed by its class, inside
   * the scoring (see inference/plan.ts).
   */
  topK(u: Float32Array, k: number, exclude?: Iterable<number>, plan?: ScoringPlan): Promise<Scored[]>;
  /** u · y_i for the given items, in order (re-ranking a caller's candidates). */
  dots(u: Float32Array, indices: readonly number[]): Float32Array;
  /** Top-k items by cosine similarity to item `index`, without the item itself (and with a plan, as topK). */
  similar(index: number, k: number, plan?: ScoringPlan): Scored[];
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

  /**
   * The graph adds the mask to the scores before its TopK: exclusions and filtered items get
   * MASK_EXCLUDED, classes that only add get their `add`. Items of classes that multiply cannot
   * be expressed by an additive mask: they are masked out of the graph and scored exactly here
   * (dot products of their rows), then merged — the result is the exact top-k either way.
   */
  topK(user: Float32Array, k: number, exclude: Iterable<number> = [], plan?: ScoringPlan): Promise<Scored[]> {
    const kk = Math.min(k, this.itemCount);
    const excludedIndices = Array.from(new Set(exclude)).filter((i) => i >= 0 && i < this.itemCount);
    const excludedSet = new Set(excludedIndices);
    // items of multiplying classes, scored exactly outside the graph
    const aside: number[] = [];
    let masked = excludedIndices.length;
    return this.serial(async () => {
      const mask = this.mask;
      if (plan) {
        const { classes, transforms } = plan;
        masked = 0;
        for (let i = 0; i < this.itemCount; i++) {
          const c = classes[i];
          if (c === 0 || excludedSet.has(i)) {
            mask[i] = MASK_EXCLUDED;
            masked++;
          } else if (transforms[2 * c] !== 1) {
            mask[i] = MASK_EXCLUDED;
            masked++;
            aside.push(i);
          } else mask[i] = transforms[2 * c + 1];
        }
      }
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
        mask.fill(0);
      }
      const values = out.top_values.data as Float32Array;
      const indices = out.top_indices.data as BigInt64Array;
      // Masked items sink to the bottom with the mask value; drop any that TopK had to return
      // because fewer than k items were left.
      const keep = Math.min(kk, this.itemCount - masked);
      const heap = new TopHeap(kk);
      const merged: Scored[] = [];
      for (let j = 0; j < keep; j++) merged.push({ index: Number(indices[j]), score: values[j] });
      if (plan && aside.length) {
        const dots = this.dots(user, aside);
        aside.forEach((i, j) => {
          const c = plan.classes[i];
          merged.push({ index: i, score: dots[j] * plan.transforms[2 * c] + plan.transforms[2 * c + 1] });
        });
      }
      merged.sort((a, b) => a.index - b.index);
      for (const m of merged) heap.offer(m.index, m.score);
      return heap.sorted();
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

  similar(index: number, k: number, plan?: ScoringPlan): Scored[] {
    const { dims, itemFactors: y, itemCount } = this;
    this.inverseNorms ??= Float32Array.from({ length: itemCount }, (_, i) => {
      let s = 0;
      for (let d = 0; d < dims; d++) s += y[i * dims + d] ** 2;
      return s > 0 ? 1 / Math.sqrt(s) : 0;
    });
    const inv = this.inverseNorms;
    const heap = new TopHeap(k);
    const q = index * dims;
    for (let i = 0; i < itemCount; i++) {
      if (i === index) continue;
      const c = plan ? plan.classes[i] : 1;
      if (c === 0) continue;
      let s = 0;
      const o = i * dims;
      for (let d = 0; d < dims; d++) s += y[o + d] * y[q + d];
      const cosine = Math.fround(s * inv[index] * inv[i]);
      heap.offer(i, plan ? cosine * plan.transforms[2 * c] + plan.transforms[2 * c + 1] : cosine);
    }
    return heap.sorted();
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

  async topK(u: Float32Array, k: number, exclude: Iterable<number> = [], plan?: ScoringPlan): Promise<Scored[]> {
    return this.index.topK(u, k, exclude, plan);
  }
  dots(u: Float32Array, indices: readonly number[]): Float32Array {
    return this.index.dots(u, indices);
  }
  similar(index: number, k: number, plan?: ScoringPlan): Scored[] {
    return this.index.similar(index, k, plan);
  }

  row(index: number): Float32Array {
    return this.index.row(index);
  }
  get memoryBytes(): number {
    return this.index.memoryBytes;
  }
}
