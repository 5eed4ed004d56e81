/**
 * The item model's files in a model artifact (little-endian, 4-byte aligned sections):
 *
 * neighbour lists (`item_neighbours.bin`, and `bought_together.bin` for the basket model):
 *   u32 magic "NBR1" | u32 itemCount | u32 nnz | u32 weightType (0 = int8, 1 = float16)
 *   i32 rowPtr[itemCount + 1] | i32 index[nnz]
 *   int8:    i8 q[nnz] (padded to 4) | f32 scale[itemCount]         weight = q·scale[row]
 *   float16: u16 half[nnz] (padded to 4)                            weight = half
 *   Row j lists item j's neighbours in descending weight; every weight is ≥ 0.
 *
 * factor statistics (`factor_stats.f64`): f64 mean[D] | f64 cov[D×D] — ȳ and Σ of the item
 *   factors, so the edge can z-normalise u·y_i per user with u·ȳ and √(uᵀΣu) (model/blend.ts).
 *
 * The blend constants travel in the manifest with the other hyperparameters (see blendManifestEntries).
 */

import type { BlendParams, FactorStats } from './blend';
import { fromFloat16, type ItemModelParams, type NeighbourLists } from './item-model';

export const ITEM_FILES = {
  neighbours: 'item_neighbours.bin',
  boughtTogether: 'bought_together.bin',
  factorStats: 'factor_stats.f64',
} as const;

const MAGIC = 0x3152424e; // "NBR1"
const pad4 = (n: number) => (n + 3) & ~3;

export function encodeNeighbourLists(l: NeighbourLists): Uint8Array {
  const n = l.itemCount,
    nnz = l.rowPtr[n];
  const weightBytes = l.weightType === 'int8' ? pad4(nnz) + 4 * n : pad4(2 * nnz);
  const bytes = new Uint8Array(16 + 4 * (n + 1) + 4 * nnz + weightBytes);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, n, true);
  v.setUint32(8, nnz, true);
  v.setUint32(12, l.weightType === 'int8' ? 0 : 1, true);
  let o = 16;
  for (let j = 0; j <= n; j++, o += 4) v.setInt32(o, l.rowPtr[j], true);
  for (let p = 0; p < nnz; p++, o += 4) v.setInt32(o, l.index[p], true);
  if (l.weightType === 'int8') {
    if (!l.int8) throw new Error('int8 lists without their stored values');
    for (let p = 0; p < nnz; p++) v.setInt8(o + p, l.int8.q[p]);
    o += pad4(nnz);
    for (let j = 0; j < n; j++, o += 4) v.setFloat32(o, l.int8.scales[j], true);
  } else {
    if (!l.float16) throw new Error('float16 lists without their stored values');
    for (let p = 0; p < nnz; p++) v.setUint16(o + 2 * p, l.float16[p], true);
  }
  return bytes;
}

export function decodeNeighbourLists(bytes: Uint8Array): NeighbourLists {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== MAGIC) throw new Error('not a neighbour list file');
  const n = v.getUint32(4, true),
    nnz = v.getUint32(8, true);
  const weightType = v.getUint32(12, true) === 0 ? 'int8' : 'float16';
  let o = 16;
  const rowPtr = new Int32Array(n + 1);
  for (let j = 0; j <= n; j++, o += 4) rowPtr[j] = v.getInt32(o, true);
  const index = new Int32Array(nnz);
  for (let p = 0; p < nnz; p++, o += 4) index[p] = v.getInt32(o, true);
  const weight = new Float32Array(nnz);
  if (weightType === 'int8') {
    const q = new Int8Array(nnz);
    for (let p = 0; p < nnz; p++) q[p] = v.getInt8(o + p);
    o += pad4(nnz);
    const scales = new Float32Array(n);
    for (let j = 0; j < n; j++, o += 4) scales[j] = v.getFloat32(o, true);
    for (let j = 0; j < n; j++) for (let p = rowPtr[j]; p < rowPtr[j + 1]; p++) weight[p] = q[p] * scales[j];
    return { itemCount: n, rowPtr, index, weight, weightType, int8: { q, scales } };
  }
  const half = new Uint16Array(nnz);
  for (let p = 0; p < nnz; p++) {
    half[p] = v.getUint16(o + 2 * p, true);
    weight[p] = fromFloat16(half[p]);
  }
  return { itemCount: n, rowPtr, index, weight, weightType, float16: half };
}

export function encodeFactorStats(s: FactorStats): Uint8Array {
  const out = new Float64Array(s.dims + s.dims * s.dims);
  out.set(s.mean);
  out.set(s.cov, s.dims);
  return new Uint8Array(out.buffer);
}

/** The item model's and the blend's constants as manifest hyperparameters (flat, prefixed). */
export function blendManifestEntries(
  item: ItemModelParams,
  blend: BlendParams,
  boughtTogether?: ItemModelParams,
): Record<string, number | string> {
  const out: Record<string, number | string> = {
    'item.lambda': item.lambda,
    'item.dropout': item.dropout,
    'item.popularityDebias': item.popularityDebias,
    'item.neighbours': item.neighbours,
    'item.weightType': item.weightType,
    'blend.factorWeight': blend.factorWeight,
    'blend.neighbourWeight': 1 - blend.factorWeight,
    'blend.neighbourInput': blend.neighbourInput,
    'blend.formula': 'a*(u.y_i - u.mean)/sqrt(u^T cov u) + (1-a)*n_i/sqrt(sum_k n_k^2 / items)',
  };
  if (boughtTogether) {
    out['boughtTogether.lambda'] = boughtTogether.lambda;
    out['boughtTogether.dropout'] = boughtTogether.dropout;
    out['boughtTogether.popularityDebias'] = boughtTogether.popularityDebias;
    out['boughtTogether.neighbours'] = boughtTogether.neighbours;
  }
  return out;
}
