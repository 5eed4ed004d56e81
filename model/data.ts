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
 * rows are counted with their line numbers and skipped; they never abort the run — except a
 * quote left open across lines: CSV reads everything up to the next quote (or the end of the
 * file) as one field, so skipping that "row" would silently drop every line it swallowed. That
 * stops the load with the line where the quote opened.
 *
 * The items file (`--items`) is read with the same CSV rules; its values are checked one by one
 * (see applyItemsFile) and the ones that do not parse are counted and reported, never guessed.
 */

import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { itemIdProblem, userIdProblem } from '@edge-recs/core/ids';
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
  /** what the items file (LoadOptions.itemsFile) did, when one was given */
  items?: ItemsReport;
}

export interface LoadStats {
  rows: number;
  used: number;
  /** rows dropped by the layout's rules (cancellations, non-products, …), by reason */
  filtered: Record<string, number>;
  malformed: number;
  /** first malformed rows: 1-based line number (and file, for a directory input) and why */
  malformedExamples: { line: number; file?: string; reason: string }[];
  /**
   * Users whose id the API refuses (core/ids.ts): their rows still train the model (what they
   * bought together teaches the item model), but GET /v1/users/{id}/… can never ask for them.
   */
  unaddressableUsers: { count: number; examples: string[] };
}

/**
 * Stock codes of real products start with five digits, optionally followed by letters
 * (85123A, 71053, 84029E). Everything else in the data is postage, fees or adjustments:
 * POST, DOT, M, D, C2, S, B, PADS, CRUK, AMAZONFEE, BANK CHARGES, gift_0001_*, DCGS*…
 */
const PRODUCT_CODE = /^\d{5}[A-Za-z]*$/;

const MAX_EXAMPLES = 20;

export interface LoadOptions {
  /** Optional items CSV (`item_id` and any of title, category, price, available, image_url): see applyItemsFile. */
  itemsFile?: string;
}

/**
 * Stats a file or directory the user named, turning a missing or unreadable one into a one-line
 * error ("cannot read items file x.csv: ENOENT") rather than a stack trace.
 */
