/**
 * iALS on several cores, with the rows of each half-epoch split across worker threads by estimated
 * work (|row| + D per row). With the TypeScript kernel the factors are bit-identical to
 * `trainIals` for any thread count (every row solve is independent and deterministic); the
 * default WebAssembly SIMD kernel (model/wasm/) accumulates dot products in float32 and matches
 * it to rounding.
 * Factor matrices and the interaction matrices live in SharedArrayBuffers: nothing is copied per
 * epoch except the D×D Gram matrix.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { gram } from '@edge-recs/core/linalg';
import { type IalsModel, type IalsParams, initFactors, itemWeightsFor, type SideWeights, type TrainOptions, trainingLoss } from './ials';
import type { WorkerInit, WorkerTask } from './ials-worker';
import { Rng } from './rng';
import { type Csr, transpose } from './sparse';
import { Arena, allocScratch, compileNnzModule, type KernelScratch } from './wasm/kernel';
import { callWorker } from './worker-call';

/** What the iALS worker threads are sent (model/ials-worker.ts). */
type WorkerMessage = { init?: WorkerInit; task?: WorkerTask };

function shared<T extends Float32Array | Float64Array | Int32Array>(a: T): T {
  const Ctor = a.constructor as { new (buf: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number };
  const out = new Ctor(new SharedArrayBuffer(Math.max(1, a.length) * Ctor.BYTES_PER_ELEMENT));
  out.set(a as never);
  return (a.length === 0 ? out.subarray(0, 0) : out) as T;
}

function sharedCsr(m: Csr): Csr {
  return { rows: m.rows, cols: m.cols, rowPtr: shared(m.rowPtr), colIdx: shared(m.colIdx), values: shared(m.values) };
}

/** Splits [0, rows) into `parts` ranges of roughly equal work (nnz + D per row). */
export function balancedRanges(m: Csr, parts: number, dims: number): [number, number][] {
  const total = m.rowPtr[m.rows] + m.rows * dims;
  const ranges: [number, number][] = [];
  let start = 0;
  for (let p = 1; p <= parts; p++) {
    const target = (total * p) / parts;
    let end = start;
    while (end < m.rows && m.rowPtr[end] + end * dims < target) end++;
    if (p === parts) end = m.rows;
    ranges.push([start, end]);
    start = end;
  }
  return ranges;
}

export interface ParallelOptions extends TrainOptions {
  threads?: number;
  /** 'wasm' (default when D is a multiple of 4): the SIMD kernel; 'js': the TypeScript reference, bit-identical to trainIals */
  kernel?: 'wasm' | 'js';
}

function maxRowLength(m: Csr): number {
  let max = 0;
  for (let r = 0; r < m.rows; r++) max = Math.max(max, m.rowPtr[r + 1] - m.rowPtr[r]);
  return max;
}

/** Everything the worker threads share: matrices and factors in shared memory, and the side weights. */
interface SharedState {
  userItems: Csr;
  itemUsers: Csr;
  /** U×D and N×D, row-major, shared */
  userFactors: Float32Array;
  itemFactors: Float32Array;
  /** p_i, the popularity-aware unobserved weights (mean 1) */
  itemWeights: Float32Array;
  userSide: SideWeights;
  itemSide: SideWeights;
  /** the SIMD kernel's module, its one shared memory and each thread's scratch (null: TypeScript kernel) */
  wasm: { module: WebAssembly.Module; memory: WebAssembly.Memory; scratch: KernelScratch[] } | null;
}

/**
 * Lays the training state out in shared memory. With the SIMD kernel everything it addresses
 * lives in one shared WebAssembly memory; otherwise in plain SharedArrayBuffers. Factors are
 * initialised in the same order as trainIals, so the TypeScript kernel matches it exactly.
 */
async function sharedState(userItemsIn: Csr, params: IalsParams, threads: number, useWasm: boolean): Promise<SharedState> {
  const dims = params.factors;
  const rng = new Rng(params.seed);
  const itemUsersIn = transpose(userItemsIn);
  const p = itemWeightsFor(userItemsIn, params.popularityExponent);
  const userSide: SideWeights = {
    rowScale: shared(new Float32Array(userItemsIn.rows).fill(params.unobservedWeight)),
    colWeight: shared(p),
  };
  const itemSide: SideWeights = {
    rowScale: shared(p.map((x) => x * params.unobservedWeight)),
    colWeight: shared(new Float32Array(userItemsIn.rows).fill(1)),
  };
  const userInit = initFactors(userItemsIn.rows, dims, params.initScale, rng);
  const itemInit = initFactors(userItemsIn.cols, dims, params.initScale, rng);
  const common = { itemWeights: p, userSide, itemSide };
  if (!useWasm) {
    return {
      ...common,
      userItems: sharedCsr(userItemsIn),
      itemUsers: sharedCsr(itemUsersIn),
      userFactors: shared(userInit),
      itemFactors: shared(itemInit),
      wasm: null,
    };
  }
  const maxRow = Math.max(maxRowLength(userItemsIn), maxRowLength(itemUsersIn));
  const nnz = userItemsIn.rowPtr[userItemsIn.rows];
  const arena = new Arena(
    Arena.bytesFor(userInit.length, itemInit.length, nnz, nnz) + threads * Arena.bytesFor(dims, dims, maxRow, maxRow),
  );
  const userFactors = arena.f32(userInit.length);
  userFactors.set(userInit);
  const itemFactors = arena.f32(itemInit.length);
  itemFactors.set(itemInit);
  const uCols = arena.i32(nnz);
  uCols.set(userItemsIn.colIdx);
  const iCols = arena.i32(nnz);
  iCols.set(itemUsersIn.colIdx);
  return {
    ...common,
    userItems: { ...sharedCsr(userItemsIn), colIdx: uCols },
    itemUsers: { ...sharedCsr(itemUsersIn), colIdx: iCols },
    userFactors,
    itemFactors,
    wasm: {
      module: await compileNnzModule(),
      memory: arena.memory,
      scratch: Array.from({ length: threads }, () => allocScratch(arena, dims, maxRow)),
    },
  };
}

/**
 * Trains iALS on `threads` worker threads: per epoch, the user half-step over balanced row
 * ranges (against the weighted item Gram matrix), then the item half-step.
 * @param userItemsIn  U×N interaction strengths
 * @returns            the same model trainIals returns (bit-identical with kernel 'js')
 */
export async function trainIalsParallel(userItemsIn: Csr, params: IalsParams, opts: ParallelOptions = {}): Promise<IalsModel> {
  const threads = Math.max(1, opts.threads ?? availableParallelism());
  const dims = params.factors;
  const useWasm = (opts.kernel ?? 'wasm') === 'wasm' && dims % 4 === 0 && params.solver === 'cg';
  const st = await sharedState(userItemsIn, params, threads, useWasm);
  const { userItems, itemUsers, userFactors, itemFactors, itemWeights: p } = st;
  const workers = Array.from({ length: threads }, () => new Worker(new URL('./ials-worker-boot.mjs', import.meta.url)));
  try {
    await Promise.all(
      workers.map((w, k) => {
        const init: WorkerInit = { params, userItems, itemUsers, userFactors, itemFactors, userSide: st.userSide, itemSide: st.itemSide };
        if (st.wasm) init.wasm = { module: st.wasm.module, memory: st.wasm.memory, scratch: st.wasm.scratch[k] };
        return callWorker(w, { init } satisfies WorkerMessage);
      }),
    );
    const userRanges = balancedRanges(userItems, threads, dims);
    const itemRanges = balancedRanges(itemUsers, threads, dims);
    for (let epoch = 1; epoch <= params.iterations; epoch++) {
      const t0 = performance.now();
      const gi = gram(itemFactors, itemUsers.rows, dims, p);
      await Promise.all(
        workers.map((w, k) =>
          callWorker(w, { task: { side: 'users', from: userRanges[k][0], to: userRanges[k][1], gram: gi } } satisfies WorkerMessage),
        ),
      );
      const gu = gram(userFactors, userItems.rows, dims);
      await Promise.all(
        workers.map((w, k) =>
          callWorker(w, { task: { side: 'items', from: itemRanges[k][0], to: itemRanges[k][1], gram: gu } } satisfies WorkerMessage),
        ),
      );
      const seconds = (performance.now() - t0) / 1000;
      const loss = opts.computeLoss ? trainingLoss(userItems, userFactors, itemFactors, params, p) : undefined;
      opts.onEpoch?.({ epoch, seconds, loss });
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return {
    params,
    dims,
    userCount: userItems.rows,
    itemCount: userItems.cols,
    userFactors: Float32Array.from(userFactors),
    itemFactors: Float32Array.from(itemFactors),
    itemWeights: p,
  };
}
