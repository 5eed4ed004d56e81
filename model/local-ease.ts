/**
 * The approximate item model for catalogues above the exact solver's bound ("local EASE"): EASE's
 * own regression, restricted per target item to the items it co-occurs with most.
 *
 * Column k of EASE's B is a ridge regression of item k's column on every other item's:
 *
 *   b_k = argmin ‖x_k − X·b‖² + bᵀΛb  subject to b_k = 0   ⇔   (G + Λ)₋ₖ,₋ₖ · b = G₋ₖ,ₖ
 *
 * (G = XᵀX, Λ = diag(λ + c·G_jj) as in model/item-model.ts). The dense inverse solves all n of
 * these (n−1)-sized systems at once, for n³ flops and 8·n² bytes. Here each one is cut down to the
 * neighbourhood S_k = the M items with the largest co-occurrence count G_jk > 0 (ties: lower index):
 *
 *   (G_SS + Λ_S) · b = G_S,k        an M×M SPD system, Cholesky
 *   B_jk = b_j (j ∈ S_k), 0 elsewhere
 *
 * then the same debiasing W_jk = B_jk·(G_kk + 1)^−γ, top-N of each row j and quantisation as
 * `sparsify`. When S_k holds every other item (M ≥ n − 1 and all pairs co-occur) it is exact EASE,
 * which the tests check; otherwise items outside S_k get 0 instead of EASE's (mostly small)
 * weights, and the top-N cut keeps only positive weights anyway. The cost is the sparse Gram
 * matrix (Σ over rows of |row|² increments; 8 bytes per co-occurring ordered pair) plus n systems
 * of ≈ M³/6 multiply-adds: linear in n at a fixed M, and no items × items matrix is ever formed.
 *
 * Two implementations, same answer: `localEaseReference` (dense G, a dense B, then `sparsify`:
 * small inputs only, the tests' oracle) and `localEase` (the sparse Gram matrix with sorted rows,
 * each neighbourhood block gathered from it, per-row top-N heaps filled as the columns are
 * solved; optionally on worker threads, which share the Gram matrix and take chunks of items from
 * a queue).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { cholesky, choleskySolve } from '@edge-recs/core/linalg';
import { type ItemItemSolver, type ItemModelParams, itemGram, type NeighbourLists, quantise, sparsify } from './item-model';
import type { Csr } from './sparse';
import { callWorker } from './worker-call';

/**
 * M, the neighbourhood of each regression. Measured on Online Retail against exact EASE (split
 * seeds 2024, 7, 11, the same iALS model; BENCHMARKS.md, "Item model: training time"): at 128 the
 * served blend's NDCG@100 is 0.999–1.004× exact's (the item model alone 0.991–1.000×); at 64 it
 * drops to 0.981–0.996× (alone 0.970–0.988×); 256 gained nothing measurable on seed 2024 for 4×
 * the time of the solves, which grows as M³.
 */
export const DEFAULT_NEIGHBOURHOOD = 128;

export interface LocalEaseOptions {
  /** M: co-occurring items each item's regression uses (default DEFAULT_NEIGHBOURHOOD) */
  neighbourhood?: number;
  /** worker threads for the Gram rows and the regressions (default 1: this thread only) */
  threads?: number;
  /** one line per phase, with its time */
  log?: (line: string) => void;
  /** the phases' times and the Gram matrix's size, once a fit is done (for benchmarks) */
  onTimings?: (t: LocalEaseTimings) => void;
}

export interface LocalEaseTimings {
  gramSeconds: number;
  solveSeconds: number;
  /** stored off-diagonal co-occurrence entries (8 bytes each) */
  gramEntries: number;
  threads: number;
}

/** The binarised interaction pattern in both orientations (zeros dropped). */
export interface Pattern {
  rows: number;
  n: number;
  /** row r's items: col[rowPtr[r]..rowPtr[r+1]] */
  rowPtr: Int32Array;
  col: Int32Array;
  /** item j's rows: itemRows[itemPtr[j]..itemPtr[j+1]] */
  itemPtr: Int32Array;
  itemRows: Int32Array;
}

