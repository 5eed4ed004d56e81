/**
 * `npm run bench [-- --quick | --kernels]`: prints the measurements kept in BENCHMARKS.md.
 *  1. memory read bandwidth of this machine
 *  2. scoring kernels, top-20 at 64 dims over 10K / 100K / 1M items, each against the
 *     memory-streaming bound (item-matrix bytes ÷ bandwidth); then the int8 kernel under scoring
 *     plans (identity, 95% and 99% filtered, 1% boosted) at 100K and 1M items against no plan, and the
 *     item model's served blend against the factor kernel alone (bench/blend.ts)
 *  3. trainer: one iALS epoch at 64 factors on a synthetic MovieLens-20M-shaped matrix, and the
 *     full Online Retail train (when ../shared/data is present)
 *  4. int8 vs float32 scoring quality on the Online Retail evaluation
 *  4b. item model training time: exact EASE at Online Retail size and at the exact bound, local
 *     EASE on Online Retail and on synthetic catalogues of 25K–100K items (bench/item-model.ts)
 *  5. end to end against `wrangler dev` with 100K items (int8 and ORT float32 scoring) and a central
 *     Node + onnxruntime-node server on the same artifact: cold first request, req/s, p50, p99
 *  5b. the storage floor of a first visit: the same KV calls alone in workerd (bench/storage-floor.ts)
 *  6. 1M items: cold first request, latency, and the model's isolate memory
 * --quick skips the 1M-item kernels and load, and the MovieLens-sized epoch (not the 1M-item plan
 * rows: they need only the int8 kernel, a few seconds), and times the item model only on Online
 * Retail and 25K synthetic items. --kernels stops after 1 and 2; --serving skips 3, 4 and 4b (training).
 */

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { quantizeRows } from '@edge-recs/core/int8';
import { loadInteractions } from '../model/data';
import { evaluateFactors, strongGeneralizationSplit } from '../model/evaluate';
import { DEFAULT_PARAMS } from '../model/ials';
import { trainIalsParallel } from '../model/ials-parallel';
import { DEFAULT_ITEM_PARAMS } from '../model/item-model';
import { benchBlend } from './blend';
import { describeRow, ITEM_BENCH_HEADER, itemBenchSpecs, measureApart } from './item-model';
import { benchKernels, benchPlans, memoryBandwidth } from './kernels';
import { benchLoad, type LoadRow } from './load';
import { benchStorageFloor } from './storage-floor';
import { zipfMatrix } from './synthetic';

const quick = process.argv.includes('--quick');
const kernelsOnly = process.argv.includes('--kernels');
const servingOnly = process.argv.includes('--serving');
const RETAIL = '../shared/data/online-retail.csv.gz';
const fmt = (x: number, d = 2) => x.toFixed(d);

const flags = process.argv.slice(2).join(' ');
console.log(`# npm run bench${flags ? ` -- ${flags}` : ''} — ${new Date().toISOString()}`);
console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, Node ${process.version}\n`);

const bw = memoryBandwidth();
console.log(`## Memory read bandwidth: ${fmt(bw, 1)} GB/s (memcmp of two 128 MiB buffers)\n`);

console.log('## Scoring kernels: top-20 of N items, 64 dims, one user vector (median ms)\n');
console.log('| N | variant | ms | streaming bound ms | × bound |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of await benchKernels(quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000], 64, 20)) {
  const bound = (r.bytes / (bw * 1e9)) * 1000;
  console.log(`| ${r.n.toLocaleString('en')} | ${r.variant} | ${fmt(r.ms, 3)} | ${fmt(bound, 3)} | ${fmt(r.ms / bound, 1)} |`);
}

console.log(
  '\n## The item model at serving: blended ranking against the factor kernel alone, 64 dims, top-20, basket of 5, N = 30 (median ms per request)\n',
);
console.log('| N | factors only ms | served blend ms | × factors only (target ≤ 1.5) |');
console.log('| --- | --- | --- | --- |');
for (const r of await benchBlend([100_000, ...(quick ? [] : [1_000_000])])) {
  console.log(`| ${r.items.toLocaleString('en')} | ${fmt(r.factorsMs, 3)} | ${fmt(r.blendMs, 3)} | ${fmt(r.ratio, 2)} |`);
}

console.log('\n## int8 kernel under a scoring plan: top-20 of N items, 64 dims (median ms, variants interleaved)\n');
console.log('| N | plan | ms | × unfiltered | items returned |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of await benchPlans([100_000, 1_000_000], 64, 20)) {
  console.log(`| ${r.n.toLocaleString('en')} | ${r.plan} | ${fmt(r.ms, 3)} | ${fmt(r.ratio, 2)} | ${r.returned} |`);
}
if (kernelsOnly) process.exit(0);

