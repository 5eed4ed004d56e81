/**
 * Training time of the item model (BENCHMARKS.md, "Item model: training time"):
 * - exact EASE/EDLAE (dense Gram matrix + SIMD inverse + top-N) at Online Retail's 3,659 items and
 *   on a synthetic catalogue at the exact bound (MAX_EXACT_ITEMS)
 * - local EASE (model/local-ease.ts) on Online Retail and on synthetic catalogues of 25,000 to
 *   100,000 items at the same density (users and interactions grow with the items), to read off
 *   how the time grows and project it to 1,000,000 items
 * Each measurement runs in its own child process so its peak resident memory is its own.
 *
 * Standalone: `npx tsx bench/item-model.ts --one '<json spec>'` runs one measurement and prints a
 * JSON line; `npx tsx bench/item-model.ts --csv <file.csv.gz> --items N` writes the synthetic data
 * set of N items as a generic interactions CSV, for timing the whole `npm run train` on it.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { loadInteractions } from '../model/data';
import { DEFAULT_ITEM_PARAMS, exactEase } from '../model/item-model';
import { DEFAULT_NEIGHBOURHOOD, type LocalEaseTimings, localEase } from '../model/local-ease';
import type { Csr } from '../model/sparse';
import { MAX_EXACT_ITEMS } from '../model/spd-inverse';
import { zipfMatrix } from './synthetic';

export const RETAIL = '../shared/data/online-retail.csv.gz';

/**
 * The synthetic shape at n items: 5 users and 50 interactions per item (≈ 10 items per user,
 * log-normal), Zipf popularity — at 100,000 items 500,000 users and ~5M pairs, sparser per user
 * than Online Retail (61 items per user) but with a far heavier head.
 */
export function syntheticShape(items: number): { users: number; items: number; interactions: number } {
  return { users: 5 * items, items, interactions: 50 * items };
}

export interface ItemBenchSpec {
  solver: 'exact' | 'local';
  /** 'retail' or a synthetic item count */
  data: 'retail' | number;
  neighbourhood?: number;
  threads?: number;
}

export interface ItemBenchRow {
  spec: ItemBenchSpec;
  users: number;
  items: number;
  pairs: number;
  /** Σ over rows of |row|²: the Gram matrix's work */
  gramWork: number;
  seconds: number;
  /** CPU time of the fit over all threads: less sensitive than `seconds` to other load on the machine */
  cpuSeconds: number;
  local?: LocalEaseTimings;
  /** peak resident set of the measuring process, MiB */
  peakMb: number;
  neighbours: number;
}

async function dataFor(spec: ItemBenchSpec): Promise<Csr> {
  if (spec.data === 'retail') return (await loadInteractions(RETAIL)).matrix;
  const s = syntheticShape(spec.data);
  return zipfMatrix(s.users, s.items, s.interactions, 1);
}

/** One measurement in this process. */
export async function measure(spec: ItemBenchSpec): Promise<ItemBenchRow> {
  const x = await dataFor(spec);
  let gramWork = 0;
  for (let r = 0; r < x.rows; r++) gramWork += (x.rowPtr[r + 1] - x.rowPtr[r]) ** 2;
  let local: LocalEaseTimings | undefined;
  const solver =
    spec.solver === 'exact'
      ? exactEase({ threads: 1 })
      : localEase({
          neighbourhood: spec.neighbourhood ?? DEFAULT_NEIGHBOURHOOD,
          threads: spec.threads ?? availableParallelism(),
          onTimings: (t) => {
            local = t;
          },
        });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const lists = await solver.fit(x, DEFAULT_ITEM_PARAMS);
  const seconds = (performance.now() - t0) / 1000;
  const c1 = process.cpuUsage(c0);
  const cpuSeconds = (c1.user + c1.system) / 1e6;
  return {
    spec,
    users: x.rows,
    items: x.cols,
    pairs: x.rowPtr[x.rows],
    gramWork,
    seconds,
    cpuSeconds,
    local,
    peakMb: process.resourceUsage().maxRSS / 1024,
    neighbours: lists.rowPtr[lists.itemCount],
  };
}

