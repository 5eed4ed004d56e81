/**
 * Reads interaction data into a users × items strength matrix.
 *
 * Two layouts, detected from the header:
 * - generic: `user_id,item_id[,weight][,timestamp][,session_id][,event_id]` (any column order, extra
 *   columns ignored; a repeated (user_id, event_id) is used once: the edge's exports of a retried event);
 *   optional item metadata CSV `item_id,title`.
 * - UCI Online Retail raw export (InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
 *   UnitPrice, CustomerID, Country): cancellations (InvoiceNo "C…"), non-positive quantities,
 *   rows without a customer and non-product stock codes are dropped; `17850.0` becomes `17850`;
 *   the most frequent description of a stock code becomes its title.
 *
 * Every purchase line / event row adds its weight (default 1) to the pair's strength. Baskets
 * (Online Retail invoices, or a generic `session_id` column) are kept too: the trainer can add
 * them as extra rows so item factors also learn what is bought together. Malformed
 * rows are counted with their line numbers and skipped; they never abort the run.
 */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parseTimestamp } from '@edge-recs/core/time';
import { parse } from 'csv-parse';
import { type Csr, csrFromTriples } from './sparse';

export interface Dataset {
  layout: 'generic' | 'online-retail';
  userIds: string[];
  itemIds: string[];
  /** title per item index ('' when unknown) */
  titles: string[];
  /**
   * What else the data says about each item (from --items, or Online Retail's most frequent unit
   * price): carried by the artifact as the edge's starting point (core/item-fields.ts).
   */
  fields: ItemInfo;
  /** users × items summed strengths */
  matrix: Csr;
  /** baskets × items (1 per distinct item), and the user each basket belongs to */
  baskets: { matrix: Csr; user: Int32Array };
  /** sha256 of the input file's bytes as read */
  digest: string;
  stats: LoadStats;
}

export interface LoadStats {
  rows: number;
  used: number;
  /** rows dropped by the layout's rules (cancellations, non-products, …), by reason */
  filtered: Record<string, number>;
  malformed: number;
  /** first malformed rows: 1-based line number (and file, for a directory input) and why */
  malformedExamples: { line: number; file?: string; reason: string }[];
}

/**
 * Stock codes of real products start with five digits, optionally followed by letters
 * (85123A, 71053, 84029E). Everything else in the data is postage, fees or adjustments:
 * POST, DOT, M, D, C2, S, B, PADS, CRUK, AMAZONFEE, BANK CHARGES, gift_0001_*, DCGS*…
 */
const PRODUCT_CODE = /^\d{5}[A-Za-z]*$/;

const MAX_EXAMPLES = 20;

export interface LoadOptions {
  /** Optional `item_id,title` CSV for the generic layout. */
  itemsFile?: string;
}

/**
 * Loads a CSV / CSV.gz file, or every *.csv / *.csv.gz file of a directory in name order (for
 * example the Worker's event exports, one file per time window). The digest covers all bytes read.
 */
export async function loadInteractions(path: string, opts: LoadOptions = {}): Promise<Dataset> {
  const hash = createHash('sha256');
  const info = await stat(path).catch(() => {
    throw new Error(`cannot read input file ${path}`);
  });
  const files = info.isDirectory()
    ? (await readdir(path))
        .filter((f) => /\.csv(\.gz)?$/.test(f))
        .sort()
        .map((f) => join(path, f))
    : [path];
  if (files.length === 0) throw new Error(`no .csv or .csv.gz files in ${path}`);
  const state = newState();
  for (const file of files) {
    const raw = createReadStream(file);
    raw.on('data', (chunk) => hash.update(chunk));
    const text: Readable = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw.pipe(new PassThrough());
    // pipe() does not forward errors: surface read/decompression failures through the parser
    raw.on('error', (err) => text.destroy(err));
    await parseInto(text, state, files.length > 1 ? basename(file) : '');
  }
  const result = finish(state);
  if (opts.itemsFile) await applyItems(result, opts.itemsFile);
  return { ...result, digest: hash.digest('hex') };
}

