/**
 * A model version ready to serve: parsed, checked against its manifest, with its scorer.
 *
 * What is built once per version and isolate: the id lookup, the popular items, the Gram matrix
 * and item weights, and the scorer — the ONNX graph over float32 factors for small catalogues,
 * the int8 WebAssembly kernel (factor parts streamed into its memory) from INT8_SCORING_MIN_ITEMS
 * items on. Catalogue parts (titles) and user shards are fetched lazily, one file per lookup.
 */
import { decodeFactorStats, type FactorStats } from '@edge-recs/core/blend';
import { foldIn, foldInContributions, foldInSystem, type WeightedItem } from '@edge-recs/core/foldin';
import { decodeFactorPart, int8Supported } from '@edge-recs/core/int8';
import { decodeItemFields, type ItemFields } from '@edge-recs/core/item-fields';
import { ItemIds } from '@edge-recs/core/item-ids';
import {
  FACTOR_PART_ROWS,
  FILES,
  factorParts,
  fileMismatch,
  type Manifest,
  manifestSchema,
  type Popular,
  popularSchema,
  SUPPORTED_FORMAT_VERSIONS,
} from '@edge-recs/core/manifest';
import { NEIGHBOUR_PART_ITEMS, NeighbourPart, neighbourParts } from '@edge-recs/core/neighbours';
import { type DecodedShard, decodeShard, shardOf } from '@edge-recs/core/shards';
import { scoreAll, topK } from '@edge-recs/core/topk';
import type { Int8Index } from '../inference/int8';
import { Int8Scorer, OrtScorer, type Scorer } from '../inference/scorer';
import { Catalog, ImageUrls } from './catalog';
import { ItemModel, NeighbourLists } from './item-model';
import { PromiseLru } from './lru';

/** Where an artifact's files come from: the Worker bundle, or a versioned prefix in R2. */
export interface ArtifactSource {
  readonly kind: 'bundled' | 'r2';
  get(file: string): Promise<ArrayBuffer | null>;
}

/**
 * Why a version cannot be served. `kind` says whether it is about the artifact itself:
 * - `content`: its signed content is bad (digest, shapes, non-finite values, a failed probe);
 * - `unavailable`: a file is missing or arrived short (not uploaded yet, a transport fault);
 * - `unsupported`: this Worker cannot serve it (format version, dims its scorers cannot take).
 * `message` is safe to show anyone; `detail` (raw exception text) is for operators only.
 */
export class ModelLoadError extends Error {
  /** What the failure is about (see above); a file's content unless said otherwise. */
  readonly kind: 'content' | 'unavailable' | 'unsupported';
  /** Raw exception text, for operators only. */
  readonly detail?: string;
  /** The artifact file at fault: the manifest when no one file is (it says what the files must hold). */
  readonly file: string;

  constructor(
    readonly version: string,
    message: string,
    about: { file?: string; kind?: ModelLoadError['kind']; detail?: string } = {},
  ) {
    super(message);
    this.name = 'ModelLoadError';
    this.kind = about.kind ?? 'content';
    this.detail = about.detail;
    this.file = about.file ?? FILES.manifest;
  }
}

/**
 * A file of the artifact that does not decode: the public message names the file only; the
 * decoder's own text (a JSON parser's message quotes the file's bytes) goes to `detail`, which only
 * the operator's routes show.
 */
function undecodable(version: string, file: string, err: unknown): ModelLoadError {
  if (err instanceof ModelLoadError) return err;
  return new ModelLoadError(version, `${file} does not decode`, { file, detail: err instanceof Error ? err.message : String(err) });
}

export interface ShardUserHit {
  vector: Float32Array;
  items: Uint32Array;
  strengths: Float32Array;
}

