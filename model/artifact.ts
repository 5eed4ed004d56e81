/**
 * Builds model artifacts in memory (see core/manifest.ts for the format). Pure: no file
 * system, so the same code runs in the trainer (Node) and in tests inside workerd.
 * model/artifact-fs.ts writes and verifies artifact directories.
 */
import { sha256Hex } from '@edge-recs/core/bytes';
import { encodeCatalogPart } from '@edge-recs/core/catalog-part';
import { encodeFactorPart, int8Supported, quantizeRows } from '@edge-recs/core/int8';
import { encodeItemFields } from '@edge-recs/core/item-fields';
import { ItemIds } from '@edge-recs/core/item-ids';
import { gram } from '@edge-recs/core/linalg';
import {
  CATALOG_PART_ITEMS,
  catalogParts,
  FACTOR_PART_ROWS,
  FILES,
  FLOAT32_MAX_BYTES,
  FORMAT_VERSION,
  factorParts,
  type Manifest,
  manifestSchema,
  POPULAR_ITEMS,
  type Popular,
} from '@edge-recs/core/manifest';
import { encodeShard, shardOf } from '@edge-recs/core/shards';
import { signManifest } from '@edge-recs/core/signing';
import { z } from 'zod';
import type { ItemInfo } from './data';
import type { EvaluationReport } from './evaluate';
import { buildScoringGraph } from './onnx';
import type { Csr } from './sparse';

export interface ArtifactInput {
  version?: string;
  createdAt?: Date;
  algorithm: string;
  hyperparameters: Record<string, number | string | boolean>;
  foldIn: Manifest['foldIn'];
  trainingSeconds?: number;
  data: Manifest['data'];
  dims: number;
  itemIds: string[];
  titles: string[];
  /** users who interacted with each item */
  itemCounts: ArrayLike<number>;
  itemFactors: Float32Array;
  /** per-item scale p_i of the unobserved weight (mean 1) */
  itemWeights: Float32Array;
  userIds: string[];
  userFactors: Float32Array;
  /** each user's training interactions (users × items strengths), stored in the user shards */
  userItems: Csr;
  evaluation?: EvaluationReport | null;
  /** base64 PKCS#8 Ed25519 key; without it the artifact is unsigned (servable only as the bundled default). */
  signingKey?: string;
  /** users per shard file, roughly (default 2,000) */
  usersPerShard?: number;
  /** how the user ids are written (hmac-sha256: the edge's keyed hashes, as in its event exports) */
  userIdKind?: 'raw' | 'hmac-sha256';
  /** largest float32 item matrix to include with its ONNX graph (default FLOAT32_MAX_BYTES) */
  float32MaxBytes?: number;
  /** price, category, availability and image of each item from the data (written when any is known) */
  fields?: ItemInfo;
  /** the item model's files and manifest section (model/item-artifact.ts); listed and signed like the rest */
  itemModel?: { files: Record<string, Uint8Array>; manifest: NonNullable<Manifest['itemModel']> };
}

