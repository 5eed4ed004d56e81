/**
 * Neighbour lists computed elsewhere (a distributed job: Spark, BigQuery, …) brought into the
 * artifact's item model, for catalogues whose co-occurrence matrix outgrows one machine.
 *
 * Input: JSON lines in part files (a directory of `*.json` / `*.json.gz`, names starting with
 * `_` or `.` skipped, e.g. Spark's `_SUCCESS`; or a single file), one line per item:
 *
 *   {"item": "<id>", "neighbours": [{"id": "<id>", "weight": <number>}, ...]}
 *
 * Ids are strings or numbers, matched against the item factors' ids as strings. That is what
 * Spark's `RowMatrix.columnSimilarities()` becomes after joining the column indices back to ids,
 * adding the transposed entries (it returns only the upper triangle, i < j), and keeping the top N
 * per item — e.g. `entries.flatMap(e => [(i, j, s), (j, i, s)])`, a window `row_number() ≤ N`
 * partitioned by item and ordered by weight descending, `groupBy(item).agg(collect_list(...))`,
 * `write.json(dir)`.
 *
 * What is kept, as the trainer stores its own lists (model/item-model.ts, `sparsify`): positive
 * weights only (the blend's exactness relies on W ≥ 0; zero and negative weights are dropped and
 * counted), an item never lists itself, each list sorted by weight descending (ties: the lower
 * item index) and cut to N, then quantised (int8 with a scale per row, or float16). No popularity
 * debiasing is applied: the job's weights are taken as they are, up to one factor (below). An id
 * that is not among the item factors makes the import fail with a count (a join gone wrong should
 * not pass silently) unless unknown ids are explicitly allowed, in which case those entries are
 * dropped and counted. An item listed twice and a weight that is not a finite number (a string,
 * null, or a literal like 1e999 that JSON reads as Infinity) are refused with the file and line; a
 * neighbour repeated within one list keeps its larger weight (counted).
 *
 * Magnitude. A job's weights may be of any finite size (co-occurrence counts in the millions, or
 * probabilities of 1e-9), but the stored types are not: float16 ends at 65504 (above, a weight
 * becomes Infinity) and its normal numbers start at 2^-14; int8 keeps a float32 scale per row.
 * So when the largest kept weight of one import (all its lists together) lies outside
 * [WEIGHT_RANGE.min, WEIGHT_RANGE.max] — float16's normal range, for both types, so switching the
 * type never changes the scale — every weight of that import is multiplied by the same power of
 * two, chosen so the largest lands in [0.5, 1). One factor for the whole import, not one per list:
 * the blend divides the neighbour scores of a basket by their RMS (core/blend.ts), so a common
 * factor leaves every served blend and every ranking exactly as the job's weights give them,
 * while a factor per list would change how much each basket item's list counts against the
 * others. (Bought-together scores are the stored weights, so they come out rescaled too; the
 * --neighbours and --bought-together imports each get their own factor.) A power of two is exact:
 * ties and order stay as they were. After quantising, an entry whose stored weight is 0 (in
 * float16 under 2^-25 after any rescaling, in int8 under 1/254 of its own list's largest; or a
 * whole int8 list under float32's range beside the import's largest) is dropped and counted, as a
 * weight ≤ 0 is; every stored weight is then finite and > 0.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { type NeighbourLists, quantise } from './item-model';

/** The part files of a directory written by a distributed job, in name order, or the one file given. */
export async function partFiles(path: string): Promise<string[]> {
  const files = (await stat(path)).isDirectory()
    ? (await readdir(path))
        .filter((f) => /\.json(\.gz)?$/.test(f) && !f.startsWith('.') && !f.startsWith('_'))
        .sort()
        .map((f) => join(path, f))
    : [path];
  if (files.length === 0) throw new Error(`no .json part files in ${path}`);
  return files;
}

/** Every non-blank line of the part files, parsed, with where it came from (for error messages). */
export async function* jsonLines(path: string): AsyncGenerator<{ where: string; value: unknown }> {
  for (const file of await partFiles(path)) {
    const raw = createReadStream(file);
    let input: NodeJS.ReadableStream = raw;
    if (file.endsWith('.gz')) {
      const gunzip = createGunzip();
      // pipe() does not pass the file's own read errors on: without this the lines would wait forever
      raw.on('error', (err) => gunzip.destroy(err));
      input = raw.pipe(gunzip);
    }
    const lines = createInterface({ input, crlfDelay: Infinity });
    let n = 0;
    let value: unknown;
    // a stream error (a damaged .gz, an unreadable file) names the file and how far it got
    const readError = (err: unknown) =>
      new Error(`${basename(file)}${n ? ` after line ${n}` : ''}: ${err instanceof Error ? err.message : String(err)}`);
    const iterator = lines[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<string>;
      try {
        next = await iterator.next();
      } catch (err) {
        throw readError(err);
      }
      if (next.done) break;
      const line = next.value;
      n++;
      if (!line.trim()) continue;
      const where = `${basename(file)} line ${n}`;
      try {
        value = JSON.parse(line);
      } catch {
        throw new Error(`${where}: not JSON`);
      }
      yield { where, value };
    }
  }
}