/** One measurement in a child process (its own heap and peak memory). */
export function measureApart(spec: ItemBenchSpec): ItemBenchRow {
  const r = spawnSync(
    process.execPath,
    ['--max-old-space-size=16384', '--import', 'tsx', 'bench/item-model.ts', '--one', JSON.stringify(spec)],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  if (r.status !== 0) throw new Error(`item model benchmark ${JSON.stringify(spec)} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
}

/** The rows `npm run bench` prints (quick: Online Retail and 25,000 synthetic items only). */
export function itemBenchSpecs(quick: boolean, withRetail: boolean): ItemBenchSpec[] {
  const specs: ItemBenchSpec[] = [];
  if (withRetail) specs.push({ solver: 'exact', data: 'retail' }, { solver: 'local', data: 'retail' });
  if (!quick) specs.push({ solver: 'exact', data: MAX_EXACT_ITEMS });
  for (const n of quick ? [25_000] : [25_000, 50_000, 100_000]) specs.push({ solver: 'local', data: n });
  if (!quick) specs.push({ solver: 'local', data: 100_000, neighbourhood: 64 });
  return specs;
}

export function describeRow(r: ItemBenchRow): string {
  const f = (x: number, d = 1) => x.toFixed(d);
  const data = r.spec.data === 'retail' ? 'Online Retail' : 'synthetic Zipf';
  const solver =
    r.spec.solver === 'exact'
      ? 'exact EASE (1 thread)'
      : `local EASE M=${r.spec.neighbourhood ?? DEFAULT_NEIGHBOURHOOD} (${r.local?.threads} thread${r.local?.threads === 1 ? '' : 's'})`;
  const phases = r.local ? `${f(r.local.gramSeconds)} + ${f(r.local.solveSeconds)}` : '–';
  const entries = r.local ? `${f(r.local.gramEntries / 1e6)}M` : '–';
  return `| ${data} | ${r.users.toLocaleString('en')} × ${r.items.toLocaleString('en')} | ${r.pairs.toLocaleString('en')} | ${f(r.gramWork / 1e6)}M | ${solver} | **${f(r.seconds)}** | ${f(r.cpuSeconds)} | ${phases} | ${entries} | ${f(r.peakMb, 0)} |`;
}

export const ITEM_BENCH_HEADER = [
  '| data | users × items | pairs | Σ rows² | solver | seconds | CPU s | Gram + regressions s | Gram entries | peak RSS MiB |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];

/** Writes the synthetic data set as `user_id,item_id` lines (generic layout). */
async function writeCsv(file: string, items: number): Promise<void> {
  const s = syntheticShape(items);
  const m = zipfMatrix(s.users, s.items, s.interactions, 1);
  async function* lines() {
    yield 'user_id,item_id\n';
    for (let u = 0; u < m.rows; u++) {
      let chunk = '';
      for (let p = m.rowPtr[u]; p < m.rowPtr[u + 1]; p++) chunk += `u${u},i${m.colIdx[p]}\n`;
      yield chunk;
    }
  }
  await pipeline(lines(), createGzip(), createWriteStream(file));
  console.log(`wrote ${m.rows} users × ${m.cols} items, ${m.rowPtr[m.rows]} pairs to ${file}`);
}

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
if (process.argv[1]?.endsWith('item-model.ts')) {
  const one = arg('--one');
  const csv = arg('--csv');
  if (one) console.log(JSON.stringify(await measure(JSON.parse(one))));
  else if (csv) await writeCsv(csv, Number(arg('--items') ?? 100_000));
  else {
    console.log(ITEM_BENCH_HEADER.join('\n'));
    for (const spec of itemBenchSpecs(process.argv.includes('--quick'), existsSync(RETAIL))) console.log(describeRow(measureApart(spec)));
  }
  process.exit(0);
}
