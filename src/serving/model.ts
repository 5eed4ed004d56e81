/**
 * A model version ready to serve: parsed, checked against its manifest, with its ONNX session.
 *
 * Everything needed per request (item factors, Gram matrix, catalog index, norms, the session) is
 * built once per version and isolate; user shards are fetched lazily, one file per lookup.
 */
import { aligned, sha256Hex } from '../core/bytes';
import { catalogSchema, FILES, manifestSchema, SUPPORTED_FORMAT_VERSIONS, type Catalog, type Manifest } from '../core/manifest';
import { decodeShard, shardOf, type DecodedShard } from '../core/shards';
import { scoreAll, topK } from '../core/topk';
import { PromiseLru } from '../core/lru';
import { OrtScorer } from './scorer';

/** Where an artifact's files come from: the Worker bundle, or a versioned prefix in R2. */
export interface ArtifactSource {
  readonly kind: 'bundled' | 'r2';
  get(file: string): Promise<ArrayBuffer | null>;
}

export class ModelLoadError extends Error {
  constructor(readonly version: string, message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

export interface ShardUserHit {
  vector: Float32Array;
  items: Uint32Array;
  strengths: Float32Array;
}

export class ServingModel {
  readonly version: string;
  readonly dims: number;
  readonly itemCount: number;
  readonly indexById: Map<string, number>;
  /** 1/‖y_i‖ (0 for zero rows), for cosine similarity */
  readonly inverseNorms: Float32Array;
  /** decoded user shards, least recently used first; bounded so millions of users fit the isolate */
  static readonly MAX_CACHED_SHARDS = 8;
  private readonly shards = new PromiseLru<number, { shard: DecodedShard; index: Map<string, number> }>(ServingModel.MAX_CACHED_SHARDS);

  constructor(
    readonly manifest: Manifest,
    readonly source: ArtifactSource,
    readonly catalog: Catalog,
    readonly itemFactors: Float32Array,
    readonly gram: Float64Array,
    readonly itemWeights: Float32Array,
    readonly scorer: OrtScorer,
  ) {
    this.version = manifest.version;
    this.dims = manifest.dims;
    this.itemCount = manifest.itemCount;
    this.indexById = new Map(catalog.ids.map((id, i) => [id, i]));
    this.inverseNorms = new Float32Array(this.itemCount);
    for (let i = 0; i < this.itemCount; i++) {
      let s = 0;
      for (let d = 0; d < this.dims; d++) s += itemFactors[i * this.dims + d] ** 2;
      this.inverseNorms[i] = s > 0 ? 1 / Math.sqrt(s) : 0;
    }
  }

  /** The trained vector and history of a user, from the artifact's user shards. */
  async shardUser(userId: string): Promise<ShardUserHit | null> {
    if (this.manifest.userShards === 0) return null;
    const n = shardOf(userId, this.manifest.userShards);
    const { shard, index } = await this.shards.get(n, async () => {
      const shard = decodeShard(await fetchChecked(this.source, this.manifest, FILES.userShard(n)));
      return { shard, index: new Map(shard.ids.map((id, j) => [id, j])) };
    });
    const j = index.get(userId);
    if (j === undefined) return null;
    const lo = shard.historyPtr[j], hi = shard.historyPtr[j + 1];
    return {
      vector: shard.vectors.slice(j * this.dims, (j + 1) * this.dims),
      items: shard.historyItems.slice(lo, hi),
      strengths: shard.historyStrengths.slice(lo, hi),
    };
  }
}

async function fetchChecked(source: ArtifactSource, manifest: Manifest, file: string): Promise<ArrayBuffer> {
  const meta = manifest.files[file];
  if (!meta) throw new ModelLoadError(manifest.version, `${file} is not listed in the manifest`);
  const buf = await source.get(file);
  if (!buf) throw new ModelLoadError(manifest.version, `${file} is missing`);
  if (buf.byteLength !== meta.bytes) throw new ModelLoadError(manifest.version, `${file} has ${buf.byteLength} bytes, manifest says ${meta.bytes}`);
  if ((await sha256Hex(buf)) !== meta.sha256) throw new ModelLoadError(manifest.version, `${file} sha256 does not match the manifest`);
  return buf;
}

export function parseManifest(bytes: ArrayBuffer, label = 'candidate'): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ModelLoadError(label, 'manifest.json is not valid JSON');
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new ModelLoadError(label, `manifest.json does not match the schema: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  const m = parsed.data;
  if (!(SUPPORTED_FORMAT_VERSIONS as readonly number[]).includes(m.formatVersion)) {
    throw new ModelLoadError(m.version, `unsupported format version ${m.formatVersion} (this Worker reads ${SUPPORTED_FORMAT_VERSIONS.join(', ')})`);
  }
  return m;
}

/**
 * Loads and checks a model: sizes and digests of every file it reads, shapes against the manifest,
 * finite factors, and a probe run of the ONNX graph that must agree with the reference scorer.
 */
export async function loadServingModel(source: ArtifactSource, manifest: Manifest): Promise<ServingModel> {
  const v = manifest.version;
  const { dims, itemCount } = manifest;
  const factorBytes = await fetchChecked(source, manifest, FILES.itemFactors);
  if (factorBytes.byteLength !== itemCount * dims * 4) throw new ModelLoadError(v, `item factors are not ${itemCount}×${dims} float32`);
  const itemFactors = new Float32Array(factorBytes);
  for (let k = 0; k < itemFactors.length; k++) {
    if (!Number.isFinite(itemFactors[k])) throw new ModelLoadError(v, `item factors contain a non-finite value at item ${Math.floor(k / dims)}`);
  }
  const gramBytes = await fetchChecked(source, manifest, FILES.gram);
  if (gramBytes.byteLength !== dims * dims * 8) throw new ModelLoadError(v, `Gram matrix is not ${dims}×${dims} float64`);
  const gram = new Float64Array(gramBytes);
  for (const x of gram) if (!Number.isFinite(x)) throw new ModelLoadError(v, 'Gram matrix contains a non-finite value');
  const weightBytes = await fetchChecked(source, manifest, FILES.itemWeights);
  if (weightBytes.byteLength !== itemCount * 4) throw new ModelLoadError(v, `item weights are not ${itemCount} float32`);
  const itemWeights = new Float32Array(weightBytes);
  for (const x of itemWeights) if (!(Number.isFinite(x) && x >= 0)) throw new ModelLoadError(v, 'item weights must be finite and non-negative');

  let catalog: Catalog;
  try {
    catalog = catalogSchema.parse(JSON.parse(new TextDecoder().decode(await fetchChecked(source, manifest, FILES.catalog))));
  } catch (err) {
    if (err instanceof ModelLoadError) throw err;
    throw new ModelLoadError(v, 'catalog.json is malformed');
  }
  if (catalog.ids.length !== itemCount || catalog.titles.length !== itemCount || catalog.counts.length !== itemCount || catalog.popularity.length !== itemCount) {
    throw new ModelLoadError(v, `catalog does not describe ${itemCount} items`);
  }

  const graph = new Uint8Array(await fetchChecked(source, manifest, FILES.scorer));
  let scorer: OrtScorer;
  try {
    scorer = await OrtScorer.create(graph, [{ path: FILES.itemFactors, data: new Uint8Array(aligned(new Uint8Array(factorBytes))) }], itemCount, dims);
  } catch (err) {
    throw new ModelLoadError(v, `scorer.onnx does not load in onnxruntime: ${err instanceof Error ? err.message : String(err)}`);
  }
  // Probe: the most popular item's own vector must rank the same items in ORT and in TypeScript.
  const probe = itemFactors.slice(catalog.popularity[0] * dims, (catalog.popularity[0] + 1) * dims);
  const k = Math.min(5, itemCount);
  let got;
  try {
    got = await scorer.topK(probe, k);
  } catch (err) {
    throw new ModelLoadError(v, `scorer.onnx fails on a probe vector: ${err instanceof Error ? err.message : String(err)}`);
  }
  const want = topK(scoreAll(itemFactors, itemCount, dims, probe), k);
  const agree = want.every((w, j) => Math.abs(w.score - got[j].score) <= 1e-4 * Math.max(1, Math.abs(w.score)));
  if (!agree) throw new ModelLoadError(v, 'scorer.onnx disagrees with the item factors on a probe vector');
  return new ServingModel(manifest, source, catalog, itemFactors, gram, itemWeights, scorer);
}