/**
 * Off-diagonal co-occurrence counts G_jk = |{rows containing j and k}| (j ≠ k, only the non-zero
 * ones) of a binarised matrix, CSR with every row sorted by column, and the diagonal G_jj apart.
 */
export interface SparseGram {
  n: number;
  /** G_jj: how many rows contain item j */
  diag: Float64Array;
  /** rowPtr[j]..rowPtr[j+1] index into col/count; length n + 1 */
  rowPtr: Int32Array;
  /** ascending within a row */
  col: Int32Array;
  count: Int32Array;
}

/** Typed arrays on SharedArrayBuffers when worker threads will read them, plain ones otherwise. */
const alloc = <T extends Int32Array | Float64Array>(
  ctor: { new (b: ArrayBufferLike): T; BYTES_PER_ELEMENT: number },
  length: number,
  shared: boolean,
): T => new ctor(shared ? new SharedArrayBuffer(length * ctor.BYTES_PER_ELEMENT) : new ArrayBuffer(length * ctor.BYTES_PER_ELEMENT));

export function pattern(x: Csr, shared = false): Pattern {
  let nnz = 0;
  for (let p = 0; p < x.rowPtr[x.rows]; p++) if (x.values[p] !== 0) nnz++;
  const rowPtr = alloc(Int32Array, x.rows + 1, shared);
  const col = alloc(Int32Array, nnz, shared);
  let w = 0;
  for (let r = 0; r < x.rows; r++) {
    for (let p = x.rowPtr[r]; p < x.rowPtr[r + 1]; p++) if (x.values[p] !== 0) col[w++] = x.colIdx[p];
    rowPtr[r + 1] = w;
  }
  const itemPtr = alloc(Int32Array, x.cols + 1, shared);
  for (let p = 0; p < nnz; p++) itemPtr[col[p] + 1]++;
  for (let j = 0; j < x.cols; j++) itemPtr[j + 1] += itemPtr[j];
  const fill = itemPtr.slice(0, x.cols);
  const itemRows = alloc(Int32Array, nnz, shared);
  for (let r = 0; r < x.rows; r++) for (let p = rowPtr[r]; p < rowPtr[r + 1]; p++) itemRows[fill[col[p]]++] = r;
  return { rows: x.rows, n: x.cols, rowPtr, col, itemPtr, itemRows };
}

/** Rows [from, to) of the sparse Gram matrix, concatenated. */
export interface GramRows {
  from: number;
  to: number;
  /** entries per row, length to − from */
  rowLen: Int32Array;
  col: Int32Array;
  count: Int32Array;
}

/**
 * Rows [from, to) of G: row j adds up the items of every row containing j in a dense counter,
 * then sorts the touched columns. Work: Σ over j's rows of their lengths.
 */
export function gramRows(pt: Pattern, from: number, to: number): GramRows {
  const acc = new Int32Array(pt.n);
  const touched = new Int32Array(pt.n);
  const rowLen = new Int32Array(to - from);
  let col = new Int32Array(1 << 16),
    count = new Int32Array(1 << 16);
  let w = 0;
  for (let j = from; j < to; j++) {
    let t = 0;
    for (let q = pt.itemPtr[j]; q < pt.itemPtr[j + 1]; q++) {
      const r = pt.itemRows[q];
      for (let p = pt.rowPtr[r]; p < pt.rowPtr[r + 1]; p++) {
        const l = pt.col[p];
        if (acc[l]++ === 0) touched[t++] = l;
      }
    }
    acc[j] = 0; // the diagonal is kept apart
    const cols = touched.subarray(0, t).sort();
    if (w + t > col.length) {
      const grow = Math.max(2 * col.length, w + t);
      const c2 = new Int32Array(grow),
        n2 = new Int32Array(grow);
      c2.set(col.subarray(0, w));
      n2.set(count.subarray(0, w));
      col = c2;
      count = n2;
    }
    const start = w;
    for (let i = 0; i < t; i++) {
      const l = cols[i];
      if (acc[l] === 0) continue; // j itself
      col[w] = l;
      count[w++] = acc[l];
      acc[l] = 0;
    }
    rowLen[j - from] = w - start;
  }
  return { from, to, rowLen, col: col.slice(0, w), count: count.slice(0, w) };
}

