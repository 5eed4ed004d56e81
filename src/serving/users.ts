/**
 * User embeddings in Workers KV.
 *
 * Key `emb:<model version>:<user key>` (user key = keyed hash, see events/identity.ts) → a compact
 * little-endian binary record:
 *   u32 dims | u32 n | f32[dims] vector | u32[n] item indices | f32[n] strengths
 * The version in the key is what keeps a vector from ever meeting another version's item
 * factors. Values are filled from the artifact's user shards on first use (write-through), so
 * KV is the per-user store at the edge and the shard files are only the cold source.
 */
import type { ServingModel } from './model';
import type { UserIdentity } from '../events/identity';

export interface UserRecord {
  vector: Float32Array;
  /** item indices of this model version the user interacted with */
  items: Uint32Array;
  strengths: Float32Array;
}

export function embeddingKey(version: string, userKey: string): string {
  return `emb:${version}:${userKey}`;
}

export function encodeUserRecord(r: UserRecord): ArrayBuffer {
  const dims = r.vector.length, n = r.items.length;
  const buf = new ArrayBuffer(8 + dims * 4 + n * 8);
  const dv = new DataView(buf);
  dv.setUint32(0, dims, true);
  dv.setUint32(4, n, true);
  new Float32Array(buf, 8, dims).set(r.vector);
  new Uint32Array(buf, 8 + dims * 4, n).set(r.items);
  new Float32Array(buf, 8 + dims * 4 + n * 4, n).set(r.strengths);
  return buf;
}

export function decodeUserRecord(buf: ArrayBuffer, expectedDims: number): UserRecord | null {
  if (buf.byteLength < 8) return null;
  const dv = new DataView(buf);
  const dims = dv.getUint32(0, true), n = dv.getUint32(4, true);
  if (dims !== expectedDims || buf.byteLength !== 8 + dims * 4 + n * 8) return null;
  return {
    vector: new Float32Array(buf, 8, dims),
    items: new Uint32Array(buf, 8 + dims * 4, n),
    strengths: new Float32Array(buf, 8 + dims * 4 + n * 4, n),
  };
}

export interface UserStoreDeps {
  kv: KVNamespace;
  ttlSeconds: number;
  /** how long this isolate may reuse a record it read or wrote (USER_CACHE_SECONDS; 0 = never) */
  cacheSeconds?: number;
  /** schedules work after the response (ctx.waitUntil) */
  defer: (p: Promise<unknown>) => void;
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
    if (this.entries.size > RecentUsers.MAX) this.entries.delete(this.entries.keys().next().value!);
  }

  forget(userKey: string): void {
    this.entries.delete(userKey);
  }
}

/** One per isolate. */
export const recentUsers = new RecentUsers();

/** The id a model's user shards are keyed by. */
export function shardId(model: ServingModel, user: UserIdentity): string {
  return model.manifest.userIds === 'hmac-sha256' ? user.key : user.id;
}

/** The user's record for this model version (KV, then the artifact's shards), or null. */
export async function getUserRecord(deps: UserStoreDeps, model: ServingModel, user: UserIdentity): Promise<UserRecord | null> {
  const cached = await cachedRecord(deps, model, user);
  if (cached) return cached;
  if (await deps.kv.get(forgottenKey(user.key))) return null;
  return shardRecord(deps, model, user);
}

/** The user's record for this model version as stored in KV (a valid one), or null. */
export async function cachedRecord(deps: Pick<UserStoreDeps, 'kv' | 'cacheSeconds'>, model: ServingModel, user: UserIdentity): Promise<UserRecord | null> {
  const cacheSeconds = deps.cacheSeconds ?? 0;
  const recent = cacheSeconds > 0 ? recentUsers.get(model.version, user.key, cacheSeconds) : null;
  if (recent) return recent;
  const value = await deps.kv.get(embeddingKey(model.version, user.key), 'arrayBuffer');
  const rec = value ? decodeUserRecord(value, model.dims) : null;
  if (!rec || !rec.items.every((i) => i < model.itemCount)) return null;
  if (cacheSeconds > 0) recentUsers.set(model.version, user.key, rec);
  return rec;
}

/** The user's trained record from the artifact's shards, cached into KV after the response. */
export async function shardRecord(deps: UserStoreDeps, model: ServingModel, user: UserIdentity): Promise<UserRecord | null> {
  const key = embeddingKey(model.version, user.key);
  const hit = await model.shardUser(shardId(model, user));
  if (!hit) return null;
  deps.defer(deps.kv.put(key, encodeUserRecord(hit), { expirationTtl: deps.ttlSeconds }).catch(() => undefined));
  if ((deps.cacheSeconds ?? 0) > 0) recentUsers.set(model.version, user.key, hit);
  return hit;
}

/**
 * Marker that a user asked to be forgotten: the artifact's shards (signed, immutable) may still
 * hold their trained vector until a model trained without them is active, so lookups must not
 * fall back to the shard. Holds only the keyed hash.
 */
export function forgottenKey(userKey: string): string {
  return `forgotten:${userKey}`;
}

/** Marker that the user has an edge history (events), so a missing embedding can be folded in. */
export function historyMarkerKey(userKey: string): string {
  return `hist:${userKey}`;
}

/** Both markers of a user in one bulk read (one KV operation). */
export async function readMarkers(kv: KVNamespace, userKey: string): Promise<{ hasHistory: boolean; forgotten: boolean }> {
  const markers = await kv.get([historyMarkerKey(userKey), forgottenKey(userKey)], 'text');
  return { hasHistory: markers.get(historyMarkerKey(userKey)) != null, forgotten: markers.get(forgottenKey(userKey)) != null };
}
