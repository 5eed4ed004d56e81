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
  /** schedules work after the response (ctx.waitUntil) */
  defer: (p: Promise<unknown>) => void;
}

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
export async function cachedRecord(deps: Pick<UserStoreDeps, 'kv'>, model: ServingModel, user: UserIdentity): Promise<UserRecord | null> {
  const value = await deps.kv.get(embeddingKey(model.version, user.key), 'arrayBuffer');
  const rec = value ? decodeUserRecord(value, model.dims) : null;
  return rec && rec.items.every((i) => i < model.itemCount) ? rec : null;
}

/** The user's trained record from the artifact's shards, cached into KV after the response. */
export async function shardRecord(deps: UserStoreDeps, model: ServingModel, user: UserIdentity): Promise<UserRecord | null> {
  const key = embeddingKey(model.version, user.key);
  const hit = await model.shardUser(shardId(model, user));
  if (!hit) return null;
  deps.defer(deps.kv.put(key, encodeUserRecord(hit), { expirationTtl: deps.ttlSeconds }).catch(() => undefined));
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