/** Joins row chunks (any order, together covering [0, n)) into one SparseGram. */
export function joinGram(pt: Pattern, chunks: GramRows[], shared = false): SparseGram {
  const n = pt.n;
  chunks.sort((a, b) => a.from - b.from);
  let nnz = 0;
  for (const c of chunks) nnz += c.col.length;
  if (nnz > 2 ** 31 - 1) throw new Error(`the co-occurrence matrix has ${nnz} entries, more than one typed array holds`);
  const rowPtr = alloc(Int32Array, n + 1, shared);
  const col = alloc(Int32Array, nnz, shared);
  const count = alloc(Int32Array, nnz, shared);
  let w = 0;
  for (const c of chunks) {
    col.set(c.col, w);
    count.set(c.count, w);
    for (let j = c.from; j < c.to; j++) {
      w += c.rowLen[j - c.from];
      rowPtr[j + 1] = w;
    }
  }
  const diag = alloc(Float64Array, n, shared);
  for (let j = 0; j < n; j++) diag[j] = pt.itemPtr[j + 1] - pt.itemPtr[j];
  return { n, diag, rowPtr, col, count };
}

export function sparseGram(x: Csr): SparseGram {
  const pt = pattern(x);
  return joinGram(pt, [gramRows(pt, 0, pt.n)]);
}

/** The regression columns of targets [from, to): S_k and b for each k, concatenated. */
export interface LocalColumns {
  from: number;
  to: number;
  /** |S_k| per target, length to − from */
  size: Int32Array;
  /** S_k (ascending) of each target, concatenated */
  index: Int32Array;
  /** B_jk for j ∈ S_k, aligned with index */
  weight: Float64Array;
}

/**
 * Solves the local regressions of targets [from, to) over the sparse Gram matrix. Scratch space
 * is O(n + M²); the n-sized position map is reset after each target.
 */
export class LocalSolver {
  private readonly pos: Int32Array;
  private readonly a: Float64Array;
  private readonly rhs: Float64Array;
  private readonly s: Int32Array;
  /** selection heap: candidate columns and their counts */
  private readonly hc: Int32Array;
  private readonly hn: Int32Array;

  constructor(
    private readonly g: SparseGram,
    private readonly lambda: number,
    private readonly dropout: number,
    readonly m: number,
  ) {
    this.pos = new Int32Array(g.n).fill(-1);
    this.a = new Float64Array(m * m);
    this.rhs = new Float64Array(m);
    this.s = new Int32Array(m);
    this.hc = new Int32Array(m);
    this.hn = new Int32Array(m);
  }