function bytesOf(a: Float32Array | Float64Array | Int8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * The default version id: the creation minute, then 8 hex digits of a digest over everything the
 * artifact holds (see buildArtifact), so two different artifacts made in the same minute differ.
 */
export function makeVersion(createdAt: Date, digest: string): string {
  return `${createdAt.toISOString().replace(/[:.]/g, '').replace('T', '-').slice(0, 15)}Z-${digest.slice(0, 8)}`;
}

export interface BuiltArtifact {
  manifest: Manifest;
  /** exact bytes of manifest.json (what the signature covers) */
  manifestBytes: Uint8Array;
  /** manifest.sig contents, when a signing key was given */
  signature: Uint8Array | null;
  /** data files by name */
  files: Record<string, Uint8Array>;
}

type Files = Record<string, Uint8Array>;

/**
 * The factor files: float32 factors (with the ONNX graph, written later under the version) only
 * where the edge may score in float32; int8 always, in parts that each fit one KV value and
 * stream into the kernel's memory one at a time; the weighted Gram matrix and the item weights
 * the fold-in needs.
 * @returns whether the float32 factors were written
 */
function factorFiles(input: ArtifactInput, files: Files): boolean {
  const { dims } = input;
  const itemCount = input.itemIds.length;
  const withFloat32 = itemCount * dims * 4 <= (input.float32MaxBytes ?? FLOAT32_MAX_BYTES);
  if (!withFloat32 && !int8Supported(dims)) {
    throw new Error(
      `${itemCount} items × ${dims} dims is too big to score in float32 at the edge, and the int8 kernel needs dims to be a multiple of 16 (≤ 512): train with --factors ${Math.min(512, Math.ceil(dims / 16) * 16)}`,
    );
  }
  if (withFloat32) files[FILES.itemFactors] = bytesOf(input.itemFactors);
  const { q, scales } = quantizeRows(input.itemFactors, itemCount, dims);
  for (let n = 0; n < factorParts(itemCount); n++) {
    const first = n * FACTOR_PART_ROWS;
    const rows = Math.min(FACTOR_PART_ROWS, itemCount - first);
    files[FILES.factorPart(n)] = encodeFactorPart(
      q.subarray(first * dims, (first + rows) * dims),
      scales.subarray(first, first + rows),
      rows,
      dims,
    );
  }
  files[FILES.gram] = bytesOf(gram(input.itemFactors, itemCount, dims, input.itemWeights));
  files[FILES.itemWeights] = bytesOf(input.itemWeights);
  return withFloat32;
}

/** The ids, the most popular items (cold start, search) and the catalogue parts (titles, counts). */
function catalogueFiles(input: ArtifactInput, files: Files): void {
  const itemCount = input.itemIds.length;
  files[FILES.itemIds] = ItemIds.encode(input.itemIds);
  const order = Array.from({ length: itemCount }, (_, i) => i).sort((a, b) => input.itemCounts[b] - input.itemCounts[a] || a - b);
  const top = order.slice(0, POPULAR_ITEMS);
  const popular: Popular = { items: top, titles: top.map((i) => input.titles[i]), counts: top.map((i) => input.itemCounts[i]) };
  files[FILES.popular] = new TextEncoder().encode(JSON.stringify(popular));
  const counts = Array.from(input.itemCounts);
  for (let n = 0; n < catalogParts(itemCount); n++) {
    const from = n * CATALOG_PART_ITEMS;
    const to = Math.min(itemCount, from + CATALOG_PART_ITEMS);
    files[FILES.catalogPart(n)] = encodeCatalogPart(input.titles.slice(from, to), counts.slice(from, to));
  }
}

/** catalog/fields.bin and the image parts, when the data says anything besides titles. */
function fieldFiles(input: ArtifactInput, files: Files): void {
  const f = input.fields;
  const n = input.itemIds.length;
  if (!f) return;
  const names = [...new Set(f.category.filter(Boolean))].sort();
  const code = new Map(names.map((c, j) => [c, j + 1]));
  const known = f.category.some(Boolean) || f.price.some((p) => !Number.isNaN(p)) || f.available.some((a) => a !== undefined);
  if (known) {
    files[FILES.itemFields] = encodeItemFields({
      price: Float32Array.from(f.price),
      category: Uint16Array.from(f.category, (c) => code.get(c) ?? 0),
      available: Uint8Array.from(f.available, (a) => (a === undefined ? 2 : a ? 1 : 0)),
      categories: names,
    });
  }
  if (f.imageUrl.some(Boolean)) {
    for (let p = 0; p < catalogParts(n); p++) {
      const from = p * CATALOG_PART_ITEMS;
      const to = Math.min(n, from + CATALOG_PART_ITEMS);
      files[FILES.imagePart(p)] = encodeCatalogPart(f.imageUrl.slice(from, to), new Array(to - from).fill(0));
    }
  }
}

/** Users spread over shard files by FNV-1a of their id, each with its vector and history. @returns the shard count */
function userShardFiles(input: ArtifactInput, files: Files): number {
  const { dims } = input;
  // the Worker indexes a shard's ids in a Map: a repeated id would silently serve one of its vectors
  const seen = new Map<string, number>();
  input.userIds.forEach((id, u) => {
    const first = seen.get(id);
    if (first !== undefined)
      throw new Error(`user id ${JSON.stringify(id)} appears twice (users ${first} and ${u}): each user has one vector`);
    seen.set(id, u);
  });
  const userShards = input.userIds.length === 0 ? 0 : Math.max(1, Math.ceil(input.userIds.length / (input.usersPerShard ?? 2000)));
  const members: number[][] = Array.from({ length: userShards }, () => []);
  input.userIds.forEach((id, u) => {
    members[shardOf(id, userShards)].push(u);
  });
  const m = input.userItems;
  members.forEach((users, s) => {
    files[FILES.userShard(s)] = encodeShard(
      users.map((u) => ({
        id: input.userIds[u],
        vector: input.userFactors.subarray(u * dims, (u + 1) * dims),
        items: m.colIdx.subarray(m.rowPtr[u], m.rowPtr[u + 1]),
        strengths: m.values.subarray(m.rowPtr[u], m.rowPtr[u + 1]),
      })),
      dims,
    );
  });
  return userShards;
}

/**
 * Builds a whole artifact in memory: data files, the manifest listing each with its size and
 * sha256, and (given a key) the manifest's signature.
 */
export async function buildArtifact(input: ArtifactInput): Promise<BuiltArtifact> {
  const { dims } = input;
  const itemCount = input.itemIds.length;
  for (const v of input.itemFactors) if (!Number.isFinite(v)) throw new Error('item factors contain NaN/Inf');
  const createdAt = input.createdAt ?? new Date();
  const files: Files = {};
  const withFloat32 = factorFiles(input, files);
  catalogueFiles(input, files);
  fieldFiles(input, files);
  const userShards = userShardFiles(input, files);
  for (const [name, bytes] of Object.entries(input.itemModel?.files ?? {})) {
    if (files[name]) throw new Error(`item model file ${name} would replace a built-in artifact file`);
    files[name] = bytes;
  }
  const listing: Manifest['files'] = {};
  for (const [name, bytes] of Object.entries(files)) listing[name] = { bytes: bytes.byteLength, sha256: await sha256Hex(bytes) };
  // every file but the scorer (which embeds the version) and every described fact: artifacts
  // that differ in anything get different versions, even when made in the same minute
  const content = {
    listing,
    algorithm: input.algorithm,
    hyperparameters: input.hyperparameters,
    foldIn: input.foldIn,
    data: input.data,
    itemModel: input.itemModel?.manifest ?? null,
    evaluation: input.evaluation ?? null,
    userIdKind: input.userIdKind ?? 'raw',
  };
  const version = input.version ?? makeVersion(createdAt, await sha256Hex(new TextEncoder().encode(JSON.stringify(content))));
  if (withFloat32) {
    // copy: protobufjs returns a Node Buffer view into a shared pool
    files[FILES.scorer] = new Uint8Array(buildScoringGraph(itemCount, dims, version, FILES.itemFactors));
    listing[FILES.scorer] = { bytes: files[FILES.scorer].byteLength, sha256: await sha256Hex(files[FILES.scorer]) };
  }
  const checked = manifestSchema.safeParse({
    formatVersion: FORMAT_VERSION,
    version,
    createdAt: createdAt.toISOString(),
    trainer: { algorithm: input.algorithm, hyperparameters: input.hyperparameters, trainingSeconds: input.trainingSeconds },
    data: input.data,
    dims,
    itemCount,
    userCount: input.userIds.length,
    userShards,
    userIds: input.userIdKind ?? 'raw',
    foldIn: input.foldIn,
    ...(input.itemModel ? { itemModel: input.itemModel.manifest } : {}),
    dtypes: {
      itemFactors: 'float32',
      itemFactorsInt8: 'int8',
      itemScales: 'float32',
      gram: 'float64',
      itemWeights: 'float32',
      userFactors: 'float32',
    },
    metrics: input.evaluation
      ? {
          protocol: input.evaluation.protocol,
          model: input.evaluation.model,
          popularity: input.evaluation.popularity,
          ...(input.evaluation.factors ? { factors: input.evaluation.factors } : {}),
          ...(input.evaluation.itemModel ? { itemModel: input.evaluation.itemModel } : {}),
        }
      : null,
    files: listing,
  });
  // a value out of the schema's bounds reaching this far (the CLIs check their flags up front)
  if (!checked.success) throw new Error(`the manifest would be invalid:\n${z.prettifyError(checked.error)}`);
  const manifest: Manifest = checked.data;

  const manifestBytes = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  const signature = input.signingKey
    ? new TextEncoder().encode(`${JSON.stringify(await signManifest(manifestBytes, input.signingKey))}\n`)
    : null;
  return { manifest, manifestBytes, signature, files };
}
