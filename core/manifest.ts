/**
 * The model artifact's manifest: what a trained model is, how it was made, and how to check it.
 * One schema used by the trainer (to write), the Worker (to verify before serving) and the tests.
 *
 * An artifact is a directory (or key prefix) holding manifest.json, manifest.sig and the files the
 * manifest lists with their byte sizes and sha256 digests. The signature covers the exact bytes of
 * manifest.json, so the digests inside it transitively cover every file.
 */
import { z } from 'zod';
import { sha256Hex } from './bytes';

/**
 * 2: the catalogue and the int8 factors are split into parts (one KV-sized value each, loaded
 * lazily or streamed), ids are one newline-separated file, and the float32 factors with their ONNX
 * graph are only written for catalogues small enough to score in float32 at the edge.
 */
export const FORMAT_VERSION = 2;
export const SUPPORTED_FORMAT_VERSIONS = [2] as const;

/** Items per catalogue part (titles and counts, fetched on demand). */
export const CATALOG_PART_ITEMS = 4096;
/** Rows per int8 factor part: ≤ 16.1 MiB even at 512 dims, under KV's 25 MiB value limit. */
export const FACTOR_PART_ROWS = 32768;
/** How many of the most popular items popular.json describes (cold start and title search). */
export const POPULAR_ITEMS = 10_000;
/** Largest float32 item matrix an artifact carries (with its ONNX graph); beyond it, int8 only. */
export const FLOAT32_MAX_BYTES = 64 * 1024 * 1024;

/** Key layout of origin storage: models/<version>/<file>, and the pointer publish writes last. */
export const ORIGIN_PREFIX = 'models/';
export const LATEST_KEY = 'models/latest.json';

/** File names inside an artifact. */
export const FILES = {
  /** the self-description (this schema), and its Ed25519 signature over the manifest's bytes */
  manifest: 'manifest.json',
  signature: 'manifest.sig',
  /** float32 N×D, row-major; only when N·D·4 ≤ FLOAT32_MAX_BYTES */
  itemFactors: 'item_factors.f32',
  /** the float32 scoring graph (Gemm + mask + TopK) over item_factors.f32; written with it */
  scorer: 'scorer.onnx',
  /** rows [n·FACTOR_PART_ROWS, …): int8 values (rows×D, row-major), then float32 scales (rows) */
  factorPart: (n: number) => `item_factors_i8/${String(n).padStart(4, '0')}.bin`,
  gram: 'foldin_gram.f64',
  itemWeights: 'item_weights.f32',
  /** item ids in index order, one per line (UTF-8, '\n'-terminated) */
  itemIds: 'item_ids.txt',
  /** the POPULAR_ITEMS most popular items: indices, titles, counts */
  popular: 'catalog/popular.json',
  /** titles and counts of items [n·CATALOG_PART_ITEMS, …), see core/catalog-part.ts */
  catalogPart: (n: number) => `catalog/${String(n).padStart(4, '0')}.bin`,
  userShard: (n: number) => `users/${String(n).padStart(4, '0')}.bin`,
  /** price, category and availability of every item from the training data (core/item-fields.ts); optional */
  itemFields: 'catalog/fields.bin',
  /** image URLs of items [n·CATALOG_PART_ITEMS, …) (catalogue-part encoding); optional */
  imagePart: (n: number) => `catalog/images/${String(n).padStart(4, '0')}.bin`,
  /** the item model's neighbour lists of items [n·NEIGHBOUR_PART_ITEMS, …), see core/neighbours.ts */
  neighbourPart: (n: number) => `item_model/neighbours/${String(n).padStart(4, '0')}.bin`,
  /** the same for the bought-together lists (learned from baskets) */
  boughtTogetherPart: (n: number) => `item_model/bought_together/${String(n).padStart(4, '0')}.bin`,
  /** ȳ and Σ of the item factors (core/blend.ts) */
  factorStats: 'item_model/factor_stats.f64',
} as const;

export const catalogParts = (itemCount: number) => Math.ceil(itemCount / CATALOG_PART_ITEMS);
export const factorParts = (itemCount: number) => Math.ceil(itemCount / FACTOR_PART_ROWS);

const metricsSchema = z.object({
  'recall@20': z.number(),
  'recall@50': z.number(),
  'ndcg@100': z.number(),
});

/** What a model version may be called: it names R2 keys and KV values, so a safe alphabet. */
export const VERSION_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