export interface LoadOptions {
  /** catalogues with at least this many items are scored in int8 (INT8_SCORING_MIN_ITEMS) */
  int8MinItems: number;
  /**
   * An empty int8 index from the compiled kernel: in the Worker, src/inference/int8-module.ts
   * (the bundled module); in Node (memory benchmark), one compiled from build/int8.wasm.
   */
  createInt8Index: (itemCount: number, dims: number) => Promise<Int8Index>;
  /**
   * Called once per isolate for a file that fails its check after the version was activated
   * (a user shard read lazily): the failure is recorded for GET /v1/model and the next refresh.
   */
  onDamage?: (version: string, file: string, reason: string) => Promise<void>;
}

/** How long a shard that failed its check is treated as missing before this isolate reads it again. */
const DAMAGED_SHARD_RETRY_MS = 60_000;

export class ServingModel {
  readonly version: string;
  readonly dims: number;
  readonly itemCount: number;
  /** decoded user shards, least recently used first; bounded so millions of users fit the isolate */
  static readonly MAX_CACHED_SHARDS = 8;
  private readonly shards = new PromiseLru<number, { shard: DecodedShard; index: Map<string, number> }>(ServingModel.MAX_CACHED_SHARDS);
  /** shards that failed their check: when this isolate may try again (ms) */
  private readonly damagedShards = new Map<number, number>();

  constructor(
    readonly manifest: Manifest,
    readonly source: ArtifactSource,
    readonly catalog: Catalog,
    readonly gram: Float64Array,
    readonly itemWeights: Float32Array,
    readonly scorer: Scorer,
    private readonly onDamage?: LoadOptions['onDamage'],
    /** the item-item model beside the factors (null: the artifact has none) */
    readonly itemModel: ItemModel | null = null,
    /** price, category, availability of each item from the training data (null: none) */
    readonly fields: ItemFields | null = null,
    /** image URLs from the training data (null: none) */
    readonly images: ImageUrls | null = null,
  ) {
    this.version = manifest.version;
    this.dims = manifest.dims;
    this.itemCount = manifest.itemCount;
  }

  get ids(): ItemIds {
    return this.catalog.ids;
  }

  /** Bytes of model data this version holds in the isolate (factors, ids, weights, Gram, factor statistics). */
  get memoryBytes(): number {
    const fields = this.fields ? this.fields.price.byteLength + this.fields.category.byteLength + this.fields.available.byteLength : 0;
    return (
      this.scorer.memoryBytes +
      this.ids.byteLength +
      this.itemWeights.byteLength +
      this.gram.byteLength +
      (this.itemModel?.memoryBytes ?? 0) +
      fields
    );
  }

  /**
   * The ALS user step over the given items (see core/foldin.ts), reading only their rows:
   * the Gram matrix stands in for the rest of the catalogue.
   */
  foldIn(items: readonly WeightedItem[]): Float32Array {
    const { rows, weights, local } = this.localRows(items);
    return foldIn(rows, this.gram, this.dims, this.itemCount, this.manifest.foldIn, local, weights);
  }

  /** The given items' factor rows and item weights, packed, with the items renumbered 0..n−1 to match. */
  private localRows(items: readonly WeightedItem[]): { rows: Float32Array; weights: Float32Array; local: WeightedItem[] } {
    const rows = new Float32Array(items.length * this.dims);
    const weights = new Float32Array(items.length);
    items.forEach(({ index }, j) => {
      rows.set(this.scorer.row(index), j * this.dims);
      weights[j] = this.itemWeights[index];
    });
    return { rows, weights, local: items.map(({ strength }, j) => ({ index: j, strength })) };
  }

  /**
   * Per target item, what each of the given items contributes to its factor score for a user
   * folded in from them (core/foldin.ts `foldInContributions`): the explanation of the factor part.
   * @param centre  subtracted from each target's factors first: the blend ranks by u·(y − ȳ)
   * @returns  one array per target, one contribution per item
   */
  factorContributions(items: readonly WeightedItem[], targets: readonly number[], centre?: ArrayLike<number>): Float64Array[] {
    if (items.length === 0 || targets.length === 0) return targets.map(() => new Float64Array(items.length));
    const { rows, weights, local } = this.localRows(items);
    const system = foldInSystem(rows, this.gram, this.dims, this.itemCount, this.manifest.foldIn, local, weights);
    return targets.map((t) => {
      const y = this.scorer.row(t);
      return foldInContributions(system, rows, local, centre ? Float64Array.from(y, (v, p) => v - centre[p]) : y);
    });
  }

