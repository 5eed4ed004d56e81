/**
 * Worker thread for parallel iALS: solves a contiguous range of rows of one side per request,
 * reading and writing factor matrices that live in SharedArrayBuffers owned by the main thread.
 */
import { parentPort } from 'node:worker_threads';
import { type IalsParams, jsKernel, type NnzKernel, type SideWeights, solveSide } from './ials';
import type { Csr } from './sparse';
import { type KernelScratch, WasmNnzKernel } from './wasm/kernel';

export interface WorkerInit {
  params: IalsParams;
  userItems: Csr;
  itemUsers: Csr;
  userFactors: Float32Array;
  itemFactors: Float32Array;
  userSide: SideWeights;
  itemSide: SideWeights;
  /** the SIMD kernel: its module, the shared memory the factors live in, and this worker's scratch */
  wasm?: { module: WebAssembly.Module; memory: WebAssembly.Memory; scratch: KernelScratch };
}

export interface WorkerTask {
  side: 'users' | 'items';
  from: number;
  to: number;
  gram: Float64Array;
}

let state: WorkerInit | undefined;
let kernel: NnzKernel = jsKernel;

const port = parentPort;
if (!port) throw new Error('ials-worker.ts runs as a worker thread (see ials-parallel.ts)');

port.on('message', async (msg: { init?: WorkerInit; task?: WorkerTask }) => {
  if (msg.init) {
    state = msg.init;
    if (state.wasm) kernel = await WasmNnzKernel.create(state.wasm.module, state.wasm.memory, state.wasm.scratch);
    port.postMessage({ ready: true });
    return;
  }
  const t = msg.task;
  const s = state;
  if (!t || !s) throw new Error('a task arrived before the worker was initialised');
  if (t.side === 'users') solveSide(s.userFactors, s.itemFactors, s.userItems, s.params, s.userSide, t.from, t.to, t.gram, kernel);
  else solveSide(s.itemFactors, s.userFactors, s.itemUsers, s.params, s.itemSide, t.from, t.to, t.gram, kernel);
  port.postMessage({ done: true });
});