async function statInput(path: string, what: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** A file's text, gunzipped when it ends in .gz; read and decompression errors surface through the returned stream. */
function openText(file: string, onBytes?: (chunk: Buffer) => void): Readable {
  const raw = createReadStream(file);
  if (onBytes) raw.on('data', (chunk) => onBytes(chunk as Buffer));
  const text: Readable = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw.pipe(new PassThrough());
  // pipe() does not forward errors: without this a read error is an unhandled 'error' event
  raw.on('error', (err) => text.destroy(err));
  return text;
}

/**
 * Loads a CSV / CSV.gz file, or every *.csv / *.csv.gz file of a directory in name order (for
 * example the Worker's event exports, one file per time window). The digest covers all bytes read.
 */
export async function loadInteractions(path: string, opts: LoadOptions = {}): Promise<Dataset> {
  const hash = createHash('sha256');
  const info = await statInput(path, 'input file');
  const files = info.isDirectory()
    ? (await readdir(path))
        .filter((f) => /\.csv(\.gz)?$/.test(f))
        .sort()
        .map((f) => join(path, f))
    : [path];
  if (files.length === 0) throw new Error(`no .csv or .csv.gz files in ${path}`);
  const state = newState();
  for (const file of files) {
    await parseInto(
      openText(file, (chunk) => hash.update(chunk)),
      state,
      files.length > 1 ? basename(file) : '',
    );
  }
  const result = finish(state);
  const items = opts.itemsFile ? await applyItemsFile(opts.itemsFile, result) : undefined;
  return { ...result, digest: hash.digest('hex'), ...(items ? { items } : {}) };
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
    stats: { rows: 0, used: 0, filtered: {}, malformed: 0, malformedExamples: [], unaddressableUsers: { count: 0, examples: [] } },
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
    `unrecognised header "${header.join(',')}"${fileLabel ? ` in ${fileLabel}` : ''}: expected user_id,item_id[,weight][,timestamp][,session_id][,event_id] (any order) or the UCI Online Retail columns`,
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

/** An id as a message quotes it: in JSON quotes (control characters visible), cut to 60 characters. */
const shownId = (id: string) => JSON.stringify(id.length > 60 ? `${id.slice(0, 60)}…` : id);

/** One row of the generic layout; false when the row is not used. */
function genericRow(record: string[], col: Columns, b: Builder, sink: RowSink): boolean {
  const user = record[col.user_id];
  const item = record[col.item_id];
  if (!user) return sink.bad('blank user_id');
  if (!item) return sink.bad('blank item_id');
  // a product the API cannot name could be recommended but never be taken out of stock or put in a basket
  const itemProblem = itemIdProblem(item);
  if (itemProblem) return sink.bad(`item_id ${shownId(item)} is not an id the API accepts: ${itemProblem}`);
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

/** The csv-parse options of every CSV the trainer reads (interactions and items). */
const CSV_OPTIONS = {
  bom: true,
  relax_column_count: true,
  skip_empty_lines: true,
  skip_records_with_error: true,
  info: true,
  trim: true,
  // the record's raw text: how many lines a bad record spans, and where it started
  raw: true,
} as const;

/**
 * The 1-based lines a record spans, from the line csv-parse is at and the record's raw text.
 * Blank lines skipped before the record are in the raw text too, and are not part of it. csv-parse
 * counts a line break once it reads past it, and inside quotes counts CR and LF of a CRLF
 * separately: `start` undoes its count; `end` counts CRLF once, as an editor shows the file.
 * `final`: the raw text ends with the record's own terminator (a completed record), not yet counted.
 */
function recordLines(lines: number, raw: string, final: boolean): { start: number; end: number } {
  const text = raw.replace(/^[\r\n]+/, '');
  const seen = text.replace(final ? /\r?\n$|\r$/ : /[\r\n]$/, '');
  let counted = 0;
  for (let i = 0; i < seen.length; i++) if (seen.charCodeAt(i) === 10 || seen.charCodeAt(i) === 13) counted++;
  const start = lines - counted;
  return { start, end: start + (text.replace(/\r?\n$|\r$/, '').match(/\r\n|\r|\n/g)?.length ?? 0) };
}

/** The first line of a record's raw text, shortened, to show where the damage is. */
function excerpt(raw: string): string {
  const first = raw.replace(/^[\r\n]+/, '').split(/\r?\n|\r/)[0];
  return first.length > 60 ? `${first.slice(0, 57)}...` : first;
}

/**
 * Runs `onRecord` on every record of a CSV stream (synchronously, in order). A record csv-parse
 * rejects on one line goes to `onBad` (counted and skipped by the caller). One it rejects after
 * reading across lines is an unclosed (or wrongly closed) quote that swallowed every line up to
 * the error, possibly the rest of the input: that throws, naming the line where the quote opened.
 */
async function eachCsvRecord(
  input: Readable,
  where: string,
  onBad: (line: number, reason: string) => void,
  onRecord: (record: string[], line: number, raw: string) => void,
): Promise<void> {
  const parser = input.pipe(parse(CSV_OPTIONS));
  // one record can raise several errors (csv-parse keeps reading it): count it once
  let lastBadStart = -1;
  parser.on('skip', (err: Error & { lines?: number; code?: string }, raw?: string) => {
    const at = err.lines ?? 0;
    const { start, end } = raw === undefined ? { start: at, end: at } : recordLines(at, raw, false);
    if (end > start) {
      const why =
        err.code === 'CSV_QUOTE_NOT_CLOSED' ? 'is never closed' : `runs on to line ${end} (${err.message.replace(/ at line \d+.*$/, '')})`;
      // thrown from the listener, csv-parse fails the stream with it
      throw new Error(
        `${where}line ${start}: a quoted field opens on this line and ${why}: ${end - start + 1} lines would be skipped as one malformed row. Fix the quoting of: ${excerpt(raw ?? '')}`,
      );
    }
    if (start === lastBadStart) return;
    lastBadStart = start;
    onBad(start, `unparseable CSV: ${err.message}`);
  });
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number; raw: string } }>) {
    onRecord(record, info.lines, info.raw);
  }
}

