/**
 * User records in Workers KV, and this isolate's short-lived cache of them.
 *
 * `emb:<model version>:<user key>` (storage/keys.ts) → a compact little-endian binary record,
 *   u32 dims | u32 n | f32[dims] vector | u32[n] item indices | f32[n] strengths [| UTF-8 JSON others]
 * stored as base64 text: KV's bulk read returns text or JSON only, and text lets one bulk read
 * fetch a visitor's record together with their history and forgotten markers (one KV operation
 * for a first visit instead of two). The version in the key is what keeps a vector from ever
 * meeting another version's item factors. Records are written at a user's events and, for models
 * with more user shards than an isolate keeps, filled from the shards on first use (write-through);
 * the shard files are the cold source.
 */
import { fromBase64, toBase64 } from '@edge-recs/core/bytes';
import { KV } from './keys';

export interface UserRecord {
  vector: Float32Array;
  /** item indices of this model version the user interacted with */
  items: Uint32Array;
  strengths: Float32Array;
  /**
   * ids of history items this model does not know (catalogue products added since it was
   * trained): not scored, but never shown back to the user when their history is left out
   */
  others?: string[];
}

/** The record's bytes (layout above). */
function recordBytes(r: UserRecord): Uint8Array {
  const dims = r.vector.length;
  const n = r.items.length;
  const others = r.others?.length ? new TextEncoder().encode(JSON.stringify(r.others)) : new Uint8Array(0);
  const buf = new ArrayBuffer(8 + dims * 4 + n * 8 + others.byteLength);
  new Uint8Array(buf, 8 + dims * 4 + n * 8).set(others);
  const dv = new DataView(buf);
  dv.setUint32(0, dims, true);
  dv.setUint32(4, n, true);
  new Float32Array(buf, 8, dims).set(r.vector);
  new Uint32Array(buf, 8 + dims * 4, n).set(r.items);
  new Float32Array(buf, 8 + dims * 4 + n * 4, n).set(r.strengths);
  return new Uint8Array(buf);
}

/** The KV value of a record: its bytes in base64. */
export function encodeUserRecord(r: UserRecord): string {
  return toBase64(recordBytes(r));
}

/**
 * The record in a KV value if it is one of `dims` dimensions over items below `itemCount`, else
 * null (also for anything that is not this format, such as a value written by an older release).
 */
export function decodeUserRecord(value: string, dims: number, itemCount: number): UserRecord | null {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(value);
  } catch {
    return null;
  }
  if (bytes.byteLength < 8) return null;
  const buf = bytes.buffer as ArrayBuffer; // a fresh array: its buffer starts at the record
  const dv = new DataView(buf);
  const n = dv.getUint32(4, true);
  const fixed = 8 + dims * 4 + n * 8;
  if (dv.getUint32(0, true) !== dims || buf.byteLength < fixed) return null;
  let others: string[] | undefined;
  if (buf.byteLength > fixed) {
    try {
      const parsed: unknown = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, fixed)));
      if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) return null;
      others = parsed;
    } catch {
      return null;
    }
  }
  const rec: UserRecord = {
    vector: new Float32Array(buf, 8, dims),
    items: new Uint32Array(buf, 8 + dims * 4, n),
    strengths: new Float32Array(buf, 8 + dims * 4 + n * 4, n),
    ...(others ? { others } : {}),
  };
  return rec.items.every((i) => i < itemCount) ? rec : null;
}

/**
 * Records this isolate read or wrote in the last few seconds, so a shopper's next page skips the
 * KV read (a hot KV read still costs a round trip and a billed operation). Bounded to
 * RecentUsers.MAX entries (a few MB at most). This isolate's own writes — events, shard fills,
 * deletes — replace or drop the entry at once; writes by other isolates show after at most
 * USER_CACHE_SECONDS, well inside KV's own propagation time across locations (60 s).
 */
export class RecentUsers {
  static readonly MAX = 2000;
  private readonly entries = new Map<string, { version: string; at: number; rec: UserRecord; revision?: number }>();

  get(version: string, userKey: string, maxAgeSeconds: number): UserRecord | null {
    const e = this.entries.get(userKey);
    if (!e || e.version !== version || Date.now() - e.at > maxAgeSeconds * 1000) return null;
    return e.rec;
  }

