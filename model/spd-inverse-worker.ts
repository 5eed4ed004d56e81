/**
 * Worker thread of the blocked sweep (model/spd-inverse.ts): instantiates the SIMD kernels on the
 * shared WebAssembly memory once, then runs its share of each block step on request.
 */
import { parentPort } from 'node:worker_threads';
import { instantiateSweep, runTask, type SweepKernels, type SweepTask } from './spd-inverse';

let kernels: SweepKernels | undefined;
const port = parentPort;
if (!port) throw new Error('spd-inverse-worker.ts runs as a worker thread (see spd-inverse.ts)');

port.on('message', async (msg: { module?: WebAssembly.Module; memory?: WebAssembly.Memory; task?: SweepTask }) => {
  if (msg.module && msg.memory) {
    kernels = await instantiateSweep(msg.module, msg.memory);
    port.postMessage({ ready: true });
    return;
  }
  if (!kernels || !msg.task) throw new Error('a task arrived before the worker was initialised');
  runTask(kernels, msg.task);
  port.postMessage({ done: true });
});
