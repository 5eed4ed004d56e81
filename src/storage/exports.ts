/**
 * Events flow back to origin for the next training run.
 *
 * Every accepted batch is written at once as a small CSV object
 *   events/pending/<window start>/<accepted at, ms>-<uuid>.csv
 * and the cron compacts each closed window into export parts
 *   events/export/<window start>--<first batch's name>.csv
 * in the generic interactions layout that `npm run train -- --input <directory>` reads:
 *   user_id,item_id,weight,timestamp,type,event_id,session_id
 * (user_id is the keyed hash, never the raw id; event_id is the client's, when it sent one —
 * an event retried across a failure can appear twice with the same event_id, and the trainer uses
 * it once; session_id groups a user's add-to-carts and purchases of one batch, the edge's basket,
 * from which the trainer learns what is bought together).
 *
 * Compaction is budgeted and idempotent: a run reads at most its operation budget of batches,
 * writes them as one part named after the first batch it consumed, then deletes them. A run cut
 * off between the write and the delete is repeated by the next run over the same batches, which
 * writes the same part again (the same name): nothing is lost or exported twice. Windows are
 * compacted only after a grace period, so a batch accepted at the end of a window has landed.
 *
 * Forgetting: rows of a user who asked to be forgotten are dropped at compaction when their batch
 * was accepted before the deletion; events accepted after it (a new consent) are exported. Rows
 * already exported are erased by the background erasure job (storage/erasure-jobs.ts).
 */
import { KV, R2 } from './keys';

export const EXPORT_HEADER = 'user_id,item_id,weight,timestamp,type,event_id,session_id';

export interface ExportRow {
  userKey: string;
  itemId: string;
  weight: number;
  at: number;
  type: string;
  eventId?: string;
  sessionId?: string;
}

/** The window containing `ms`, as its start written into key names (ISO 8601 with ":" and "." as "-"). */
export function windowStart(ms: number, windowSeconds: number): string {
  const w = windowSeconds * 1000;
  return new Date(Math.floor(ms / w) * w).toISOString().replace(/[:.]/g, '-');
}

