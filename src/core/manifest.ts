/**
 * The model artifact's manifest: what a trained model is, how it was made, and how to check it.
 * One schema used by the trainer (to write), the Worker (to verify before serving) and the tests.
 *
 * An artifact is a directory (or key prefix) holding manifest.json, manifest.sig and the files the
 * manifest lists with their byte sizes and sha256 digests. The signature covers the exact bytes of
 * manifest.json, so the digests inside it transitively cover every file.
 */
import { z } from 'zod';

export const FORMAT_VERSION = 1;
export const SUPPORTED_FORMAT_VERSIONS = [1] as const;

/** Key layout of origin storage: models/<version>/<file>, and the pointer publish writes last. */
export const ORIGIN_PREFIX = 'models/';
export const LATEST_KEY = 'models/latest.json';

/** File names inside an artifact. */
export const FILES = {
  itemFactors: 'item_factors.f32',
  itemFactorsInt8: 'item_factors.i8',
  itemScales: 'item_scales.f32',
  gram: 'foldin_gram.f64',
  itemWeights: 'item_weights.f32',
  catalog: 'catalog.json',
  scorer: 'scorer.onnx',
  userShard: (n: number) => `users/${String(n).padStart(4, '0')}.bin`,
} as const;

const metricsSchema = z.object({
  'recall@20': z.number(),
  'recall@50': z.number(),
  'ndcg@100': z.number(),
});

export const manifestSchema = z.object({
  formatVersion: z.number().int(),
  version: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/),
  createdAt: z.string(),
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
  /** Constants of the user step, shared by trainer and edge (see src/core/foldin.ts). */
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
  metrics: z
    .object({
      protocol: z.record(z.string(), z.union([z.number(), z.string()])),
      model: metricsSchema,
      popularity: metricsSchema,
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

export const catalogSchema = z.object({
  ids: z.array(z.string()),
  titles: z.array(z.string()),
  /** item indices, most popular first */
  popularity: z.array(z.number().int().nonnegative()),
  /** number of users who interacted with each item (by index) */
  counts: z.array(z.number().nonnegative()),
});
export type Catalog = z.infer<typeof catalogSchema>;