  /**
   * An item's popularity as the API states it: the share of the model's training users who
   * interacted with it (`count` from the catalogue); null for a model trained on no users (a
   * random or imported model), whose counts are not shares of anything.
   */
  popularityShare(count: number): number | null {
    const users = this.manifest.data.users || this.manifest.userCount;
    return users > 0 ? count / users : null;
  }

  /** Whether an isolate keeps every user shard of this model decoded once read (no eviction). */
  get shardsFitCache(): boolean {
    return this.manifest.userShards <= ServingModel.MAX_CACHED_SHARDS;
  }

  /** Files of this version were repaired (re-staged): read damaged shards again on the next lookup. */
  forgetDamage(): void {
    this.damagedShards.clear();
    this.catalog.forgetDamage();
  }

  /** Whether the user's shard is being served around as damaged (shardUser's null then says nothing about the user). */
  shardDamaged(userId: string): boolean {
    if (this.manifest.userShards === 0) return false;
    return (this.damagedShards.get(shardOf(userId, this.manifest.userShards)) ?? 0) > Date.now();
  }

  /**
   * The trained vector and history of a user, from the artifact's user shards; null when the
   * user is not in them — or when their shard fails its check: a damaged shard is treated as
   * missing (the caller falls back to the user's KV record, edge history or popular items),
   * reported once, and read again after a minute.
   */
  async shardUser(userId: string): Promise<ShardUserHit | null> {
    if (this.manifest.userShards === 0) return null;
    const n = shardOf(userId, this.manifest.userShards);
    if ((this.damagedShards.get(n) ?? 0) > Date.now()) return null;
    let loaded: { shard: DecodedShard; index: Map<string, number> };
    try {
      loaded = await this.shards.get(n, async () => {
        const shard = decodeShard(await fetchChecked(this.source, this.manifest, FILES.userShard(n)));
        return { shard, index: new Map(shard.ids.map((id, j) => [id, j])) };
      });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const first = !this.damagedShards.has(n);
      this.damagedShards.set(n, Date.now() + DAMAGED_SHARD_RETRY_MS);
      if (first) {
        console.error(`model ${this.version}: ${FILES.userShard(n)} is unusable (${reason}); its users are served without it`);
        await this.onDamage?.(this.version, FILES.userShard(n), reason).catch(() => undefined);
      }
      return null;
    }
    this.damagedShards.delete(n);
    const { shard, index } = loaded;
    const j = index.get(userId);
    if (j === undefined) return null;
    const lo = shard.historyPtr[j],
      hi = shard.historyPtr[j + 1];
    return {
      vector: shard.vectors.slice(j * this.dims, (j + 1) * this.dims),
      items: shard.historyItems.slice(lo, hi),
      strengths: shard.historyStrengths.slice(lo, hi),
    };
  }
}

async function fetchChecked(source: ArtifactSource, manifest: Manifest, file: string): Promise<ArrayBuffer> {
  if (!(file in manifest.files)) throw new ModelLoadError(manifest.version, `${file} is not listed in the manifest`);
  const buf = await source.get(file);
  if (!buf) throw new ModelLoadError(manifest.version, `${file} is missing`, { file, kind: 'unavailable' });
  const why = await fileMismatch(manifest, file, buf);
  // a short file is an incomplete upload or read, worth retrying; other bytes of the right length are not
  if (why) throw new ModelLoadError(manifest.version, why.message, { file, kind: why.kind === 'size' ? 'unavailable' : 'content' });
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
  if (!parsed.success)
    throw new ModelLoadError(
      label,
      `manifest.json does not match the schema: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`,
    );
  const m = parsed.data;
  if (!(SUPPORTED_FORMAT_VERSIONS as readonly number[]).includes(m.formatVersion)) {
    throw new ModelLoadError(
      m.version,
      `unsupported format version ${m.formatVersion} (this Worker reads ${SUPPORTED_FORMAT_VERSIONS.join(', ')})`,
    );
  }
  return m;
}