/** One item's list as read: neighbour ids and weights, unvalidated against the catalogue. */
export interface NeighbourRow {
  where: string;
  item: string;
  neighbours: { id: string; weight: number }[];
}

const isId = (v: unknown): v is string | number => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

/** Checks one parsed line's shape. @throws Error naming the file and line */
export function neighbourRow(where: string, value: unknown): NeighbourRow {
  const v = value as { item?: unknown; neighbours?: unknown };
  const shape = `expected {"item": <id>, "neighbours": [{"id": <id>, "weight": <finite number>}, …]}`;
  if (typeof v !== 'object' || v === null || !isId(v.item) || !Array.isArray(v.neighbours)) throw new Error(`${where}: ${shape}`);
  const neighbours = v.neighbours.map((e: { id?: unknown; weight?: unknown }) => {
    if (typeof e !== 'object' || e === null || !isId(e.id) || typeof e.weight !== 'number' || !Number.isFinite(e.weight))
      throw new Error(`${where}: ${shape}`);
    return { id: String(e.id), weight: e.weight };
  });
  return { where, item: String(v.item), neighbours };
}

export interface ImportOptions {
  /** N: neighbours kept per item */
  top: number;
  weightType: 'int8' | 'float16';
  /** drop entries naming unknown ids (counted) instead of refusing the import */
  allowUnknown?: boolean;
}

export interface ImportCounts {
  /** items with a line */
  items: number;
  /** entries kept after every rule below and the cut to N */
  kept: number;
  /** entries with a weight ≤ 0 */
  nonPositive: number;
  /** entries naming the item itself */
  self: number;
  /** entries beyond the top N of their item */
  cut: number;
  /** a neighbour listed twice for one item: the larger weight is kept */
  duplicates: number;
  /** lines whose item, and entries whose neighbour, are not among the item factors */
  unknownItems: number;
  unknownNeighbours: number;
  /** a few of the unknown ids, for the message */
  unknownExamples: string[];
  /** entries whose weight stores as 0 in the chosen type (too small, after any rescaling): dropped */
  storedAsZero: number;
  /** the largest kept weight as the job gave it (0 without any) */
  largest: number;
  /** every weight was stored × 2^scaleExponent (0: as given); see the header */
  scaleExponent: number;
}

/**
 * The range the largest weight of an import may lie in to be stored as given: float16's normal
 * numbers (2^-14 … 65504). Outside it, every weight of the import is rescaled (see the header).
 */
export const WEIGHT_RANGE = { min: 2 ** -14, max: 65504 } as const;

/** k such that largest · 2^k is stored as given (k = 0) or lands in [0.5, 1); largest must be finite and > 0. */
export function weightScaleExponent(largest: number): number {
  if (largest >= WEIGHT_RANGE.min && largest <= WEIGHT_RANGE.max) return 0;
  let e = Math.floor(Math.log2(largest)); // 2^e ≤ largest < 2^(e+1), up to log2's rounding
  if (times2(largest, -e) < 1) e--;
  else if (times2(largest, -e) >= 2) e++;
  return -(e + 1);
}

/** x · 2^k in two exact steps (2^k alone overflows for k > 1023, e.g. for a largest weight of 1e-320). */
export const times2 = (x: number, k: number): number => {
  const half = Math.trunc(k / 2);
  return x * 2 ** half * 2 ** (k - half);
};

/**
 * Lists over the catalogue's item indices from rows read off the part files.
 * @param itemIndex  id → item index of the artifact (the item factors' order)
 * @throws Error when an item has two lines, or ids are unknown and not allowed
 */