/** Parses CSV text already in memory (tests, small inputs). */
export async function parseInteractionsText(csv: string): Promise<Omit<Dataset, 'digest'>> {
  return parseStream(Readable.from([csv]));
}

type Builder = {
  users: Map<string, number>;
  items: Map<string, number>;
  titleVotes: Map<number, Map<string, number>>;
  priceVotes: Map<number, Map<number, number>>;
  baskets: Map<string, number>;
  /** (user, event_id) pairs seen: the edge's exports repeat an event a client retried */
  events: Set<string>;
  basketUser: number[];
  br: number[];
  bc: number[];
  r: number[];
  c: number[];
  v: number[];
};

function intern(map: Map<string, number>, key: string): number {
  let id = map.get(key);
  if (id === undefined) {
    id = map.size;
    map.set(key, id);
  }
  return id;
}

interface ParseState {
  stats: LoadStats;
  b: Builder;
  layout?: Dataset['layout'];
}

function newState(): ParseState {
  return {
    stats: { rows: 0, used: 0, filtered: {}, malformed: 0, malformedExamples: [] },
    b: {
      users: new Map(),
      items: new Map(),
      titleVotes: new Map(),
      priceVotes: new Map(),
      baskets: new Map(),
      events: new Set(),
      basketUser: [],
      br: [],
      bc: [],
      r: [],
      c: [],
      v: [],
    },
  };
}

async function parseStream(input: Readable): Promise<Omit<Dataset, 'digest'>> {
  const state = newState();
  await parseInto(input, state, '');
  return finish(state);
}

/** Column positions of the fields a layout uses (-1 = absent). */
type Columns = Record<string, number>;

/** Recognises the layout from the header row and finds its columns. */
function detectLayout(header: string[], fileLabel: string): { layout: Dataset['layout']; col: Columns } {
  const lower = header.map((h) => h.trim().toLowerCase());
  const pick = (names: string[]) => Object.fromEntries(names.map((n) => [n, lower.indexOf(n)]));
  if (['invoiceno', 'stockcode', 'customerid', 'quantity'].every((h) => lower.includes(h))) {
    return { layout: 'online-retail', col: pick(['invoiceno', 'stockcode', 'description', 'quantity', 'customerid', 'unitprice']) };
  }
  if (lower.includes('user_id') && lower.includes('item_id')) {
    return { layout: 'generic', col: pick(['user_id', 'item_id', 'weight', 'timestamp', 'title', 'session_id', 'event_id']) };
  }
  throw new Error(
    `unrecognised header "${header.join(',')}"${fileLabel ? ` in ${fileLabel}` : ''}: expected user_id,item_id[,weight][,timestamp] or the UCI Online Retail columns`,
  );
}

/** What a row handler reports: a malformed row (with why) or one dropped by the layout's rules; both mean "not used". */
interface RowSink {
  bad(reason: string): false;
  drop(reason: string): false;
}

/** One purchase line of the raw Online Retail export; false when the row is not used. */
function onlineRetailRow(record: string[], col: Columns, b: Builder, sink: RowSink): boolean {
  const invoice = record[col.invoiceno];
  const code = record[col.stockcode].toUpperCase();
  const customer = record[col.customerid];
  const qty = Number(record[col.quantity]);
  if (invoice.startsWith('C')) return sink.drop('cancellation');
  if (!customer) return sink.drop('no customer');
  if (!Number.isFinite(qty)) return sink.bad(`Quantity "${record[col.quantity]}" is not a number`);
  if (qty <= 0) return sink.drop('non-positive quantity');
  if (!PRODUCT_CODE.test(code)) return sink.drop('non-product stock code');
  const user = normaliseId(customer);
  if (user === undefined) return sink.bad(`CustomerID "${customer}" is not an id`);
  add(b, user, code, 1, record[col.description] ?? '', invoice);
  const price = col.unitprice >= 0 ? Number(record[col.unitprice]) : Number.NaN;
  if (Number.isFinite(price) && price > 0) vote(b.priceVotes, b.items.get(code) as number, price);
  return true;
}