/**
 * How a version is scored in this Worker: in int8 by the WebAssembly kernel from `int8MinItems`
 * items on (or when the artifact has no float32 factors), otherwise in float32 by the ONNX graph;
 * null when neither can score it. The one place this choice is made (loading and the registry's
 * memory estimate both ask here).
 */
export function scoringKind(manifest: Manifest, int8MinItems: number): Scorer['kind'] | null {
  const hasFloat32 = FILES.itemFactors in manifest.files && FILES.scorer in manifest.files;
  if (int8Supported(manifest.dims) && (manifest.itemCount >= int8MinItems || !hasFloat32)) return 'int8-wasm';
  return hasFloat32 ? 'onnx-float32' : null;
}

/**
 * Loads and checks a model: sizes and digests of every file it reads, shapes against the manifest,
 * finite factors, and a probe vector that the scorer must rank like the factors say.
 */
export async function loadServingModel(source: ArtifactSource, manifest: Manifest, options: LoadOptions): Promise<ServingModel> {
  const v = manifest.version;
  const { dims, itemCount } = manifest;
  let ids: ItemIds;
  try {
    ids = new ItemIds(new Uint8Array(await fetchChecked(source, manifest, FILES.itemIds)), itemCount);
  } catch (err) {
    throw undecodable(v, FILES.itemIds, err);
  }
  let popular: Popular;
  try {
    popular = popularSchema.parse(JSON.parse(new TextDecoder().decode(await fetchChecked(source, manifest, FILES.popular))));
  } catch (err) {
    if (err instanceof ModelLoadError) throw err;
    throw new ModelLoadError(v, `${FILES.popular} is malformed`, { file: FILES.popular });
  }
  if (
    popular.items.length === 0 ||
    popular.titles.length !== popular.items.length ||
    popular.counts.length !== popular.items.length ||
    popular.items.some((i) => i >= itemCount)
  ) {
    throw new ModelLoadError(v, `${FILES.popular} does not describe items of this model`, { file: FILES.popular });
  }

  const gramBytes = await fetchChecked(source, manifest, FILES.gram);
  if (gramBytes.byteLength !== dims * dims * 8)
    throw new ModelLoadError(v, `Gram matrix is not ${dims}×${dims} float64`, { file: FILES.gram });
  const gram = new Float64Array(gramBytes);
  for (const x of gram)
    if (!Number.isFinite(x)) throw new ModelLoadError(v, 'Gram matrix contains a non-finite value', { file: FILES.gram });
  const weightBytes = await fetchChecked(source, manifest, FILES.itemWeights);
  if (weightBytes.byteLength !== itemCount * 4)
    throw new ModelLoadError(v, `item weights are not ${itemCount} float32`, { file: FILES.itemWeights });
  const itemWeights = new Float32Array(weightBytes);
  for (const x of itemWeights)
    if (!(Number.isFinite(x) && x >= 0))
      throw new ModelLoadError(v, 'item weights must be finite and non-negative', { file: FILES.itemWeights });

  const kind = scoringKind(manifest, options.int8MinItems);
  if (!kind)
    throw new ModelLoadError(v, `the artifact has no float32 factors and the int8 kernel cannot score ${dims} dims`, {
      kind: 'unsupported',
    });
  // each scorer is probed once, by the path that builds it
  const scorer = kind === 'int8-wasm' ? await int8Scorer(source, manifest, options, popular.items[0]) : await ortScorer(source, manifest);
  const catalog = new Catalog(
    ids,
    popular,
    (n) => fetchChecked(source, manifest, FILES.catalogPart(n)),
    options.onDamage && ((n, reason) => options.onDamage?.(v, FILES.catalogPart(n), reason) ?? Promise.resolve()),
  );
  let fields: ItemFields | null = null;
  if (FILES.itemFields in manifest.files) {
    try {
      fields = decodeItemFields(await fetchChecked(source, manifest, FILES.itemFields), itemCount);
    } catch (err) {
      throw undecodable(v, FILES.itemFields, err);
    }
  }
  const images =
    FILES.imagePart(0) in manifest.files ? new ImageUrls(itemCount, (n) => fetchChecked(source, manifest, FILES.imagePart(n))) : null;
  return new ServingModel(
    manifest,
    source,
    catalog,
    gram,
    itemWeights,
    scorer,
    options.onDamage,
    await loadItemModel(source, manifest, options),
    fields,
    images,
  );
}