if (!servingOnly) {
  console.log('\n## Trainer\n');
  if (!quick) {
    const t0 = performance.now();
    const m = zipfMatrix(138_000, 27_000, 20_000_000);
    const gen = (performance.now() - t0) / 1000;
    const epochs: number[] = [];
    await trainIalsParallel(
      m,
      { ...DEFAULT_PARAMS, factors: 64, iterations: 2 },
      { threads: availableParallelism(), onEpoch: (r) => epochs.push(r.seconds) },
    );
    console.log(
      `MovieLens-20M-shaped synthetic (${m.rows.toLocaleString('en')} users × ${m.cols.toLocaleString('en')} items, ${m.rowPtr[m.rows].toLocaleString('en')} pairs, Zipf popularity; generated in ${fmt(gen, 1)} s), 64 factors, ${DEFAULT_PARAMS.cgSteps} CG steps, ${availableParallelism()} threads: epoch ${epochs.map((e) => `${fmt(e, 1)} s`).join(', ')} (target ≤ 10 s)`,
    );
  }
  if (existsSync(RETAIL)) {
    const t0 = performance.now();
    const ds = await loadInteractions(RETAIL);
    const load = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const model = await trainIalsParallel(ds.matrix, DEFAULT_PARAMS, { threads: availableParallelism() });
    const train = (performance.now() - t1) / 1000;
    console.log(
      `Online Retail full train (${ds.matrix.rows} × ${ds.matrix.cols}, ${ds.matrix.rowPtr[ds.matrix.rows]} pairs, ${DEFAULT_PARAMS.factors} factors, ${DEFAULT_PARAMS.iterations} epochs): load ${fmt(load, 1)} s + train ${fmt(train, 1)} s = ${fmt(load + train, 1)} s (target ≤ 30 s)`,
    );
    void model;

    console.log('\n## int8 vs float32 scoring quality (Online Retail, strong generalisation, split seed 2024)\n');
    const split = strongGeneralizationSplit(ds.matrix, { seed: 2024 });
    const m = await trainIalsParallel(split.train, DEFAULT_PARAMS, { threads: availableParallelism() });
    const f32 = evaluateFactors(m.itemFactors, m.itemCount, m.dims, DEFAULT_PARAMS, split.test, m.itemWeights);
    const { q, scales } = quantizeRows(m.itemFactors, m.itemCount, m.dims);
    const dequantized = new Float32Array(q.length);
    for (let k = 0; k < q.length; k++) dequantized[k] = q[k] * scales[Math.floor(k / m.dims)];
    const i8 = evaluateFactors(m.itemFactors, m.itemCount, m.dims, DEFAULT_PARAMS, split.test, m.itemWeights, dequantized);
    console.log('| scoring | Recall@20 | Recall@50 | NDCG@100 |');
    console.log('| --- | --- | --- | --- |');
    console.log(`| float32 | ${fmt(f32['recall@20'], 4)} | ${fmt(f32['recall@50'], 4)} | ${fmt(f32['ndcg@100'], 4)} |`);
    console.log(`| int8 per-row scale | ${fmt(i8['recall@20'], 4)} | ${fmt(i8['recall@50'], 4)} | ${fmt(i8['ndcg@100'], 4)} |`);
    console.log(`\nint8 changes NDCG@100 by ${fmt((100 * (i8['ndcg@100'] - f32['ndcg@100'])) / f32['ndcg@100'], 2)}% (target: ≥ −1%)`);
  } else {
    console.log(`(${RETAIL} not found: Online Retail measurements skipped)`);
  }

  console.log(
    `\n## Item model: training time (${DEFAULT_ITEM_PARAMS.neighbours} neighbours per item; synthetic: 5 users and 50 pairs per item, Zipf popularity)\n`,
  );
  console.log(ITEM_BENCH_HEADER.join('\n'));
  for (const spec of itemBenchSpecs(quick, existsSync(RETAIL))) console.log(describeRow(measureApart(spec)));
}