  /** `revision`: the history revision an event-made record folds in; an older one never replaces a newer */
  set(version: string, userKey: string, rec: UserRecord, revision?: number): void {
    const old = this.entries.get(userKey);
    if (old && old.version === version && revision !== undefined && old.revision !== undefined && old.revision > revision) return;
    this.entries.delete(userKey);
    this.entries.set(userKey, { version, at: Date.now(), rec, revision });
    if (this.entries.size > RecentUsers.MAX) this.entries.delete(this.entries.keys().next().value as string);
  }

  forget(userKey: string): void {
    this.entries.delete(userKey);
  }
}

/** One per isolate. */
export const recentUsers = new RecentUsers();

export interface UserStore {
  kv: KVNamespace;
  ttlSeconds: number;
  /** how long this isolate may reuse a record it read or wrote (USER_CACHE_SECONDS; 0 = never) */
  cacheSeconds: number;
  /** schedules work after the response (ctx.waitUntil) */
  defer: (p: Promise<unknown>) => void;
}

type RecordModel = { version: string; dims: number; itemCount: number };

/** The record cached in this isolate, if still fresh. */
function cachedRecord(store: UserStore, model: RecordModel, userKey: string): UserRecord | null {
  return store.cacheSeconds > 0 ? recentUsers.get(model.version, userKey, store.cacheSeconds) : null;
}

function keptRecord(store: UserStore, model: RecordModel, userKey: string, value: string | null | undefined): UserRecord | null {
  const rec = value ? decodeUserRecord(value, model.dims, model.itemCount) : null;
  if (rec && store.cacheSeconds > 0) recentUsers.set(model.version, userKey, rec);
  return rec;
}

/** The user's record for a model version as cached here or stored in KV (a valid one), or null. */
export async function readUserRecord(store: UserStore, model: RecordModel, userKey: string): Promise<UserRecord | null> {
  return (
    cachedRecord(store, model, userKey) ??
    keptRecord(store, model, userKey, await store.kv.get(KV.embedding(model.version, userKey), 'text'))
  );
}

/** Caches a record read from the artifact's shards: here at once, and (`persist`) in KV after the response. */
export function cacheShardRecord(store: UserStore, version: string, userKey: string, rec: UserRecord, opts: { persist: boolean }): void {
  if (opts.persist)
    store.defer(
      store.kv.put(KV.embedding(version, userKey), encodeUserRecord(rec), { expirationTtl: store.ttlSeconds }).catch(() => undefined),
    );
  if (store.cacheSeconds > 0) recentUsers.set(version, userKey, rec);
}

export interface UserMarkers {
  /** the user has an edge history (events), so a missing embedding can be folded in */
  hasHistory: boolean;
  /**
   * the user asked to be forgotten: the artifact's shards (signed, immutable) may still hold
   * their trained vector until a model trained without them is active, so lookups must not fall
   * back to the shard. Holds only the keyed hash and when (ms).
   */
  forgottenAt: number | null;
}

function markersOf(values: Map<string, string | null>, userKey: string): UserMarkers {
  const forgotten = values.get(KV.forgotten(userKey));
  return { hasHistory: values.get(KV.historyMarker(userKey)) != null, forgottenAt: forgotten == null ? null : Number(forgotten) || 0 };
}

/** Both markers of a user in one bulk read (one KV operation). */
export async function readMarkers(kv: KVNamespace, userKey: string): Promise<UserMarkers> {
  return markersOf(await kv.get([KV.historyMarker(userKey), KV.forgotten(userKey)], 'text'), userKey);
}

/** A visitor as first read: a record cached here, or what KV holds (record and both markers). */
export type Visitor = { from: 'isolate'; record: UserRecord } | { from: 'kv'; record: UserRecord | null; markers: UserMarkers };

/**
 * A visitor's record for a model version and, when it is not cached here, both markers too: one
 * bulk read (one KV operation) whether or not KV holds the record.
 */
export async function readVisitor(store: UserStore, model: RecordModel, userKey: string): Promise<Visitor> {
  const cached = cachedRecord(store, model, userKey);
  if (cached) return { from: 'isolate', record: cached };
  const key = KV.embedding(model.version, userKey);
  const values = await store.kv.get([key, KV.historyMarker(userKey), KV.forgotten(userKey)], 'text');
  return { from: 'kv', record: keptRecord(store, model, userKey, values.get(key)), markers: markersOf(values, userKey) };
}

export async function markHistory(kv: KVNamespace, userKey: string): Promise<void> {
  await kv.put(KV.historyMarker(userKey), '1');
}
