/**
 * Worker thread of the blocked sweep (model/spd-inverse.ts): instantiates the SIMD kernels on the
 * shared WebAssembly memory once, then runs its share of each block step on request.
 */
import { parentPort } from 'node:worker_threads';
import { instantiateSweep, runTask, type SweepKernels, type SweepTask } from './spd-inverse';

let kernels: SweepKernels | undefined;

parentPort!.on('message', async (msg: { module?: WebAssembly.Module; memory?: WebAssembly.Memory; task?: SweepTask }) => {
  if (msg.module && msg.memory) {
    kernels = await instantiateSweep(msg.module, msg.memory);
    parentPort!.postMessage({ ready: true });
    return;
  }
  runTask(kernels!, msg.task!);
  parentPort!.postMessage({ done: true });
});
