/**
 * User embeddings in Workers KV.
 *
 * Key `emb:<model version>:<user key>` → a compact little-endian binary record:
 *   u32 dims | u32 n | f32[dims] vector | u32[n] item indices | f32[n] strengths
 * The version in the key is what keeps a vector from ever meeting another version's item
 * factors. Values are filled from the artifact's user shards on first use (write-through), so
 * KV is the per-user store at the edge and the shard files are only the cold source.
 */
import type { ServingModel } from './model';

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

/** The user's record for this model version, or null when the model does not know the user. */
export async function getUserRecord(deps: UserStoreDeps, model: ServingModel, userKey: string): Promise<UserRecord | null> {
  const key = embeddingKey(model.version, userKey);
  const cached = await deps.kv.get(key, 'arrayBuffer');
  if (cached) {
    const rec = decodeUserRecord(cached, model.dims);
    if (rec && rec.items.every((i) => i < model.itemCount)) return rec;
  }
  const hit = await model.shardUser(userKey);
  if (!hit) return null;
  deps.defer(deps.kv.put(key, encodeUserRecord(hit), { expirationTtl: deps.ttlSeconds }).catch(() => undefined));
  return hit;
}

export async function putUserRecord(deps: UserStoreDeps, model: ServingModel, userKey: string, rec: UserRecord): Promise<void> {
  await deps.kv.put(embeddingKey(model.version, userKey), encodeUserRecord(rec), { expirationTtl: deps.ttlSeconds });
}