/** An id column holding a line break: a quote opened in an earlier field and closed lines later. */
function idSpanningLines(where: string, record: string[], idColumns: number[], line: number, raw: string): Error | undefined {
  for (const c of idColumns) {
    const v = record[c];
    if (v !== undefined && (v.includes('\n') || v.includes('\r'))) {
      const { start, end } = recordLines(line, raw, true);
      return new Error(
        `${where}line ${start}: a quoted field opens on this line and closes only at line ${end}, so an id would hold ${end - start + 1} lines of the file. Fix the quoting of: ${excerpt(raw)}`,
      );
    }
  }
  return undefined;
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
  const where = fileLabel ? `${fileLabel} ` : '';

  let header: string[] | undefined;
  let layout: Dataset['layout'] = 'generic';
  let col: Columns = {};
  let idColumns: number[] = [];
  await eachCsvRecord(input, where, bad, (record, line, raw) => {
    if (!header) {
      header = record.map((h) => h.trim());
      ({ layout, col } = detectLayout(header, fileLabel));
      if (state.layout && state.layout !== layout) throw new Error(`${fileLabel} is ${layout} but earlier files are ${state.layout}`);
      state.layout = layout;
      idColumns = (layout === 'generic' ? [col.user_id, col.item_id] : [col.invoiceno, col.stockcode, col.customerid]).filter(
        (c) => c >= 0,
      );
      return;
    }
    stats.rows++;
    // more fields than the header is as wrong as fewer: most often an unquoted comma in a title,
    // which shifts every later column, so the row is not guessed at
    if (record.length !== header.length) {
      bad(line, `expected ${header.length} fields, got ${record.length}`);
      return;
    }
    const spanning = idSpanningLines(where, record, idColumns, line, raw);
    if (spanning) throw spanning;
    const sink: RowSink = {
      bad: (reason) => {
        bad(line, reason);
        return false;
      },
      drop,
    };
    if ((layout === 'online-retail' ? onlineRetailRow : genericRow)(record, col, b, sink)) stats.used++;
  });
  if (!header) throw new Error(`${fileLabel || 'input'} is empty`);
}

