/**
 * Seeded synthetic models for Worker tests, trained and packaged by the real trainer code
 * (pure TypeScript, so it runs here inside workerd) and published into the real local R2 binding.
 * The data (test/blocks.ts) has a planted answer: users buy inside one block of items.
 */
import { env } from 'cloudflare:test';
import { type BuiltArtifact, buildArtifact } from '../../model/artifact';
import { DEFAULT_BLEND, factorStats } from '../../model/blend';
import { DEFAULT_PARAMS, foldInConstants, type IalsParams, trainIals } from '../../model/ials';
import { itemModelArtifact } from '../../model/item-artifact';
import { DEFAULT_ITEM_PARAMS, exactEase, type ItemModelParams } from '../../model/item-model';
import { publishArtifact, r2Target } from '../../model/publish';
import type { Csr } from '../../model/sparse';
import { LiveCatalog } from '../../src/models/live-catalog';
import { catalogClient } from '../../src/storage/catalog-store';
import { type BlockData, blockData } from '../blocks';

export { type BlockData, blockData };

import { sha256Hex } from '@edge-recs/core/bytes';
import type { Manifest } from '@edge-recs/core/manifest';
import { signManifest } from '@edge-recs/core/signing';

export const FIXTURE_PARAMS: IalsParams = {
  ...DEFAULT_PARAMS,
  factors: 4,
  iterations: 10,
  regularization: 0.1,
  unobservedWeight: 1,
  alpha: 1,
  regExponent: 0,
  confidence: 'log1p',
  popularityExponent: 0,
};

/** Each fixture is created a second after the previous one, so a later build is a newer model (refresh only moves forward). */
let fixtureClock = Date.parse('2026-01-01T00:00:00Z');

export async function buildFixture(opts: {
  /**
   * Keep it under 12 characters: protobufjs writes strings of 40+ characters with Buffer's
   * utf8Write, whose default length differs in workerd's Node compatibility layer, and the ONNX
   * graph's doc string is "iALS scoring graph for model <version>" (the trainer runs in Node).
   */
  version: string;
  signingKey?: string | null;
  data?: BlockData;
  params?: Partial<IalsParams>;
  usersPerShard?: number;
  createdAt?: Date;
  /** add an item model fitted (exact EASE, reference inverse) on the same rows, and bought-together lists on `baskets` */
  itemModel?: { params?: Partial<ItemModelParams>; baskets?: Csr; factorWeight?: number };
}): Promise<BuiltArtifact & { data: BlockData }> {
  const data = opts.data ?? blockData();
  const params = { ...FIXTURE_PARAMS, ...opts.params };
  const model = trainIals(data.matrix, params);
  const counts = new Float32Array(data.itemIds.length);
  for (const i of data.matrix.colIdx) counts[i]++;
  let itemModel: ReturnType<typeof itemModelArtifact> | undefined;
  if (opts.itemModel) {
    const ip = { ...DEFAULT_ITEM_PARAMS, lambda: 5, neighbours: 6, ...opts.itemModel.params };
    const solver = exactEase({ solver: 'reference' });
    itemModel = itemModelArtifact({
      lists: await solver.fit(data.matrix, ip),
      boughtTogether: opts.itemModel.baskets ? await solver.fit(opts.itemModel.baskets, ip) : null,
      stats: factorStats(model.itemFactors, data.itemIds.length, params.factors),
      params: ip,
      ...(opts.itemModel.baskets ? { boughtTogetherParams: ip } : {}),
      blend: { ...DEFAULT_BLEND, ...(opts.itemModel.factorWeight !== undefined ? { factorWeight: opts.itemModel.factorWeight } : {}) },
    });
  }
  fixtureClock += 1000;
  const built = await buildArtifact({
    version: opts.version,
    createdAt: opts.createdAt ?? new Date(fixtureClock),
    algorithm: 'ials',
    hyperparameters: { ...params },
    foldIn: foldInConstants(params),
    data: {
      source: 'synthetic-blocks',
      layout: 'generic',
      sha256: '0'.repeat(64),
      users: data.userIds.length,
      items: data.itemIds.length,
      interactions: data.matrix.colIdx.length,
    },
    dims: params.factors,
    itemIds: data.itemIds,
    titles: data.titles,
    itemCounts: counts,
    itemFactors: model.itemFactors,
    itemWeights: model.itemWeights,
    userIds: data.userIds,
    userFactors: model.userFactors,
    userItems: data.matrix,
    signingKey: opts.signingKey === null ? undefined : (opts.signingKey ?? env.TEST_SIGNING_KEY),
    usersPerShard: opts.usersPerShard ?? 40,
    ...(itemModel ? { itemModel } : {}),
  });
  return { ...built, data };
}

export async function publishFixture(built: BuiltArtifact, opts: { updateLatest?: boolean } = {}): Promise<void> {
  await publishArtifact(r2Target(env.MODELS), { version: built.manifest.version, ...built }, opts);
}

// biome-ignore lint/suspicious/noExplicitAny: tests read loosely typed JSON answers and assert on them
export async function getJson<T = any>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

/**
 * A copy of an artifact with one file and/or the manifest changed, the digests updated and the
 * manifest signed again with the trusted test key: corrupt content that passes the signature and
 * checksum checks, so the deeper checks (shapes, finiteness, ONNX) are what must reject it.
 */
export async function resign(
  built: BuiltArtifact,
  change: { file?: string; mutate?: (bytes: Uint8Array) => void; manifest?: (m: Manifest) => void },
): Promise<BuiltArtifact> {
  const files = { ...built.files };
  const manifest: Manifest = structuredClone(built.manifest);
  if (change.file && change.mutate) {
    const bytes = files[change.file].slice();
    change.mutate(bytes);
    files[change.file] = bytes;
    manifest.files[change.file] = { bytes: bytes.byteLength, sha256: await sha256Hex(bytes) };
  }
  change.manifest?.(manifest);
  const manifestBytes = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  const signature = new TextEncoder().encode(JSON.stringify(await signManifest(manifestBytes, env.TEST_SIGNING_KEY)));
  return { manifest, manifestBytes, signature, files };
}

/** Empties the local KV namespace and R2 bucket (tests that publish and refresh start clean). */
export async function clearStorage(): Promise<void> {
  for (const k of (await env.RECS_KV.list()).keys) await env.RECS_KV.delete(k.name);
  let listed = await env.MODELS.list();
  while (listed.objects.length) {
    await env.MODELS.delete(listed.objects.map((o) => o.key));
    listed = await env.MODELS.list();
  }
}

/** A live catalogue copy as a new isolate would start one (from the newest snapshot and the changes since). */
export function newIsolateCatalog(maxNewItems = 100): LiveCatalog {
  return new LiveCatalog(catalogClient(env.CATALOG, env.MODELS), {
    syncSeconds: 5,
    maxStaleSeconds: 20,
    newItemSeconds: 3600,
    maxNewItems,
    facetAttributes: [],
  });
}