export async function importNeighbourLists(
  rows: Iterable<NeighbourRow> | AsyncIterable<NeighbourRow>,
  itemIndex: ReadonlyMap<string, number>,
  opts: ImportOptions,
): Promise<{ lists: NeighbourLists; counts: ImportCounts }> {
  const n = itemIndex.size;
  const counts: ImportCounts = {
    items: 0,
    kept: 0,
    nonPositive: 0,
    self: 0,
    cut: 0,
    duplicates: 0,
    unknownItems: 0,
    unknownNeighbours: 0,
    unknownExamples: [],
    storedAsZero: 0,
    largest: 0,
    scaleExponent: 0,
  };
  const unknown = (id: string) => {
    if (counts.unknownExamples.length < 5 && !counts.unknownExamples.includes(id)) counts.unknownExamples.push(id);
  };
  const byItem: ({ index: number; weight: number }[] | undefined)[] = new Array(n);
  const seenAt: (string | undefined)[] = new Array(n);
  for await (const row of rows) {
    const j = itemIndex.get(row.item);
    if (j === undefined) {
      counts.unknownItems++;
      unknown(row.item);
      continue;
    }
    if (seenAt[j] !== undefined) throw new Error(`${row.where}: item ${row.item} already has a list (${seenAt[j]})`);
    seenAt[j] = row.where;
    counts.items++;
    const best = new Map<number, number>();
    for (const e of row.neighbours) {
      const k = itemIndex.get(e.id);
      if (k === undefined) {
        counts.unknownNeighbours++;
        unknown(e.id);
        continue;
      }
      if (k === j) {
        counts.self++;
        continue;
      }
      if (!(e.weight > 0)) {
        counts.nonPositive++;
        continue;
      }
      const had = best.get(k);
      if (had !== undefined) counts.duplicates++;
      if (had === undefined || e.weight > had) best.set(k, e.weight);
    }
    const list = [...best].map(([index, weight]) => ({ index, weight }));
    list.sort((a, b) => b.weight - a.weight || a.index - b.index);
    counts.cut += Math.max(0, list.length - opts.top);
    byItem[j] = list.slice(0, opts.top);
  }
  if ((counts.unknownItems || counts.unknownNeighbours) && !opts.allowUnknown)
    throw new Error(
      `${counts.unknownItems} list(s) and ${counts.unknownNeighbours} neighbour entries name ids that are not among the item factors (e.g. ${counts.unknownExamples.join(', ')}); check the join back to ids, or pass --allow-unknown-ids to drop them`,
    );
  // each list is sorted: its first weight is its largest
  for (const list of byItem) if (list?.length) counts.largest = Math.max(counts.largest, list[0].weight);
  counts.scaleExponent = counts.largest > 0 ? weightScaleExponent(counts.largest) : 0;
  const rowPtr = new Int32Array(n + 1);
  for (let j = 0; j < n; j++) rowPtr[j + 1] = rowPtr[j] + (byItem[j]?.length ?? 0);
  const index = new Int32Array(rowPtr[n]);
  const raw = new Float64Array(rowPtr[n]);
  for (let j = 0; j < n; j++)
    byItem[j]?.forEach((e, t) => {
      index[rowPtr[j] + t] = e.index;
      raw[rowPtr[j] + t] = counts.scaleExponent ? times2(e.weight, counts.scaleExponent) : e.weight;
    });
  const lists = withoutZeros(quantise({ n, rowPtr, index, raw }, opts.weightType));
  counts.storedAsZero = rowPtr[n] - lists.rowPtr[n];
  counts.kept = lists.rowPtr[n];
  return { lists, counts };
}

/**
 * The lists without the entries whose stored weight is 0 (each list stays sorted; an int8 row keeps
 * its scale). @throws Error if a stored weight is not finite and ≥ 0 — the rescaling rules that out
 */
function withoutZeros(l: NeighbourLists): NeighbourLists {
  const n = l.itemCount;
  const nnz = l.rowPtr[n];
  let keep = 0;
  for (let p = 0; p < nnz; p++) {
    const w = l.weight[p];
    if (!(w >= 0 && w < Number.POSITIVE_INFINITY)) throw new Error(`a stored neighbour weight came out as ${w}: this is a bug`);
    if (w > 0) keep++;
  }
  if (keep === nnz) return l;
  const rowPtr = new Int32Array(n + 1);
  const index = new Int32Array(keep);
  const weight = new Float32Array(keep);
  const q = l.int8 ? new Int8Array(keep) : undefined;
  const half = l.float16 ? new Uint16Array(keep) : undefined;
  let o = 0;
  for (let j = 0; j < n; j++) {
    for (let p = l.rowPtr[j]; p < l.rowPtr[j + 1]; p++) {
      if (!(l.weight[p] > 0)) continue;
      index[o] = l.index[p];
      weight[o] = l.weight[p];
      if (q && l.int8) q[o] = l.int8.q[p];
      if (half && l.float16) half[o] = l.float16[p];
      o++;
    }
    rowPtr[j + 1] = o;
  }
  return {
    itemCount: n,
    rowPtr,
    index,
    weight,
    weightType: l.weightType,
    ...(q && l.int8 ? { int8: { q, scales: l.int8.scales } } : {}),
    ...(half ? { float16: half } : {}),
  };
}

/** Reads and imports one directory (or file) of neighbour lists, line by line (only the kept lists stay in memory). */
export async function readNeighbourLists(
  path: string,
  itemIndex: ReadonlyMap<string, number>,
  opts: ImportOptions,
): Promise<{ lists: NeighbourLists; counts: ImportCounts }> {
  async function* rows() {
    for await (const { where, value } of jsonLines(path)) yield neighbourRow(where, value);
  }
  return importNeighbourLists(rows(), itemIndex, opts);
}
