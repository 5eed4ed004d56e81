/**
 * Scores a user vector against every item with the artifact's ONNX graph in onnxruntime-web.
 * One InferenceSession per model version and isolate; runs are serialised because the
 * single-threaded WebAssembly backend executes one run at a time anyway, and queueing keeps
 * concurrent requests from interleaving inside ORT's async API.
 */
import { initOrt, ort } from '../inference/ort';
import type { Scored } from '../core/topk';

/** Additive mask value for excluded items (must match model/onnx.ts). */
const EXCLUDED = -3.4e38;

export class OrtScorer {
  private queue: Promise<unknown> = Promise.resolve();
  /** one additive mask reused by every (serialised) run: set, run, reset — no per-request allocation */
  private readonly mask: Float32Array;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly itemCount: number,
    readonly dims: number,
  ) {
    this.mask = new Float32Array(itemCount);
  }

  /**
   * @param graph         scorer.onnx bytes
   * @param externalData  files the graph's initializers point to (item_factors.f32)
   */
  static async create(graph: Uint8Array, externalData: { path: string; data: Uint8Array }[], itemCount: number, dims: number): Promise<OrtScorer> {
    const runtime = await initOrt();
    const session = await runtime.InferenceSession.create(graph, { externalData, graphOptimizationLevel: 'all' });
    return new OrtScorer(session, itemCount, dims);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Top-k items by dot product, skipping `exclude` (indices). */
  topK(user: Float32Array, k: number, exclude: Iterable<number> = []): Promise<Scored[]> {
    const kk = Math.min(k, this.itemCount);
    const excludedIndices = Array.from(new Set(exclude)).filter((i) => i >= 0 && i < this.itemCount);
    const excluded = excludedIndices.length;
    return this.serial(async () => {
      const mask = this.mask;
      for (const i of excludedIndices) mask[i] = EXCLUDED;
      let out;
      try {
        out = await this.session.run(
          {
            user: new ort.Tensor('float32', user, [1, this.dims]),
            mask: new ort.Tensor('float32', mask, [1, this.itemCount]),
            k: new ort.Tensor('int64', BigInt64Array.from([BigInt(kk)]), [1]),
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

  /** Scores of every item (for re-ranking a caller's candidates). */
  scores(user: Float32Array): Promise<Float32Array> {
    return this.serial(async () => {
      const out = await this.session.run(
        {
          user: new ort.Tensor('float32', user, [1, this.dims]),
          mask: new ort.Tensor('float32', this.mask, [1, this.itemCount]),
          k: new ort.Tensor('int64', BigInt64Array.from([1n]), [1]),
        },
        ['scores'],
      );
      return out.scores.data as Float32Array;
    });
  }
}
