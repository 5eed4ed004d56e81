/**
 * iALS on several cores: the same algorithm and the same result as `trainIals` (every row solve is
 * independent and deterministic, so the factors are bit-identical for any thread count), with the
 * rows of each half-epoch split across worker threads by estimated work (|row| + D per row).
 * Factor matrices and the interaction matrices live in SharedArrayBuffers: nothing is copied per
 * epoch except the D×D Gram matrix.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { gram } from '../src/core/linalg';
import { initFactors, itemWeightsFor, trainingLoss, type IalsModel, type IalsParams, type SideWeights, type TrainOptions } from './ials';
import { Rng } from './rng';
import { transpose, type Csr } from './sparse';
import type { WorkerInit, WorkerTask } from './ials-worker';

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
}

export async function trainIalsParallel(userItemsIn: Csr, params: IalsParams, opts: ParallelOptions = {}): Promise<IalsModel> {
  const threads = Math.max(1, opts.threads ?? availableParallelism());
  const dims = params.factors;
  const rng = new Rng(params.seed);
  const userItems = sharedCsr(userItemsIn);
  const itemUsers = sharedCsr(transpose(userItemsIn));
  const p = itemWeightsFor(userItemsIn, params.popularityExponent);
  const userSide: SideWeights = { rowScale: shared(new Float32Array(userItems.rows).fill(params.unobservedWeight)), colWeight: shared(p) };
  const itemSide: SideWeights = { rowScale: shared(p.map((x) => x * params.unobservedWeight)), colWeight: shared(new Float32Array(userItems.rows).fill(1)) };
  // same initialisation order as trainIals, so results match it exactly
  const userFactors = shared(initFactors(userItems.rows, dims, params.initScale, rng));
  const itemFactors = shared(initFactors(userItems.cols, dims, params.initScale, rng));

  const workers = Array.from({ length: threads }, () => new Worker(new URL('./ials-worker-boot.mjs', import.meta.url)));
  const call = (w: Worker, msg: { init?: WorkerInit; task?: WorkerTask }) =>
    new Promise<void>((resolve, reject) => {
      const onMessage = () => {
        w.off('error', onError);
        resolve();
      };
      const onError = (err: Error) => {
        w.off('message', onMessage);
        reject(err);
      };
      w.once('message', onMessage);
      w.once('error', onError);
      w.postMessage(msg);
    });
  try {
    const init: WorkerInit = { params, userItems, itemUsers, userFactors, itemFactors, userSide, itemSide };
    await Promise.all(workers.map((w) => call(w, { init })));
    const userRanges = balancedRanges(userItems, threads, dims);
    const itemRanges = balancedRanges(itemUsers, threads, dims);
    for (let epoch = 1; epoch <= params.iterations; epoch++) {
      const t0 = performance.now();
      const gi = gram(itemFactors, itemUsers.rows, dims, p);
      await Promise.all(workers.map((w, k) => call(w, { task: { side: 'users', from: userRanges[k][0], to: userRanges[k][1], gram: gi } })));
      const gu = gram(userFactors, userItems.rows, dims);
      await Promise.all(workers.map((w, k) => call(w, { task: { side: 'items', from: itemRanges[k][0], to: itemRanges[k][1], gram: gu } })));
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