/** One row of the generic layout; false when the row is not used. */
function genericRow(record: string[], col: Columns, b: Builder, sink: RowSink): boolean {
  const user = record[col.user_id];
  const item = record[col.item_id];
  if (!user) return sink.bad('blank user_id');
  if (!item) return sink.bad('blank item_id');
  let weight = 1;
  if (col.weight >= 0 && record[col.weight] !== '') {
    weight = Number(record[col.weight]);
    if (!Number.isFinite(weight) || weight < 0) return sink.bad(`weight "${record[col.weight]}" is not a non-negative number`);
    if (weight === 0) return sink.drop('zero weight');
  }
  if (col.timestamp >= 0 && record[col.timestamp] !== '' && Number.isNaN(parseTimestamp(record[col.timestamp]))) {
    return sink.bad(`timestamp "${record[col.timestamp]}" is neither ISO 8601 nor epoch seconds/ms`);
  }
  const eventId = col.event_id >= 0 ? record[col.event_id] : '';
  if (eventId) {
    const key = `${user}\u0000${eventId}`;
    if (b.events.has(key)) return sink.drop('repeated event_id');
    b.events.add(key);
  }
  add(b, user, item, weight, col.title >= 0 ? record[col.title] : '', col.session_id >= 0 ? record[col.session_id] : '');
  return true;
}

/** Parses one CSV stream into the shared state (several files of one layout can share it). */
async function parseInto(input: Readable, state: ParseState, fileLabel: string): Promise<void> {
  const { stats, b } = state;
  const bad = (line: number, reason: string) => {
    stats.malformed++;
    if (stats.malformedExamples.length < MAX_EXAMPLES)
      stats.malformedExamples.push(fileLabel ? { line, file: fileLabel, reason } : { line, reason });
  };
  const drop = (reason: string): false => {
    stats.filtered[reason] = (stats.filtered[reason] ?? 0) + 1;
    return false;
  };
  const parser = input.pipe(
    parse({ bom: true, relax_column_count: true, skip_empty_lines: true, skip_records_with_error: true, info: true, trim: true }),
  );
  parser.on('skip', (err: Error & { lines?: number }) => bad(err.lines ?? 0, `unparseable CSV: ${err.message}`));

  let header: string[] | undefined;
  let layout: Dataset['layout'] = 'generic';
  let col: Columns = {};
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    if (!header) {
      header = record.map((h) => h.trim());
      ({ layout, col } = detectLayout(header, fileLabel));
      if (state.layout && state.layout !== layout) throw new Error(`${fileLabel} is ${layout} but earlier files are ${state.layout}`);
      state.layout = layout;
      continue;
    }
    stats.rows++;
    if (record.length < header.length) {
      bad(info.lines, `expected ${header.length} fields, got ${record.length}`);
      continue;
    }
    const sink: RowSink = {
      bad: (reason) => {
        bad(info.lines, reason);
        return false;
      },
      drop,
    };
    if ((layout === 'online-retail' ? onlineRetailRow : genericRow)(record, col, b, sink)) stats.used++;
  }
  if (!header) throw new Error(`${fileLabel || 'input'} is empty`);
}

