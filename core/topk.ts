/**
 * Top-k selection shared by every scorer: the plain TypeScript reference scorer (scores = Y·u,
 * the oracle the ONNX and int8 paths are tested against, and the trainer's evaluation), and the
 * bounded heap the int8 kernel's candidates are offered to.
 */

export interface Scored {
  index: number;
  score: number;
}

/** Scores every item: out[i] = Y[i]·u. */
export function scoreAll(y: Float32Array, itemCount: number, dims: number, u: ArrayLike<number>, out?: Float32Array): Float32Array {
  const scores = out ?? new Float32Array(itemCount);
  for (let i = 0, off = 0; i < itemCount; i++, off += dims) {
    let s = 0;
    for (let d = 0; d < dims; d++) s += y[off + d] * u[d];
    scores[i] = s;
  }
  return scores;
}

/**
 * Bounded min-heap of the best k (score, index) pairs; its root is the current k-th best.
 * Offer candidates in increasing index order: then an equal score never displaces an earlier
 * item, so ties go to the lower index and results are deterministic. NaN scores are ignored.
 */
export class TopHeap {
  private readonly idx: Int32Array;
  private readonly score: Float64Array;
  private size = 0;

  constructor(private readonly k: number) {
    this.idx = new Int32Array(Math.max(0, k));
    this.score = new Float64Array(Math.max(0, k));
  }

  /** the score a candidate must beat to enter (−∞ until k candidates were offered) */
  threshold(): number {
    return this.size < this.k ? -Infinity : this.score[0];
  }

  /** a is worse than b: lower score, or the same score at a higher index */
  private worse(a: number, b: number): boolean {
    return this.score[a] < this.score[b] || (this.score[a] === this.score[b] && this.idx[a] > this.idx[b]);
  }

  private swap(a: number, b: number): void {
    const i = this.idx[a];
    this.idx[a] = this.idx[b];
    this.idx[b] = i;
    const s = this.score[a];
    this.score[a] = this.score[b];
    this.score[b] = s;
  }

  offer(index: number, s: number): void {
    if (this.k <= 0 || Number.isNaN(s)) return;
    if (this.size < this.k) {
      let c = this.size++;
      this.idx[c] = index;
      this.score[c] = s;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!this.worse(c, p)) break;
        this.swap(c, p);
        c = p;
      }
      return;
    }
    if (!(s > this.score[0])) return;
    this.idx[0] = index;
    this.score[0] = s;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.size && this.worse(l, m)) m = l;
      if (r < this.size && this.worse(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }

  /** The kept pairs, best first (scores multiplied by `scale`). */
  sorted(scale = 1): Scored[] {
    const out: Scored[] = [];
    for (let j = 0; j < this.size; j++) out.push({ index: this.idx[j], score: this.score[j] * scale });
    return out.sort((a, b) => b.score - a.score || a.index - b.index);
  }
}

/**
 * Top-k indices by descending score, skipping `exclude`. Ties break by lower index so results
 * are deterministic. O(N log k).
 */
export function topK(scores: ArrayLike<number>, k: number, exclude?: ReadonlySet<number>): Scored[] {
  const heap = new TopHeap(k);
  for (let i = 0; i < scores.length; i++) if (!exclude?.has(i)) heap.offer(i, scores[i]);
  return heap.sorted();
}