/** The start (ms) of a window name written by windowStart, or NaN. */
export function windowStartMs(window: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})-(\d{3})Z/.exec(window);
  return m ? Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`) : Number.NaN;
}

/** When a pending batch was accepted (ms), from its key; NaN for a key of another shape. */
export function acceptedAt(pendingKey: string): number {
  const m = /\/(\d+)-[^/]+\.csv$/.exec(pendingKey);
  return m ? Number(m[1]) : Number.NaN;
}

/** The window of an export part key. */
export function exportWindow(exportKey: string): string {
  return exportKey
    .slice(R2.exports.length)
    .split('--')[0]
    .replace(/\.csv$/, '');
}

const csvField = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export function toCsv(rows: readonly ExportRow[]): string {
  return rows
    .map((r) =>
      [r.userKey, csvField(r.itemId), String(r.weight), new Date(r.at).toISOString(), r.type, r.eventId ?? '', r.sessionId ?? ''].join(','),
    )
    .join('\n');
}

/** Writes an accepted batch under its window; returns the key. */
export async function writeEventBatch(bucket: R2Bucket, rows: readonly ExportRow[], now: number, windowSeconds: number): Promise<string> {
  const key = `${R2.pendingWindow(windowStart(now, windowSeconds))}${now}-${crypto.randomUUID()}.csv`;
  await bucket.put(key, `${EXPORT_HEADER}\n${toCsv(rows)}\n`, { httpMetadata: { contentType: 'text/csv' } });
  return key;
}

export function dataLines(text: string): string[] {
  // any header line (batches written before a column was added have a shorter one)
  return text.split('\n').filter((l) => l && !l.startsWith('user_id,item_id,'));
}

export const userKeyOf = (line: string) => line.slice(0, line.indexOf(','));

/** Writes rows as a CSV object, or deletes the object when no row is left. */
export async function writeRows(bucket: R2Bucket, key: string, lines: readonly string[]): Promise<void> {
  if (lines.length) await bucket.put(key, `${EXPORT_HEADER}\n${lines.join('\n')}\n`, { httpMetadata: { contentType: 'text/csv' } });
  else await bucket.delete(key);
}

/**
 * When each user asked to be forgotten (ms), for the users that did: bulk KV reads of up to 100
 * markers per operation.
 */
export async function forgottenSince(kv: KVNamespace, userKeys: readonly string[]): Promise<{ at: Map<string, number>; ops: number }> {
  const at = new Map<string, number>();
  let ops = 0;
  for (let i = 0; i < userKeys.length; i += 100) {
    const chunk = userKeys.slice(i, i + 100);
    const values = await kv.get(
      chunk.map((u) => KV.forgotten(u)),
      'text',
    );
    ops++;
    chunk.forEach((u) => {
      const v = values.get(KV.forgotten(u));
      if (v != null) at.set(u, Number(v) || 0);
    });
  }
  return { at, ops };
}

export interface CompactOptions {
  /** storage operations this run may spend (R2 and KV) */
  opsBudget: number;
  /** compact windows that are still open (tests, and an operator's final flush) */
  includeOpen?: boolean;
  /** how long after a window closes it is compacted, so late batches have landed (ms; default COMPACTION_GRACE_MS, at most one window) */
  graceMs?: number;
}

export interface CompactResult {
  windows: string[];
  parts: string[];
  rows: number;
  dropped: number;
  ops: number;
  /** closed windows still holding batches after this run (budget spent) */
  remaining: boolean;
}

/** Grace period after a window closes (shorter windows wait one window length). */
export const COMPACTION_GRACE_MS = 5 * 60 * 1000;

/** Compacts closed windows into export parts within the run's operation budget (see the header). */
export async function compactExports(
  bucket: R2Bucket,
  kv: KVNamespace,
  windowSeconds: number,
  now: number,
  opts: CompactOptions,
): Promise<CompactResult> {
  const result: CompactResult = { windows: [], parts: [], rows: 0, dropped: 0, ops: 0, remaining: false };
  const grace = opts.graceMs ?? Math.min(COMPACTION_GRACE_MS, windowSeconds * 1000);
  const closedBefore = opts.includeOpen ? Number.POSITIVE_INFINITY : now - grace - windowSeconds * 1000;
  const listed = await bucket.list({ prefix: R2.pendingEvents, delimiter: '/' });
  result.ops++;
  for (const prefix of listed.delimitedPrefixes.sort()) {
    const window = prefix.slice(R2.pendingEvents.length, -1);
    if (!(windowStartMs(window) < closedBefore)) continue;
    // list, read N batches, ≤ N/100 marker reads, one put, one delete
    const room = opts.opsBudget - result.ops - 3;
    const n = Math.floor((room * 100) / 101);
    if (n < 1) {
      result.remaining = true;
      break;
    }
    const page = await bucket.list({ prefix, limit: Math.min(n, 1000) });
    result.ops++;
    const keys = page.objects.map((o) => o.key).sort();
    if (keys.length === 0) continue;
    const batches: { key: string; lines: string[] }[] = [];
    for (const key of keys) {
      const obj = await bucket.get(key);
      result.ops++;
      if (obj) batches.push({ key, lines: dataLines(await obj.text()) });
    }
    const users = [...new Set(batches.flatMap((b) => b.lines.map(userKeyOf)))];
    const forgotten = await forgottenSince(kv, users);
    result.ops += forgotten.ops;
    const kept: string[] = [];
    for (const b of batches) {
      const accepted = acceptedAt(b.key);
      for (const line of b.lines) {
        const since = forgotten.at.get(userKeyOf(line));
        // dropped only when the batch was accepted before the deletion (or its time is unknown)
        if (since !== undefined && !(accepted >= since)) result.dropped++;
        else kept.push(line);
      }
    }
    const stem = keys[0].slice(prefix.length).replace(/\.csv$/, '');
    const part = `${R2.exports}${window}--${stem}.csv`;
    if (kept.length) {
      await writeRows(bucket, part, kept);
      result.ops++;
      result.parts.push(part);
    }
    await bucket.delete(keys);
    result.ops++;
    result.windows.push(window);
    result.rows += kept.length;
    if (page.truncated) {
      result.remaining = true;
      break;
    }
  }
  return result;
}
