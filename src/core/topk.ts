/**
 * Plain TypeScript reference scorer: scores = Y·u, excluded items removed, top-k by score.
 * It is the oracle the ONNX path is tested against, and the scorer for the trainer's evaluation.
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
 * Top-k indices by descending score, skipping `exclude`. Ties break by lower index so results
 * are deterministic. O(N log k) with a small binary heap.
 */
export function topK(scores: ArrayLike<number>, k: number, exclude?: ReadonlySet<number>): Scored[] {
  const heapIdx: number[] = [];
  const heapScore: number[] = [];
  // min-heap on (score asc, index desc): the root is the worst of the current top-k
  const worse = (a: number, b: number) =>
    heapScore[a] < heapScore[b] || (heapScore[a] === heapScore[b] && heapIdx[a] > heapIdx[b]);
  const swap = (a: number, b: number) => {
    [heapIdx[a], heapIdx[b]] = [heapIdx[b], heapIdx[a]];
    [heapScore[a], heapScore[b]] = [heapScore[b], heapScore[a]];
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heapIdx.length && worse(l, m)) m = l;
      if (r < heapIdx.length && worse(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  if (k <= 0) return [];
  for (let i = 0; i < scores.length; i++) {
    if (exclude?.has(i)) continue;
    const s = scores[i];
    if (Number.isNaN(s)) continue;
    if (heapIdx.length < k) {
      heapIdx.push(i);
      heapScore.push(s);
      for (let c = heapIdx.length - 1; c > 0; ) {
        const p = (c - 1) >> 1;
        if (!worse(c, p)) break;
        swap(c, p);
        c = p;
      }
    } else if (s > heapScore[0]) {
      heapIdx[0] = i;
      heapScore[0] = s;
      down(0);
    }
  }
  const out = heapIdx.map((index, j) => ({ index, score: heapScore[j] }));
  out.sort((a, b) => b.score - a.score || a.index - b.index);
  return out;
}