export const manifestSchema = z.object({
  formatVersion: z.number().int(),
  version: z.string().regex(VERSION_PATTERN),
  /** ISO 8601 with a zone: refresh compares versions by it (only forward, never back) */
  createdAt: z.iso.datetime({ offset: true }),
  trainer: z.object({
    algorithm: z.string(),
    hyperparameters: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
    trainingSeconds: z.number().optional(),
  }),
  data: z.object({
    source: z.string(),
    layout: z.string(),
    sha256: z.string(),
    users: z.number().int(),
    items: z.number().int(),
    interactions: z.number().int(),
  }),
  dims: z.number().int().positive().max(1024),
  itemCount: z.number().int().positive(),
  userCount: z.number().int().nonnegative(),
  userShards: z.number().int().nonnegative(),
  /** how user ids in the shards are written: as given, or as the edge's keyed hashes (exports) */
  userIds: z.enum(['raw', 'hmac-sha256']).optional(),
  /** Constants of the user step, shared by trainer and edge (see core/foldin.ts). */
  foldIn: z.object({
    unobservedWeight: z.number().positive(),
    alpha: z.number().nonnegative(),
    regularization: z.number().positive(),
    regExponent: z.number().nonnegative(),
    confidence: z.enum(['log1p', 'linear']).optional(),
    regularizationScaling: z.enum(['unobserved-mass', 'interactions']).optional(),
  }),
  dtypes: z.object({
    itemFactors: z.literal('float32'),
    itemFactorsInt8: z.literal('int8'),
    itemScales: z.literal('float32'),
    gram: z.literal('float64'),
    itemWeights: z.literal('float32'),
    userFactors: z.literal('float32'),
  }),
  /**
   * The item-item model beside the factors (absent: factors only). Its lists are in parts
   * (FILES.neighbourPart), blended with the factor scores as core/blend.ts says, with these
   * constants chosen on a validation split by the trainer.
   */
  itemModel: z
    .object({
      algorithm: z.string(),
      /** most neighbours stored per item */
      neighbours: z.number().int().positive(),
      weightType: z.enum(['int8', 'float16']),
      blend: z.object({ factorWeight: z.number().min(0).max(1), neighbourInput: z.enum(['binary', 'log1p']) }),
      /** bought-together lists were learned from baskets (FILES.boughtTogetherPart) */
      boughtTogether: z.boolean(),
      /** how the lists were made, for the record (λ, dropout, debiasing, …) */
      params: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
    })
    .optional(),
  metrics: z
    .object({
      protocol: z.record(z.string(), z.union([z.number(), z.string()])),
      /** what is served: the blend when the artifact has an item model, else the factors */
      model: metricsSchema,
      popularity: metricsSchema,
      /** the factors alone and the item model alone (when there is one), for comparison */
      factors: metricsSchema.optional(),
      itemModel: metricsSchema.optional(),
    })
    .nullable(),
  files: z.record(z.string(), z.object({ bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
});

export type Manifest = z.infer<typeof manifestSchema>;

/** Detached signature stored beside the manifest as manifest.sig (JSON). */
export const signatureSchema = z.object({
  algorithm: z.literal('Ed25519'),
  /** Identifies the public key: first 16 hex chars of sha256(raw public key). */
  keyId: z.string(),
  /** base64 signature over the exact bytes of manifest.json */
  signature: z.string(),
});
export type ManifestSignature = z.infer<typeof signatureSchema>;

/** catalog/popular.json */
export const popularSchema = z.object({
  /** item indices, most popular first */
  items: z.array(z.number().int().nonnegative()),
  titles: z.array(z.string()),
  counts: z.array(z.number().nonnegative()),
});
export type Popular = z.infer<typeof popularSchema>;

/**
 * The additive mask value of the float32 scoring graph (scorer.onnx: Gemm + mask → TopK) for an
 * excluded item. Finite, so masked scores stay comparable and sink below every real score.
 */
export const MASK_EXCLUDED = -3.4e38;

/** How a file differs from what the signed manifest lists. */
export interface FileMismatch {
  /** `unlisted`: not in the manifest; `size`: wrong length (a truncated or short read); `digest`: same length, other bytes */
  kind: 'unlisted' | 'size' | 'digest';
  message: string;
}

/**
 * How `bytes` differs from the file the manifest lists under `file`, or null when it is that
 * file (size, then sha256). The one check every reader of an artifact runs: the trainer's
 * verify, the refresh while staging, and the Worker on every file it loads.
 */
export async function fileMismatch(manifest: Manifest, file: string, bytes: ArrayBuffer | Uint8Array): Promise<FileMismatch | null> {
  const meta = manifest.files[file];
  if (!meta) return { kind: 'unlisted', message: `${file} is not listed in the manifest` };
  if (bytes.byteLength !== meta.bytes)
    return { kind: 'size', message: `${file} has ${bytes.byteLength} bytes, manifest says ${meta.bytes}` };
  if ((await sha256Hex(bytes)) !== meta.sha256) return { kind: 'digest', message: `${file} sha256 does not match the manifest` };
  return null;
}