const mb = (b: number) => fmt(b / 2 ** 20, 1);
const table = (rows: LoadRow[]) => {
  console.log('| server: endpoint | req/s | p50 ms | p99 ms | errors | non-2xx | server CPU ms/req |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows)
    console.log(
      `| ${r.endpoint} | ${fmt(r.requestsPerSecond, 0)} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.non2xx} | ${fmt(r.cpuMsPerRequest, 2)} |`,
    );
};

console.log('\n## End to end: `wrangler dev` (local workerd, one isolate), 100,000 items × 64 dims, 8 connections, 10 s each\n');
const int8 = await benchLoad(100_000, 64, 10, { central: true, miniflare: true });
const f32 = await benchLoad(100_000, 64, 10, { vars: { INT8_SCORING_MIN_ITEMS: '1000000000' } });
console.log(
  `first request on a cold isolate (model load from R2 + scoring), timed from the client: ${fmt(int8.coldMs, 0)} ms with int8 scoring, ${fmt(f32.coldMs, 0)} ms with ORT float32 (includes ORT init)\n`,
);
table([...int8.rows.slice(0, 3), ...f32.rows, ...int8.rows.slice(3)]);
console.log(`\nworkerd warnings in the Miniflare run (start and rows): ${int8.runtimeWarnings ?? 'not run'}`);
for (let i = 0; i < 3; i++) {
  const w = int8.rows[i],
    o = f32.rows[i],
    m = int8.rows[i + 3],
    c = int8.rows[i + 6];
  const r = (x: LoadRow) => fmt(x.requestsPerSecond / c.requestsPerSecond, 2);
  // requests per CPU second of the server's own processes: per core, whatever else shares the machine
  const byCpu = (x: LoadRow) => fmt(c.cpuMsPerRequest / x.cpuMsPerRequest, 2);
  console.log(
    `\n${w.endpoint.split(': ')[1]}: Worker / central Node throughput per core = ${r(w)} under wrangler dev with int8 scoring (${r(o)} with ORT float32), ${r(m)} in workerd via Miniflare with int8; requests per CPU second of the server's processes, Worker / central: ${byCpu(w)} under wrangler dev, ${byCpu(m)} in workerd via Miniflare (runtime and storage simulators included)`,
  );
}

// Where a first visit's cost is: the same KV calls alone, in the same workerd and KV simulator
console.log('\n## First visits: the storage floor (workerd via Miniflare, 8 connections, 10 s each)\n');
const floor = await benchStorageFloor(10);
console.log('| Worker | req/s | p50 ms | p99 ms |');
console.log('| --- | --- | --- | --- |');
for (const r of floor) console.log(`| ${r.endpoint} | ${fmt(r.requestsPerSecond, 0)} | ${r.p50} | ${r.p99} |`);
{
  const ms = (rps: number) => 1000 / rps;
  // Miniflare, incl. first visits: all first visits while it serves < 2,000 requests in 10 s
  const worker = int8.rows[3].requestsPerSecond;
  const central = int8.rows[6].requestsPerSecond;
  // the bench model's 2,000 users fit in one shard, so its first visits make one bulk read and no write
  const storage = floor[1].requestsPerSecond;
  const withWrite = floor[2].requestsPerSecond;
  const own = ms(worker) - ms(storage);
  console.log(
    `\nfirst visits: Worker / central Node = ${fmt(worker / central, 2)} (${worker * 10 < 2000 ? 'every request of the Worker row a first visit' : 'the Worker row mixes first and repeat visits, so the subtraction below is a bound'}); the KV calls of a first visit alone reach ${fmt(storage / central, 2)}× the central server (${fmt(ms(storage), 2)} ms of a core per request; ${fmt(withWrite / central, 2)}× when the record is also written through, for models with more user shards than an isolate keeps); the Worker's own work on top: ${fmt(own, 2)} ms per request against the central server's ${fmt(ms(central), 2)} ms in all (${fmt(ms(central) / own, 2)}× its rate)`,
  );
}

if (!quick) {
  console.log('\n## 1,000,000 items × 64 dims: memory, cold start and latency (`wrangler dev`, one connection, 5 s each)\n');
  const big = await benchLoad(1_000_000, 64, 5, { connections: 1, httpOrigin: true });
  const files = Object.keys(JSON.parse(await readFile(`${big.artifactDir}/manifest.json`, 'utf8')).files).length;
  console.log(
    `refresh from an HTTP origin (${files} files staged into R2, verified, loaded, activated): ${big.refreshRuns.length} run(s), ${big.refreshRuns.map((r) => `${r.outcome} ${r.ops ?? '?'} ops`).join(', ')} (limit 1,000 per invocation, REFRESH_OPS_PER_RUN 800)`,
  );
  console.log(
    `scoring: ${big.scoring}; first request on a cold isolate (31 int8 factor parts + id lookup streamed from R2, then scoring): ${fmt(big.coldMs, 0)} ms`,
  );
  console.log(`model data the Worker reports holding (/v1/model modelBytes): ${mb(big.modelBytes)} MiB`);
  console.log(
    `workerd process (runtime + local KV/R2 simulators + the isolate): resident ${fmt(big.memory.beforeMb, 0)} MiB before the first request, peak ${fmt(big.memory.peakMb, 0)} MiB after serving — an upper bound; workerd has no per-isolate heap statistics\n`,
  );
  const probe = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/model-memory.ts', big.artifactDir], {
    encoding: 'utf8',
  });
  if (probe.status !== 0) throw new Error(`memory probe failed: ${probe.stderr}`);
  const m = JSON.parse(probe.stdout.trim().split('\n').pop()!) as { loadMs: number; peakMb: number; settledMb: number };
  console.log(
    `isolate memory of the model (the Worker's loader and kernel in V8 under Node, JS heap + WebAssembly/ArrayBuffer memory, live after GC): peak ${fmt(m.peakMb, 1)} MiB while loading and serving 200 requests, ${fmt(m.settledMb, 1)} MiB settled (limit 128 MiB, target met: ${m.peakMb < 128 ? 'yes' : 'no'})\n`,
  );
  table(big.rows);
}
process.exit(0);