function finish(state: ParseState): Omit<Dataset, 'digest'> {
  const { stats, b } = state;
  for (const user of b.users.keys()) {
    const problem = userIdProblem(user);
    if (!problem) continue;
    const { unaddressableUsers: u } = stats;
    u.count++;
    if (u.examples.length < MAX_EXAMPLES) u.examples.push(`${shownId(user)}: ${problem}`);
  }
  const layout = state.layout ?? 'generic';
  const titles = new Array<string>(b.items.size).fill('');
  for (const [item, votes] of b.titleVotes) titles[item] = mostFrequent(votes);
  const fields = emptyItemInfo(b.items.size);
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

/** No facts about any of `n` items. */
export function emptyItemInfo(n: number): ItemInfo {
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

/** What applying an items file did (printed by the CLIs as one summary line and the first warnings). */
export interface ItemsReport {
  file: string;
  /** data rows read */
  rows: number;
  /** rows whose item the model knows, applied (their good values) */
  applied: number;
  /** rows naming items the interactions never mention (nothing to apply them to) */
  unknownIds: number;
  /** values refused (left unknown): an availability, price or image URL that does not parse */
  badValues: number;
  /** rows csv-parse could not read, or without an item_id */
  malformed: number;
  /** rows repeating an item of an earlier row: applied over it field by field (the later value wins), and warned about */
  duplicates: number;
  /** the first few problems, with their 1-based line numbers */
  warnings: { line: number; reason: string }[];
}

const MAX_ITEM_WARNINGS = 5;

/** The columns of an items file besides item_id (one of them at least). */
export const ITEM_FIELD_COLUMNS = ['title', 'category', 'price', 'available', 'image_url'] as const;

/**
 * Values `available` accepts, case-insensitively: the usual booleans and stock words (Google
 * Merchant's in_stock/out_of_stock among them). Anything else — "backorder", "maybe", "2" — is
 * reported, not guessed: an item wrongly marked unavailable disappears from every answer.
 */
export const AVAILABLE_VALUES: Record<string, boolean> = Object.fromEntries([
  ...['true', 'yes', 'y', '1', 'in stock', 'in_stock', 'instock', 'available'].map((v) => [v, true] as const),
  ...['false', 'no', 'n', '0', 'out of stock', 'out_of_stock', 'outofstock', 'sold out', 'sold_out', 'unavailable'].map(
    (v) => [v, false] as const,
  ),
]);

/** A plain non-negative decimal (12, 12.5, .5, 1e3): no currency, no thousands or decimal commas. */
const PRICE = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** The largest finite float32: the artifact stores prices as float32. */
const MAX_PRICE = 3.4028234663852886e38;

function parsePrice(v: string): number | undefined {
  if (!PRICE.test(v)) return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n <= MAX_PRICE ? n : undefined;
}

function isAbsoluteHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * Applies an items CSV (`item_id` and any of title, category, price, available, image_url; header
 * names case-insensitive, any order, extra columns ignored — as the interactions' header) to the
 * items the interactions named: titles and the other fields, over what the interactions said.
 * Empty values leave a field as it was. A value that does not parse (an availability outside
 * AVAILABLE_VALUES, a price that is not a plain non-negative finite number, an image URL that is
 * not absolute http(s)) is left unknown, counted and reported with its line: the rest of the row
 * still applies. Rows for ids the interactions never mention are counted. A header without
 * item_id or without any field column fails, since it would apply nothing.
 */
export async function applyItemsFile(
  file: string,
  target: { itemIds: string[]; titles: string[]; fields: ItemInfo },
): Promise<ItemsReport> {
  const info = await statInput(file, 'items file');
  if (info.isDirectory()) throw new Error(`cannot read items file ${file}: it is a directory`);
  const report: ItemsReport = { file, rows: 0, applied: 0, unknownIds: 0, badValues: 0, malformed: 0, duplicates: 0, warnings: [] };
  /** the line each item was first given on, to name it when a later row repeats the item */
  const firstLine = new Map<string, number>();
  const warn = (line: number, reason: string) => {
    if (report.warnings.length < MAX_ITEM_WARNINGS) report.warnings.push({ line, reason });
  };
  const bad = (line: number, reason: string) => {
    report.badValues++;
    warn(line, reason);
  };
  const index = new Map(target.itemIds.map((id, i) => [id, i]));
  const { fields, titles } = target;
  /** column of each known name (-1: absent), from the header */
  let col: Record<string, number> | undefined;
  let width = 0;
  await eachCsvRecord(
    openText(file),
    `${basename(file)} `,
    (line, reason) => {
      report.malformed++;
      warn(line, reason);
    },
    (record, line) => {
      if (!col) {
        const names = record.map((h) => h.trim().toLowerCase());
        const found = Object.fromEntries(['item_id', ...ITEM_FIELD_COLUMNS].map((n) => [n, names.indexOf(n)]));
        const expected = `expected item_id and any of ${ITEM_FIELD_COLUMNS.join(', ')}`;
        if (found.item_id < 0) throw new Error(`items file ${file}: no item_id column in the header "${record.join(',')}" (${expected})`);
        if (ITEM_FIELD_COLUMNS.every((n) => found[n] < 0))
          throw new Error(`items file ${file}: the header "${record.join(',')}" has nothing to apply (${expected})`);
        col = found;
        width = record.length;
        return;
      }
      report.rows++;
      // a row wider or narrower than the header has shifted columns (an unquoted comma): not guessed at
      if (record.length !== width) {
        report.malformed++;
        warn(line, `expected ${width} fields, got ${record.length}`);
        return;
      }
      const c = col;
      const value = (name: string) => (c[name] >= 0 ? (record[c[name]] ?? '') : '');
      const id = value('item_id');
      if (!id) {
        report.malformed++;
        warn(line, 'blank item_id');
        return;
      }
      const earlier = firstLine.get(id);
      if (earlier === undefined) firstLine.set(id, line);
      else {
        report.duplicates++;
        warn(line, `item ${id} was already given on line ${earlier}: this row's values replace those it repeats`);
      }
      const i = index.get(id);
      if (i === undefined) {
        report.unknownIds++;
        return;
      }
      report.applied++;
      const title = value('title'),
        category = value('category'),
        price = value('price'),
        available = value('available'),
        image = value('image_url');
      if (title) titles[i] = title;
      if (category) fields.category[i] = category;
      if (price) {
        const p = parsePrice(price);
        if (p === undefined) bad(line, `price "${price}" is not a plain non-negative number (like 12.5: no currency sign, no comma)`);
        else fields.price[i] = p;
      }
      if (available) {
        const a = AVAILABLE_VALUES[available.toLowerCase()];
        if (a === undefined)
          bad(line, `available "${available}" is none of true/false, yes/no, 1/0, in stock/out of stock, available/unavailable`);
        else fields.available[i] = a;
      }
      if (image) {
        if (isAbsoluteHttpUrl(image)) fields.imageUrl[i] = image;
        else bad(line, `image_url "${image}" is not an absolute http(s) URL`);
      }
    },
  );
  if (!col) throw new Error(`items file ${file} is empty`);
  return report;
}