  /**
   * S_k into this.s[0..size) ascending and G_S,k into this.rhs: the M largest counts of row k,
   * ties to the lower column (a min-heap on (count, −column) of the best M).
   */
  private select(k: number): number {
    const { rowPtr, col, count } = this.g;
    const start = rowPtr[k],
      len = rowPtr[k + 1] - start,
      M = this.m;
    if (len <= M) {
      for (let i = 0; i < len; i++) {
        this.s[i] = col[start + i];
        this.rhs[i] = count[start + i];
      }
      return len;
    }
    const hc = this.hc,
      hn = this.hn;
    // worse(a, b): a would leave the heap before b
    const worse = (a: number, b: number) => hn[a] < hn[b] || (hn[a] === hn[b] && hc[a] > hc[b]);
    for (let i = 0; i < M; i++) {
      hc[i] = col[start + i];
      hn[i] = count[start + i];
    }
    const down = (i: number) => {
      for (;;) {
        const l = 2 * i + 1,
          r = l + 1;
        let w = i;
        if (l < M && worse(l, w)) w = l;
        if (r < M && worse(r, w)) w = r;
        if (w === i) return;
        const tc = hc[i],
          tn = hn[i];
        hc[i] = hc[w];
        hn[i] = hn[w];
        hc[w] = tc;
        hn[w] = tn;
        i = w;
      }
    };
    for (let i = (M >> 1) - 1; i >= 0; i--) down(i);
    for (let p = start + M; p < start + len; p++) {
      // columns arrive ascending, so an equal count never displaces (the heap's holds a lower column)
      if (count[p] > hn[0]) {
        hc[0] = col[p];
        hn[0] = count[p];
        down(0);
      }
    }
    // back to ascending column order, counts alongside
    for (let i = 0; i < M; i++) this.pos[hc[i]] = hn[i];
    const sorted = this.hc.slice().sort();
    for (let i = 0; i < M; i++) {
      this.s[i] = sorted[i];
      this.rhs[i] = this.pos[sorted[i]];
      this.pos[sorted[i]] = -1;
    }
    return M;
  }

  /**
   * b = (G_SS + Λ_S)⁻¹ G_S,k for target k: returns |S_k|, with S_k in `s` and b in `rhs`.
   */
  solve(k: number): { size: number; s: Int32Array; b: Float64Array } {
    const size = this.select(k);
    if (size === 0) return { size, s: this.s, b: this.rhs };
    const { rowPtr, col, count, diag } = this.g;
    const { s, pos, a } = this;
    for (let i = 0; i < size; i++) pos[s[i]] = i;
    // lower triangle of G_SS + Λ_S (stride = size): row i takes the columns of row s[i] of G
    // below s[i] that lie in S — a scan of that prefix when it is short, a galloping search for
    // each earlier member of S when the row is long (a popular item's row spans most items)
    for (let i = 0; i < size; i++) {
      const j = s[i],
        ri = i * size;
      for (let c = 0; c < i; c++) a[ri + c] = 0;
      a[ri + i] = diag[j] + this.lambda + this.dropout * diag[j];
      if (i === 0) continue;
      const lo = rowPtr[j];
      const end = lowerBound(col, lo, rowPtr[j + 1], j);
      if (end - lo <= 8 * i) {
        for (let p = lo; p < end; p++) {
          const c = pos[col[p]];
          if (c >= 0) a[ri + c] = count[p];
        }
      } else {
        let p = lo;
        for (let c = 0; c < i; c++) {
          p = gallop(col, p, end, s[c]);
          if (p === end) break;
          if (col[p] === s[c]) a[ri + c] = count[p];
        }
      }
    }
    for (let i = 0; i < size; i++) pos[s[i]] = -1;
    const l = a.subarray(0, size * size);
    if (!choleskyUnrolled(l, size)) throw new Error('local EASE: G_SS + Λ is not positive definite (λ must be > 0)');
    const b = this.rhs.subarray(0, size);
    choleskySolve(l, size, b);
    return { size, s: this.s, b: this.rhs };
  }

  /** Targets [from, to), packed for the heaps (or for a message from a worker thread). */
  columns(from: number, to: number): LocalColumns {
    const size = new Int32Array(to - from);
    let index = new Int32Array(Math.min(this.m, this.g.n) * 64),
      weight = new Float64Array(index.length);
    let w = 0;
    for (let k = from; k < to; k++) {
      const r = this.solve(k);
      if (w + r.size > index.length) {
        const i2 = new Int32Array(2 * index.length + r.size),
          w2 = new Float64Array(i2.length);
        i2.set(index.subarray(0, w));
        w2.set(weight.subarray(0, w));
        index = i2;
        weight = w2;
      }
      index.set(r.s.subarray(0, r.size), w);
      weight.set(r.b.subarray(0, r.size), w);
      w += r.size;
      size[k - from] = r.size;
    }
    return { from, to, size, index: index.slice(0, w), weight: weight.slice(0, w) };
  }
}

