/**
 * Builds model artifacts in memory (see src/core/manifest.ts for the format). Pure: no file
 * system, so the same code runs in the trainer (Node) and in tests inside workerd.
 * model/artifact-fs.ts writes and verifies artifact directories.
 */
import { sha256Hex } from '../src/core/bytes';
import { FILES, FORMAT_VERSION, manifestSchema, type Catalog, type Manifest } from '../src/core/manifest';
import { encodeShard, shardOf } from '../src/core/shards';
import { signManifest } from '../src/core/signing';
import { gram } from '../src/core/linalg';
import { buildScoringGraph } from './onnx';
import type { EvaluationReport } from './evaluate';
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
}

/** Per-row symmetric int8 quantisation: v ≈ q · scale, scale = max|v| / 127. */
export function quantizeRows(f: Float32Array, rows: number, dims: number): { q: Int8Array; scales: Float32Array } {
  const q = new Int8Array(rows * dims);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let d = 0; d < dims; d++) max = Math.max(max, Math.abs(f[r * dims + d]));
    const scale = max / 127 || 1;
    scales[r] = scale;
    for (let d = 0; d < dims; d++) q[r * dims + d] = Math.round(f[r * dims + d] / scale);
  }
  return { q, scales };
}

function bytesOf(a: Float32Array | Float64Array | Int8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

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

export async function buildArtifact(input: ArtifactInput): Promise<BuiltArtifact> {
  const { dims, itemIds } = input;
  const itemCount = itemIds.length;
  for (const v of input.itemFactors) if (!Number.isFinite(v)) throw new Error('item factors contain NaN/Inf');
  const createdAt = input.createdAt ?? new Date();
  const files: Record<string, Uint8Array> = {};

  files[FILES.itemFactors] = bytesOf(input.itemFactors);
  const { q, scales } = quantizeRows(input.itemFactors, itemCount, dims);
  files[FILES.itemFactorsInt8] = bytesOf(q);
  files[FILES.itemScales] = bytesOf(scales);
  files[FILES.gram] = bytesOf(gram(input.itemFactors, itemCount, dims, input.itemWeights));
  files[FILES.itemWeights] = bytesOf(input.itemWeights);
  const order = Array.from({ length: itemCount }, (_, i) => i).sort(
    (a, b) => input.itemCounts[b] - input.itemCounts[a] || a - b,
  );
  const catalog: Catalog = { ids: itemIds, titles: input.titles, popularity: order, counts: Array.from(input.itemCounts) };
  files[FILES.catalog] = new TextEncoder().encode(JSON.stringify(catalog));

  const contentDigest = await sha256Hex(files[FILES.itemFactors]);
  const version = input.version ?? makeVersion(createdAt, contentDigest);
  // copy: protobufjs returns a Node Buffer view into a shared pool
  files[FILES.scorer] = new Uint8Array(buildScoringGraph(itemCount, dims, version, FILES.itemFactors));

  const userShards = input.userIds.length === 0 ? 0 : Math.max(1, Math.ceil(input.userIds.length / (input.usersPerShard ?? 2000)));
  const members: number[][] = Array.from({ length: userShards }, () => []);
  input.userIds.forEach((id, u) => members[shardOf(id, userShards)].push(u));
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

  const listing: Manifest['files'] = {};
  for (const [name, bytes] of Object.entries(files)) listing[name] = { bytes: bytes.byteLength, sha256: await sha256Hex(bytes) };
  const manifest: Manifest = manifestSchema.parse({
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
    dtypes: { itemFactors: 'float32', itemFactorsInt8: 'int8', itemScales: 'float32', gram: 'float64', itemWeights: 'float32', userFactors: 'float32' },
    metrics: input.evaluation
      ? { protocol: input.evaluation.protocol, model: input.evaluation.model, popularity: input.evaluation.popularity }
      : null,
    files: listing,
  });

  const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n');
  const signature = input.signingKey
    ? new TextEncoder().encode(JSON.stringify(await signManifest(manifestBytes, input.signingKey)) + '\n')
    : null;
  return { manifest, manifestBytes, signature, files };
}
