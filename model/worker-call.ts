/**
 * One request to a worker thread: post a message and wait for its one answer. The trainer's
 * thread pools (iALS sweeps, the SPD inverse's sweep, local EASE) all talk to their workers this
 * way.
 */
import type { Worker } from 'node:worker_threads';

/** Sends `msg` to a worker thread and resolves with its answer (rejects on its error). */
export function callWorker<T = void>(w: Worker, msg: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (answer: T) => {
      w.off('error', onError);
      resolve(answer);
    };
    const onError = (err: Error) => {
      w.off('message', onMessage);
      reject(err);
    };
    w.once('message', onMessage);
    w.once('error', onError);
    w.postMessage(msg);
  });
}