/**
 * core/linalg's `cholesky` (the reference; the tests compare them) with the row offsets hoisted
 * and the dot products split over four accumulators: ~1.3× faster at M = 128, where the
 * factorisation is most of the time of a regression.
 * @param a  n×n row-major; the lower triangle is read and overwritten with L (A = LLᵀ)
 */
export function choleskyUnrolled(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j];
    for (let k = 0; k < j; k++) d -= a[rj + k] * a[rj + k];
    if (!(d > 0)) return false;
    const ljj = Math.sqrt(d);
    a[rj + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s0 = a[ri + j],
        s1 = 0,
        s2 = 0,
        s3 = 0;
      let k = 0;
      for (; k + 3 < j; k += 4) {
        s0 -= a[ri + k] * a[rj + k];
        s1 -= a[ri + k + 1] * a[rj + k + 1];
        s2 -= a[ri + k + 2] * a[rj + k + 2];
        s3 -= a[ri + k + 3] * a[rj + k + 3];
      }
      for (; k < j; k++) s0 -= a[ri + k] * a[rj + k];
      a[ri + j] = (s0 + s1 + s2 + s3) / ljj;
    }
  }
  return true;
}

/** First p in [lo, hi) with a[p] ≥ v (a ascending). */
function lowerBound(a: Int32Array, lo: number, hi: number, v: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** lowerBound from lo, probing 1, 2, 4, … ahead first: cheap when the answer is near lo. */
function gallop(a: Int32Array, lo: number, hi: number, v: number): number {
  if (lo >= hi || a[lo] >= v) return lo;
  let step = 1;
  let prev = lo;
  while (lo + step < hi && a[lo + step] < v) {
    prev = lo + step;
    step *= 2;
  }
  return lowerBound(a, prev + 1, Math.min(hi, lo + step + 1), v);
}

/**
 * Per-row top-N of the debiased weights W_jk = B_jk·(G_kk + 1)^−γ, filled column by column as the
 * targets k are solved; ties prefer the lower k, as `sparsify`. Rows are min-heaps of N entries
 * (N·12 bytes per item).
 */
export class RowHeaps {
  private readonly hw: Float64Array;
  private readonly hi: Int32Array;
  private readonly size: Int32Array;
  private readonly scaleTo: Float64Array;
  readonly keep: number;

  constructor(
    readonly n: number,
    diag: ArrayLike<number>,
    params: Pick<ItemModelParams, 'neighbours' | 'popularityDebias'>,
  ) {
    this.keep = Math.max(0, Math.min(params.neighbours, n - 1));
    this.hw = new Float64Array(n * this.keep);
    this.hi = new Int32Array(n * this.keep);
    this.size = new Int32Array(n);
    this.scaleTo = new Float64Array(n);
    for (let k = 0; k < n; k++) this.scaleTo[k] = (diag[k] + 1) ** -params.popularityDebias;
  }

  add(c: LocalColumns): void {
    let p = 0;
    for (let k = c.from; k < c.to; k++) {
      const sk = this.scaleTo[k];
      for (const end = p + c.size[k - c.from]; p < end; p++) {
        const v = c.weight[p] * sk;
        if (v > 0) this.push(c.index[p], v, k); // only positive weights: neighbour scores only ever raise an item
      }
    }
  }

  private push(j: number, v: number, k: number): void {
    const keep = this.keep;
    if (keep === 0) return;
    const base = j * keep,
      hw = this.hw,
      hi = this.hi;
    // worse(a, b): a leaves the heap before b (smaller weight; on a tie, the larger index)
    const worse = (a: number, b: number) => hw[a] < hw[b] || (hw[a] === hw[b] && hi[a] > hi[b]);
    let size = this.size[j];
    if (size < keep) {
      let c = base + size;
      hw[c] = v;
      hi[c] = k;
      this.size[j] = ++size;
      while (c > base) {
        const par = base + ((c - base - 1) >> 1);
        if (!worse(c, par)) break;
        swap(hw, hi, c, par);
        c = par;
      }
      return;
    }
    if (!(v > hw[base] || (v === hw[base] && k < hi[base]))) return;
    hw[base] = v;
    hi[base] = k;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1,
        r = l + 1;
      let w = i;
      if (l < keep && worse(base + l, base + w)) w = l;
      if (r < keep && worse(base + r, base + w)) w = r;
      if (w === i) return;
      swap(hw, hi, base + i, base + w);
      i = w;
    }
  }

  /** The lists, best first, quantised as stored. */
  lists(weightType: 'int8' | 'float16'): NeighbourLists {
    const n = this.n;
    const rowPtr = new Int32Array(n + 1);
    let nnz = 0;
    for (let j = 0; j < n; j++) nnz += this.size[j];
    const index = new Int32Array(nnz);
    const raw = new Float64Array(nnz);
    let w = 0;
    for (let j = 0; j < n; j++) {
      const base = j * this.keep;
      const order = Array.from({ length: this.size[j] }, (_, t) => base + t).sort(
        (a, b) => this.hw[b] - this.hw[a] || this.hi[a] - this.hi[b],
      );
      for (const t of order) {
        index[w] = this.hi[t];
        raw[w++] = this.hw[t];
      }
      rowPtr[j + 1] = w;
    }
    return quantise({ n, rowPtr, index, raw }, weightType);
  }
}