/** Bytes a version will hold once loaded, from its manifest alone (neighbour parts cached on demand aside). */
export function estimateModelBytes(manifest: Manifest, options: Pick<LoadOptions, 'int8MinItems'>): number {
  const { itemCount: n, dims } = manifest;
  const factors = scoringKind(manifest, options.int8MinItems) === 'int8-wasm' ? n * (dims + 8) : 2 * n * dims * 4;
  // ids as bytes (~16 each) with offsets and hash index, item weights, Gram matrix
  return factors + n * 32 + dims * dims * 8;
}

/**
 * How many neighbour parts of each kind an isolate keeps. The blend reads the lists of every
 * basket item on every request, so a catalogue's parts should all stay once read (a part read
 * again costs an R2 read and its digest check, ~7× the scoring time at 100K items when 16 of 25
 * parts were kept); they get what the isolate has left beside the rest of the model, up to
 * 24 MiB (a 100K-item catalogue's lists at N = 30 are 16 MiB) and at least 8 MiB (a 1M-item
 * catalogue's model takes ~92 of the isolate's 128 MiB). Bought-together lists, read only by their
 * own route, get a quarter of that.
 */
export function neighbourCacheParts(
  manifest: Manifest,
  options: Pick<LoadOptions, 'int8MinItems'>,
): { neighbours: number; boughtTogether: number } {
  const MiB = 2 ** 20;
  const budget = Math.min(24 * MiB, Math.max(8 * MiB, 104 * MiB - estimateModelBytes(manifest, options)));
  const partBytes = (file: string) => Math.max(1, manifest.files[file]?.bytes ?? 1);
  return {
    neighbours: Math.max(2, Math.floor(budget / partBytes(FILES.neighbourPart(0)))),
    boughtTogether: Math.max(2, Math.floor(budget / 4 / partBytes(FILES.boughtTogetherPart(0)))),
  };
}

/** The item model's constants and statistics (its lists are read lazily), or null without one. */
async function loadItemModel(source: ArtifactSource, manifest: Manifest, options: LoadOptions): Promise<ItemModel | null> {
  const im = manifest.itemModel;
  if (!im) return null;
  const v = manifest.version;
  let stats: FactorStats;
  try {
    stats = decodeFactorStats(await fetchChecked(source, manifest, FILES.factorStats), manifest.dims);
  } catch (err) {
    throw undecodable(v, FILES.factorStats, err);
  }
  for (let n = 0; n < neighbourParts(manifest.itemCount); n++) {
    if (!(FILES.neighbourPart(n) in manifest.files)) throw new ModelLoadError(v, `${FILES.neighbourPart(n)} is not listed in the manifest`);
    if (im.boughtTogether && !(FILES.boughtTogetherPart(n) in manifest.files))
      throw new ModelLoadError(v, `${FILES.boughtTogetherPart(n)} is not listed in the manifest`);
  }
  const keep = neighbourCacheParts(manifest, options);
  const lists = (file: (n: number) => string, parts: number) =>
    new NeighbourLists(
      manifest.itemCount,
      parts,
      (n) => fetchChecked(source, manifest, file(n)),
      options.onDamage && ((n, reason) => options.onDamage?.(v, file(n), reason) ?? Promise.resolve()),
    );
  const model = new ItemModel(
    im.blend,
    stats,
    lists(FILES.neighbourPart, keep.neighbours),
    im.boughtTogether ? lists(FILES.boughtTogetherPart, keep.boughtTogether) : null,
    im,
  );
  // the first part of each kind must read like the rest of the artifact: a bad one rejects the version
  for (const file of [FILES.neighbourPart(0), ...(im.boughtTogether ? [FILES.boughtTogetherPart(0)] : [])]) {
    try {
      new NeighbourPart(await fetchChecked(source, manifest, file), {
        first: 0,
        count: Math.min(NEIGHBOUR_PART_ITEMS, manifest.itemCount),
        itemCount: manifest.itemCount,
      });
    } catch (err) {
      throw undecodable(v, file, err);
    }
  }
  return model;
}

