/**
 * Worker thread of local EASE (model/local-ease.ts): holds the shared interaction pattern and,
 * once built, the shared sparse Gram matrix; computes Gram rows or solves the regressions of a
 * chunk of items per message, and sends the result back (transferring its buffers).
 */
import { parentPort } from 'node:worker_threads';
import { gramRows, LocalSolver, type LocalTask, type Pattern } from './local-ease';

const port = parentPort;
if (!port) throw new Error('local-ease-worker.ts runs as a worker thread (see local-ease.ts)');
let pt: Pattern | undefined;
let solver: LocalSolver | undefined;

port.on('message', (msg: LocalTask) => {
  if (msg.kind === 'init') {
    pt = msg.pattern;
    port.postMessage({ ready: true });
  } else if (msg.kind === 'matrix') {
    solver = new LocalSolver(msg.gram, msg.lambda, msg.dropout, msg.m);
    port.postMessage({ ready: true });
  } else if (msg.kind === 'gram') {
    if (!pt) throw new Error('a Gram task arrived before the pattern');
    const r = gramRows(pt, msg.from, msg.to);
    port.postMessage(
      r,
      [r.rowLen, r.col, r.count].map((a) => a.buffer as ArrayBuffer),
    ); // fresh, unshared buffers
  } else {
    if (!solver) throw new Error('a solve task arrived before the Gram matrix');
    const r = solver.columns(msg.from, msg.to);
    port.postMessage(
      r,
      [r.size, r.index, r.weight].map((a) => a.buffer as ArrayBuffer),
    );
  }
});