function swap(hw: Float64Array, hi: Int32Array, a: number, b: number): void {
  const tw = hw[a],
    ti = hi[a];
  hw[a] = hw[b];
  hi[a] = hi[b];
  hw[b] = tw;
  hi[b] = ti;
}

/**
 * Reference: the same model through dense matrices (n² memory: small inputs only).
 * @returns the lists, and the dense local B (items × items, row j = what item j gives) for tests
 */
export function localEaseReference(
  x: Csr,
  params: ItemModelParams,
  neighbourhood = DEFAULT_NEIGHBOURHOOD,
): { lists: NeighbourLists; b: Float64Array } {
  const n = x.cols;
  const g = itemGram(x);
  const diag = new Float64Array(n);
  for (let j = 0; j < n; j++) diag[j] = g[j * n + j];
  const b = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const s = Array.from({ length: n }, (_, j) => j)
      .filter((j) => j !== k && g[j * n + k] > 0)
      .sort((i, j) => g[j * n + k] - g[i * n + k] || i - j)
      .slice(0, neighbourhood)
      .sort((i, j) => i - j);
    const m = s.length;
    if (m === 0) continue;
    const a = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let c = 0; c < m; c++) a[i * m + c] = g[s[i] * n + s[c]];
    for (let i = 0; i < m; i++) a[i * m + i] += params.lambda + params.dropout * diag[s[i]];
    const rhs = Float64Array.from(s, (j) => g[j * n + k]);
    if (!cholesky(a, m)) throw new Error('not positive definite');
    choleskySolve(a, m, rhs);
    s.forEach((j, i) => {
      b[j * n + k] = rhs[i];
    });
  }
  return { lists: sparsify(b, n, diag, params), b };
}

/** Items per task handed to a worker thread: small enough to balance popular and rare items. */
const GRAM_CHUNK = 512;
const SOLVE_CHUNK = 256;

/**
 * Local EASE as an ItemItemSolver: any item count (memory: the sparse Gram matrix, 8 bytes per
 * co-occurring ordered pair, plus 12·N bytes per item for the heaps).
 */