async function ortScorer(source: ArtifactSource, manifest: Manifest): Promise<OrtScorer> {
  const { version: v, dims, itemCount } = manifest;
  const factorBytes = await fetchChecked(source, manifest, FILES.itemFactors);
  if (factorBytes.byteLength !== itemCount * dims * 4)
    throw new ModelLoadError(v, `item factors are not ${itemCount}×${dims} float32`, { file: FILES.itemFactors });
  const itemFactors = new Float32Array(factorBytes);
  for (let k = 0; k < itemFactors.length; k++) {
    if (!Number.isFinite(itemFactors[k]))
      throw new ModelLoadError(v, `item factors contain a non-finite value at item ${Math.floor(k / dims)}`, { file: FILES.itemFactors });
  }
  const graph = new Uint8Array(await fetchChecked(source, manifest, FILES.scorer));
  let scorer: OrtScorer;
  try {
    scorer = await OrtScorer.create(graph, itemFactors, itemCount, dims);
  } catch (err) {
    throw new ModelLoadError(v, `${FILES.scorer} does not load in onnxruntime`, {
      file: FILES.scorer,
      detail: err instanceof Error ? err.message : String(err),
    });
  }
  // The graph itself must rank like the plain TypeScript scorer over the same factors.
  const probe = itemFactors.slice(0, dims);
  const k = Math.min(5, itemCount);
  const want = topK(scoreAll(itemFactors, itemCount, dims, probe), k);
  const got = await scorer.topK(probe, k).catch(() => []);
  const agree = got.length === k && want.every((w, j) => Math.abs(w.score - got[j].score) <= 1e-4 * Math.max(1, Math.abs(w.score)));
  if (!agree) throw new ModelLoadError(v, `${FILES.scorer} disagrees with the item factors on a probe vector`, { file: FILES.scorer });
  return scorer;
}

/**
 * Streams the int8 factor parts into the kernel's memory one at a time (peak: one part), then
 * probes with `probeItem`'s own row: the kernel's top scores must be the dot products of the
 * rows it returns, and none may beat its best.
 */
async function int8Scorer(source: ArtifactSource, manifest: Manifest, options: LoadOptions, probeItem: number): Promise<Int8Scorer> {
  const { version: v, dims, itemCount } = manifest;
  const index = await options.createInt8Index(itemCount, dims);
  for (let n = 0; n < factorParts(itemCount); n++) {
    const first = n * FACTOR_PART_ROWS;
    const rows = Math.min(FACTOR_PART_ROWS, itemCount - first);
    const part = decodeFactorPart(await fetchChecked(source, manifest, FILES.factorPart(n)), rows, dims);
    if ('error' in part) throw new ModelLoadError(v, `${FILES.factorPart(n)} ${part.error}`, { file: FILES.factorPart(n) });
    index.setRows(first, part.q, part.scales);
  }
  const probe = index.row(probeItem);
  const k = Math.min(5, itemCount);
  const got = index.topK(probe, k);
  const dots = index.dots(probe, [...got.map((s) => s.index), probeItem]);
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(b));
  if (got.length !== k || !got.every((s, j) => close(s.score, dots[j])) || got[0].score < dots[k] - 1e-3 * Math.max(1, Math.abs(dots[k]))) {
    throw new ModelLoadError(v, 'the int8 kernel disagrees with the item factors on a probe vector');
  }
  return new Int8Scorer(index);
}