function finish(state: ParseState): Omit<Dataset, 'digest'> {
  const { stats, b } = state;
  const layout = state.layout ?? 'generic';
  const titles = new Array<string>(b.items.size).fill('');
  for (const [item, votes] of b.titleVotes) titles[item] = mostFrequent(votes);
  const fields = emptyInfo(b.items.size);
  for (const [item, votes] of b.priceVotes) fields.price[item] = mostFrequent(votes);
  const matrix = csrFromTriples(b.users.size, b.items.size, Int32Array.from(b.r), Int32Array.from(b.c), Float32Array.from(b.v));
  const basketMatrix = csrFromTriples(
    b.baskets.size,
    b.items.size,
    Int32Array.from(b.br),
    Int32Array.from(b.bc),
    new Float32Array(b.br.length).fill(1),
  );
  basketMatrix.values.fill(1); // an item counts once per basket
  const baskets = { matrix: basketMatrix, user: Int32Array.from(b.basketUser) };
  return { layout, userIds: [...b.users.keys()], itemIds: [...b.items.keys()], titles, fields, matrix, baskets, stats };
}

function add(b: Builder, user: string, item: string, weight: number, title: string, basket: string): void {
  const u = intern(b.users, user);
  const i = intern(b.items, item);
  if (basket) {
    const key = `${user}\u0000${basket}`;
    let k = b.baskets.get(key);
    if (k === undefined) {
      k = b.baskets.size;
      b.baskets.set(key, k);
      b.basketUser.push(u);
    }
    b.br.push(k);
    b.bc.push(i);
  }
  b.r.push(u);
  b.c.push(i);
  b.v.push(weight);
  if (title) vote(b.titleVotes, i, title);
}

function vote<V>(votes: Map<number, Map<V, number>>, item: number, value: V): void {
  let v = votes.get(item);
  if (!v) {
    v = new Map();
    votes.set(item, v);
  }
  v.set(value, (v.get(value) ?? 0) + 1);
}

/** The value with the most votes; ties go to the smallest value (deterministic). */
function mostFrequent<V extends string | number>(votes: Map<V, number>): V {
  let best: V | undefined;
  let bestCount = -1;
  for (const [value, n] of votes) {
    if (n > bestCount || (n === bestCount && best !== undefined && value < best)) {
      best = value;
      bestCount = n;
    }
  }
  return best as V;
}

/** Per-item facts besides the title: price (NaN when unknown), category ('' none), availability, image. */
export interface ItemInfo {
  price: Float32Array;
  category: string[];
  available: (boolean | undefined)[];
  imageUrl: string[];
}

function emptyInfo(n: number): ItemInfo {
  return {
    price: new Float32Array(n).fill(Number.NaN),
    category: new Array(n).fill(''),
    available: new Array(n).fill(undefined),
    imageUrl: new Array(n).fill(''),
  };
}

/** `17850.0` → `17850`; other ids pass through trimmed. */
export function normaliseId(raw: string): string | undefined {
  const s = raw.trim();
  if (!s) return undefined;
  const m = /^(\d+)\.0+$/.exec(s);
  return m ? m[1] : s;
}

/**
 * An items CSV (`item_id,title,category,price,available,image_url`, any order, each optional but
 * item_id) over what the interactions said: titles and the other fields of the items it names.
 */
async function applyItems(ds: Omit<Dataset, 'digest'>, file: string): Promise<void> {
  const index = new Map(ds.itemIds.map((id, i) => [id, i]));
  const raw = createReadStream(file);
  const text: Readable = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const parser = text.pipe(parse({ bom: true, columns: true, relax_column_count: true, skip_records_with_error: true, trim: true }));
  for await (const row of parser as AsyncIterable<Record<string, string>>) {
    const i = index.get(row.item_id);
    if (i === undefined) continue;
    if (row.title) ds.titles[i] = row.title;
    if (row.category) ds.fields.category[i] = row.category;
    const price = Number(row.price);
    if (row.price && Number.isFinite(price) && price >= 0) ds.fields.price[i] = price;
    if (row.available) ds.fields.available[i] = !/^(false|0|no|n)$/i.test(row.available);
    if (row.image_url && /^https?:\/\//.test(row.image_url)) ds.fields.imageUrl[i] = row.image_url;
  }
}
