/**
 * Worker thread for parallel iALS: solves a contiguous range of rows of one side per request,
 * reading and writing factor matrices that live in SharedArrayBuffers owned by the main thread.
 */
import { parentPort } from 'node:worker_threads';
import { solveSide, type IalsParams, type SideWeights } from './ials';
import type { Csr } from './sparse';

export interface WorkerInit {
  params: IalsParams;
  userItems: Csr;
  itemUsers: Csr;
  userFactors: Float32Array;
  itemFactors: Float32Array;
  userSide: SideWeights;
  itemSide: SideWeights;
}

export interface WorkerTask {
  side: 'users' | 'items';
  from: number;
  to: number;
  gram: Float64Array;
}

let state: WorkerInit | undefined;

parentPort!.on('message', (msg: { init?: WorkerInit; task?: WorkerTask }) => {
  if (msg.init) {
    state = msg.init;
    parentPort!.postMessage({ ready: true });
    return;
  }
  const t = msg.task!;
  const s = state!;
  if (t.side === 'users') solveSide(s.userFactors, s.itemFactors, s.userItems, s.params, s.userSide, t.from, t.to, t.gram);
  else solveSide(s.itemFactors, s.userFactors, s.itemUsers, s.params, s.itemSide, t.from, t.to, t.gram);
  parentPort!.postMessage({ done: true });
});