export function localEase(opts: LocalEaseOptions = {}): ItemItemSolver {
  const M = opts.neighbourhood ?? DEFAULT_NEIGHBOURHOOD;
  const log = opts.log ?? (() => {});
  return {
    name: `local-ease(M=${M})`,
    maxItems: Number.POSITIVE_INFINITY,
    async fit(x, params) {
      const threads = Math.max(1, Math.min(opts.threads ?? 1, availableParallelism(), 16));
      const t0 = performance.now();
      const shared = threads > 1;
      const pt = pattern(x, shared);
      const pool = shared ? await LocalPool.start(threads, pt) : undefined;
      try {
        const chunks = pool ? await pool.gram(pt.n, GRAM_CHUNK) : [gramRows(pt, 0, pt.n)];
        const g = joinGram(pt, chunks, shared);
        chunks.length = 0;
        const t1 = performance.now();
        log(`co-occurrence matrix: ${x.cols} items, ${g.rowPtr[g.n]} non-zero pairs in ${((t1 - t0) / 1000).toFixed(1)}s`);
        const heaps = new RowHeaps(g.n, g.diag, params);
        if (pool) await pool.solve(g, params, M, SOLVE_CHUNK, (c) => heaps.add(c));
        else {
          const solver = new LocalSolver(g, params.lambda, params.dropout, M);
          for (let k = 0; k < g.n; k += SOLVE_CHUNK) heaps.add(solver.columns(k, Math.min(g.n, k + SOLVE_CHUNK)));
        }
        const t2 = performance.now();
        log(`local regressions (M=${M}, ${threads} thread${threads > 1 ? 's' : ''}) in ${((t2 - t1) / 1000).toFixed(1)}s`);
        opts.onTimings?.({ gramSeconds: (t1 - t0) / 1000, solveSeconds: (t2 - t1) / 1000, gramEntries: g.rowPtr[g.n], threads });
        return heaps.lists(params.weightType);
      } finally {
        await pool?.close();
      }
    },
  };
}

/** Messages to a worker thread of model/local-ease-worker.ts. */
export type LocalTask =
  | { kind: 'init'; pattern: Pattern }
  | { kind: 'gram'; from: number; to: number }
  | { kind: 'matrix'; gram: SparseGram; lambda: number; dropout: number; m: number }
  | { kind: 'solve'; from: number; to: number };

/** Worker threads pulling chunks of items from a queue; results come back as they finish. */
class LocalPool {
  private constructor(private readonly workers: Worker[]) {}

  static async start(threads: number, pt: Pattern): Promise<LocalPool> {
    const workers = Array.from({ length: threads }, () => new Worker(new URL('./local-ease-worker-boot.mjs', import.meta.url)));
    const pool = new LocalPool(workers);
    await Promise.all(workers.map((w) => callWorker(w, { kind: 'init', pattern: pt } satisfies LocalTask)));
    return pool;
  }

  /** Runs task(from, to) over [0, n) in chunks, each worker taking the next chunk when free. */
  private async queue<T>(n: number, chunk: number, task: (from: number, to: number) => LocalTask, done: (r: T) => void): Promise<void> {
    let next = 0;
    await Promise.all(
      this.workers.map(async (w) => {
        while (next < n) {
          const from = next;
          next = Math.min(n, next + chunk);
          done(await callWorker<T>(w, task(from, next)));
        }
      }),
    );
  }

  async gram(n: number, chunk: number): Promise<GramRows[]> {
    const out: GramRows[] = [];
    await this.queue<GramRows>(
      n,
      chunk,
      (from, to) => ({ kind: 'gram', from, to }),
      (r) => out.push(r),
    );
    return out;
  }

  async solve(g: SparseGram, params: ItemModelParams, m: number, chunk: number, done: (c: LocalColumns) => void): Promise<void> {
    await Promise.all(
      this.workers.map((w) =>
        callWorker(w, { kind: 'matrix', gram: g, lambda: params.lambda, dropout: params.dropout, m } satisfies LocalTask),
      ),
    );
    await this.queue<LocalColumns>(g.n, chunk, (from, to) => ({ kind: 'solve', from, to }), done);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
