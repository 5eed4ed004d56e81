/**
 * User shards: users are spread over `userShards` files by a stable hash of their id, so the edge
 * fetches one small file to find one user (and a refresh can copy shards to KV in bounded batches).
 * A shard holds each user's trained vector and their training history (item indices of that model
 * version with strengths), which the edge needs to exclude already-bought items and to fold the
 * user in again under a later model.
 *
 * Binary layout (little-endian, 4-byte aligned sections):
 *   "UFS1" | u32 count | u32 dims | u32 idBytes | u32 nnz | ids UTF-8 joined by "\n" | pad
 *   | f32[count·dims] vectors | u32[count+1] historyPtr | u32[nnz] historyItems | f32[nnz] historyStrengths
 */
import { fnv1a } from './hash';

const MAGIC = 0x31534655; // "UFS1"
const HEADER = 20;

export function shardOf(userId: string, shards: number): number {
  return fnv1a(userId) % shards;
}

export interface ShardUser {
  id: string;
  vector: Float32Array;
  items: ArrayLike<number>;
  strengths: ArrayLike<number>;
}

export function encodeShard(users: readonly ShardUser[], dims: number): Uint8Array {
  const idBytes = new TextEncoder().encode(users.map((u) => u.id).join('\n'));
  const nnz = users.reduce((n, u) => n + u.items.length, 0);
  const idsEnd = HEADER + idBytes.length;
  const vecStart = idsEnd + ((4 - (idsEnd % 4)) % 4);
  const ptrStart = vecStart + users.length * dims * 4;
  const itemStart = ptrStart + (users.length + 1) * 4;
  const strStart = itemStart + nnz * 4;
  const out = new Uint8Array(strStart + nnz * 4);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, users.length, true);
  dv.setUint32(8, dims, true);
  dv.setUint32(12, idBytes.length, true);
  dv.setUint32(16, nnz, true);
  out.set(idBytes, HEADER);
  const vec = new Float32Array(out.buffer, vecStart, users.length * dims);
  const ptr = new Uint32Array(out.buffer, ptrStart, users.length + 1);
  const items = new Uint32Array(out.buffer, itemStart, nnz);
  const strengths = new Float32Array(out.buffer, strStart, nnz);
  let w = 0;
  users.forEach((u, j) => {
    if (u.vector.length !== dims) throw new Error(`user ${u.id}: vector length ${u.vector.length} ≠ ${dims}`);
    vec.set(u.vector, j * dims);
    ptr[j] = w;
    for (let k = 0; k < u.items.length; k++, w++) {
      items[w] = u.items[k];
      strengths[w] = u.strengths[k];
    }
  });
  ptr[users.length] = w;
  return out;
}

export interface DecodedShard {
  ids: string[];
  dims: number;
  vectors: Float32Array;
  historyPtr: Uint32Array;
  historyItems: Uint32Array;
  historyStrengths: Float32Array;
}

export function decodeShard(buf: ArrayBuffer): DecodedShard {
  const dv = new DataView(buf);
  if (buf.byteLength < HEADER || dv.getUint32(0, true) !== MAGIC) throw new Error('not a user shard');
  const count = dv.getUint32(4, true);
  const dims = dv.getUint32(8, true);
  const idBytes = dv.getUint32(12, true);
  const nnz = dv.getUint32(16, true);
  const idsEnd = HEADER + idBytes;
  const vecStart = idsEnd + ((4 - (idsEnd % 4)) % 4);
  const ptrStart = vecStart + count * dims * 4;
  const itemStart = ptrStart + (count + 1) * 4;
  const strStart = itemStart + nnz * 4;
  if (strStart + nnz * 4 !== buf.byteLength) throw new Error('user shard has the wrong size');
  const text = new TextDecoder().decode(new Uint8Array(buf, HEADER, idBytes));
  const ids = count === 0 ? [] : text.split('\n');
  if (ids.length !== count) throw new Error('user shard id count mismatch');
  return {
    ids,
    dims,
    vectors: new Float32Array(buf, vecStart, count * dims),
    historyPtr: new Uint32Array(buf, ptrStart, count + 1),
    historyItems: new Uint32Array(buf, itemStart, nnz),
    historyStrengths: new Float32Array(buf, strStart, nnz),
  };
}
