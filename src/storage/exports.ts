/**
 * Events flow back to origin for the next training run.
 *
 * Every accepted batch is written at once as a small CSV object under
 * `events/pending/<window start>/…`; the cron compacts each closed window into one
 * `events/export/<window start>.csv` in the generic interactions layout that
 * `npm run train -- --input <file or directory>` reads directly:
 *   user_id,item_id,weight,timestamp,type      (user_id is the keyed hash, never the raw id)
 * A forgotten user's rows are removed from pending objects and exports when they are deleted,
 * and dropped again at compaction as a guarantee against events that raced the deletion.
 */
import { KV, R2 } from './keys';

const PENDING_PREFIX = R2.pendingEvents;
const EXPORT_PREFIX = R2.exports;
export const EXPORT_HEADER = 'user_id,item_id,weight,timestamp,type';

export interface ExportRow {
  userKey: string;
  itemId: string;
  weight: number;
  at: number;
  type: string;
}

export function windowStart(ms: number, windowSeconds: number): string {
  const w = windowSeconds * 1000;
  return new Date(Math.floor(ms / w) * w).toISOString().replace(/[:.]/g, '-');
}

const csvField = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export function toCsv(rows: readonly ExportRow[]): string {
  return rows.map((r) => [r.userKey, csvField(r.itemId), String(r.weight), new Date(r.at).toISOString(), r.type].join(',')).join('\n');
}

export async function writeEventBatch(bucket: R2Bucket, rows: readonly ExportRow[], now: number, windowSeconds: number): Promise<string> {
  const key = `${R2.pendingWindow(windowStart(now, windowSeconds))}${now}-${crypto.randomUUID()}.csv`;
  await bucket.put(key, `${EXPORT_HEADER}\n${toCsv(rows)}\n`, { httpMetadata: { contentType: 'text/csv' } });
  return key;
}

function dataLines(text: string): string[] {
  return text.split('\n').filter((l) => l && l !== EXPORT_HEADER);
}

async function listAll(bucket: R2Bucket, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, cursor });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
}

/** Removes a user's rows from pending event objects and from the compacted exports. */
export async function forgetInExports(bucket: R2Bucket, userKey: string): Promise<number> {
  let removed = 0;
  for (const key of [...(await listAll(bucket, PENDING_PREFIX)), ...(await listAll(bucket, EXPORT_PREFIX))]) {
    const obj = await bucket.get(key);
    if (!obj) continue;
    const lines = dataLines(await obj.text());
    const kept = lines.filter((l) => !l.startsWith(`${userKey},`));
    if (kept.length === lines.length) continue;
    removed += lines.length - kept.length;
    if (kept.length) await bucket.put(key, `${EXPORT_HEADER}\n${kept.join('\n')}\n`);
    else await bucket.delete(key);
  }
  return removed;
}

export interface CompactResult {
  windows: string[];
  rows: number;
  dropped: number;
}

/**
 * Compacts closed windows (all windows with `includeOpen`) into export files, appending to an
 * existing export of the same window, and deletes the pending objects it consumed.
 */
export async function compactExports(
  bucket: R2Bucket,
  kv: KVNamespace,
  windowSeconds: number,
  now: number,
  opts: { includeOpen?: boolean } = {},
): Promise<CompactResult> {
  const open = windowStart(now, windowSeconds);
  const listed = await bucket.list({ prefix: PENDING_PREFIX, delimiter: '/' });
  const result: CompactResult = { windows: [], rows: 0, dropped: 0 };
  const forgotten = new Map<string, boolean>();
  for (const prefix of listed.delimitedPrefixes.sort()) {
    const window = prefix.slice(PENDING_PREFIX.length, -1);
    if (window >= open && !opts.includeOpen) continue;
    const keys = await listAll(bucket, prefix);
    const rows: string[] = [];
    for (const key of keys) {
      const obj = await bucket.get(key);
      if (obj) rows.push(...dataLines(await obj.text()));
    }
    const kept: string[] = [];
    for (const line of rows) {
      const userKey = line.slice(0, line.indexOf(','));
      if (!forgotten.has(userKey)) forgotten.set(userKey, (await kv.get(KV.forgotten(userKey))) !== null);
      if (forgotten.get(userKey)) result.dropped++;
      else kept.push(line);
    }
    const exportKey = R2.exportFile(window);
    const existing = await bucket.get(exportKey);
    const previous = existing ? dataLines(await existing.text()) : [];
    await bucket.put(exportKey, `${EXPORT_HEADER}\n${[...previous, ...kept].join('\n')}\n`, { httpMetadata: { contentType: 'text/csv' } });
    await bucket.delete(keys);
    result.windows.push(window);
    result.rows += kept.length;
  }
  return result;
}
