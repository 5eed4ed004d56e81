/**
 * `node --expose-gc --import tsx bench/model-memory.ts <artifact dir>`: the memory one model
 * version takes in a V8 isolate, measured with the Worker's own loader (src/models/model.ts) and
 * kernel (build/int8.wasm) in a fresh Node process, since workerd exposes no heap statistics:
 * JS heap + external memory (ArrayBuffers and WebAssembly memory, which is what the 128 MB
 * isolate limit counts), before loading, at its peak while loading and serving, and settled.
 * Peak is of live memory: sampled after a full GC at every file read (with the file's bytes still
 * held) and after every served request; garbage V8 has not collected yet is not counted, since
 * V8 collects it before an isolate runs out. Only the storage differs from the Worker (files
 * instead of R2). Prints one JSON line.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Int8Index } from '../src/inference/int8';
import { type ArtifactSource, loadServingModel, parseManifest } from '../src/models/model';
import { int8Module } from './kernels';

const dir = process.argv[2];
const gc = (globalThis as { gc?: () => void }).gc;
if (!dir || !gc) {
  console.error('usage: node --expose-gc --import tsx bench/model-memory.ts <artifact dir>');
  process.exit(2);
}
const module = await int8Module();
const used = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
gc();
const before = used();
let peak = before;
const sample = () => {
  gc();
  peak = Math.max(peak, used());
};

const source: ArtifactSource = {
  kind: 'r2',
  async get(file) {
    sample();
    const b = await readFile(join(dir, file)).catch(() => null);
    const bytes = b ? (b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer) : null;
    sample();
    return bytes;
  },
};
const t = performance.now();
const manifest = parseManifest((await source.get('manifest.json'))!);
const model = await loadServingModel(source, manifest, { int8MinItems: 0, createInt8Index: (n, d) => Int8Index.create(module, n, d) });
const loadMs = performance.now() - t; // includes the GCs of the sampling
sample();
// serve like the Worker would: users from shards, baskets folded in, titles from catalogue parts
for (let r = 0; r < 200; r++) {
  const hit = await model.shardUser(`U${(r * 7919) % 2000}`);
  const vector = hit ? hit.vector : model.foldIn([{ index: (r * 104_729) % model.itemCount, strength: 1 }]);
  const top = await model.scorer.topK(vector, 20, hit?.items ?? []);
  await model.catalog.describe(top.map((s) => s.index));
  sample();
}
gc();
const settled = used();
const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
console.log(
  JSON.stringify({
    items: model.itemCount,
    dims: model.dims,
    scoring: model.scorer.kind,
    loadMs: Math.round(loadMs),
    beforeMb: mb(before),
    peakMb: mb(peak - before),
    settledMb: mb(settled - before),
    modelBytesMb: mb(model.memoryBytes),
  }),
);
void model;
