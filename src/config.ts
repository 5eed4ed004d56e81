/**
 * Every configuration variable of the Worker, parsed once per isolate and environment.
 *
 * The variables are in wrangler.toml ([vars], a comment each; units in their names) and the
 * secrets in `wrangler secret put` / .dev.vars. Defaults live here only. A value that does not
 * parse is a deployment mistake, not a client's: the request fails with 500 `misconfigured`
 * naming the variable (logged), rather than silently serving with a default nobody chose.
 * Bindings are checked here too, so a missing KV namespace or bucket is reported by name.
 */
import { parsePublicKeys } from '@edge-recs/core/signing';
import { DAY_SECONDS } from '@edge-recs/core/time';
import { z } from 'zod';
import { AppError } from './errors';
import type { EventType } from './schemas';

/** the longest TTL worth configuring for cached embeddings (one year) */
const YEAR_SECONDS = 365 * DAY_SECONDS;

/** An integer variable: unset or "" → the default; otherwise an integer within [min, max]. */
const int = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess((v) => (v === undefined || v === '' ? undefined : Number(v)), z.number().int().min(min).max(max).default(fallback));

/** A positive number variable (event weights). */
const positive = (fallback: number) =>
  z.preprocess((v) => (v === undefined || v === '' ? undefined : Number(v)), z.number().positive().finite().default(fallback));

const flag = (fallback: boolean) =>
  z
    .preprocess((v) => (v === undefined || v === '' ? undefined : v), z.enum(['true', 'false']).default(fallback ? 'true' : 'false'))
    .transform((v) => v === 'true');

/** An optional secret or string: "" counts as unset. */
const optional = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());

const varsSchema = z.object({
  MAX_K: int(100, 1, 1000),
  // up to the schemas' BASKET_CEILING (2000), which a 64 KiB body of short ids still fits
  MAX_BASKET_ITEMS: int(1000, 1, 2000),
  MAX_CANDIDATES: int(1000, 1, 10_000),
  ACTIVE_POINTER_TTL_SECONDS: int(30, 0, 3600),
  SERVE_BUNDLED_MODEL: flag(true),
  USER_EMBEDDING_TTL_SECONDS: int(30 * DAY_SECONDS, 60, YEAR_SECONDS),
  USER_CACHE_SECONDS: int(5, 0, 300),
  KEEP_PREVIOUS_VERSIONS: int(2, 0, 20),
  REFRESH_OPS_PER_RUN: int(700, 10, 990),
  EXPORT_OPS_PER_RUN: int(200, 10, 990),
  ERASURE_OPS_PER_RUN: int(500, 10, 990),
  ORIGIN_URL: optional.pipe(z.url({ protocol: /^https?$/ }).optional()),
  ORIGIN_TIMEOUT_MS: int(10_000, 100, 120_000),
  ORIGIN_ATTEMPTS: int(3, 1, 10),
  ORIGIN_BACKOFF_MS: int(500, 0, 60_000),
  EVENT_WEIGHT_VIEW: positive(0.1),
  EVENT_WEIGHT_ADD_TO_CART: positive(0.5),
  EVENT_WEIGHT_PURCHASE: positive(1),
  EVENT_WEIGHT_CLICK: positive(0.2),
  MAX_EVENTS_PER_BATCH: int(100, 1, 1000),
  EXPORT_WINDOW_SECONDS: int(3600, 1, DAY_SECONDS),
  REQUIRE_API_KEY_FOR_READS: flag(false),
  CORS_ALLOWED_ORIGINS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.union([z.literal('*'), z.url({ protocol: /^https?$/ })]))),
  INT8_SCORING_MIN_ITEMS: int(50_000, 0),
  TRENDING_HALF_LIFE_SECONDS: int(DAY_SECONDS, 60, 30 * DAY_SECONDS),
  TRENDING_CACHE_SECONDS: int(10, 0, 300),
  TRENDING_MIN_SHOPPERS: int(3, 1, 10_000),
  ATTRIBUTION_WINDOW_SECONDS: int(DAY_SECONDS, 60, 30 * DAY_SECONDS),
  REVENUE_CURRENCY: optional.pipe(
    z
      .string()
      .regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR')
      .optional(),
  ),
  METRICS_SHARDS: int(8, 1, 64),
  METRICS_RETENTION_DAYS: int(90, 1, 3650),
  METRICS_FLUSH_MILLISECONDS: int(500, 0, 10_000),
  EXPERIMENTS_CACHE_SECONDS: int(10, 0, 300),
  CATALOG_MAX_BATCH: int(1000, 1, 5000),
  CATALOG_MAX_BODY_BYTES: int(2 * 1024 * 1024, 64 * 1024, 10 * 1024 * 1024),
  CATALOG_SYNC_SECONDS: int(5, 1, 30),
  CATALOG_MAX_STALE_SECONDS: int(20, 1, 30),
  CATALOG_SNAPSHOT_SECONDS: int(120, 10, 3600),
  CATALOG_NEW_ITEM_SECONDS: int(14 * DAY_SECONDS, 0, YEAR_SECONDS),
  CATALOG_MAX_NEW_ITEMS: int(10_000, 0, 100_000),
  CATALOG_FACET_ATTRIBUTES: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean),
    ),
  MODEL_PUBLIC_KEYS: z.string().optional().transform(parsePublicKeys),
  ADMIN_TOKEN: optional,
  API_KEY: optional,
  USER_ID_SECRET: optional,
  ORIGIN_TOKEN: optional,
});

export type { EventType };

export interface Config {
  /** largest k a client may ask for; 20 when not given */
  maxK: number;
  defaultK: number;
  maxBasketItems: number;
  maxCandidates: number;
  activePointerTtlSeconds: number;
  serveBundledModel: boolean;
  userEmbeddingTtlSeconds: number;
  /** how long an isolate reuses a user record it read or wrote; 0 = always read KV */
  userCacheSeconds: number;
  keepPreviousVersions: number;
  refreshOpsPerRun: number;
  /** storage operations one cron run may spend compacting event exports */
  exportOpsPerRun: number;
  /** R2 operations one run of the erasure job may spend */
  erasureOpsPerRun: number;
  /** HTTPS origin of published models; undefined = the MODELS bucket is the origin */
  origin: { url: string | undefined; timeoutMs: number; attempts: number; backoffMs: number; token: string | undefined };
  eventWeights: Record<EventType, number>;
  maxEventsPerBatch: number;
  exportWindowSeconds: number;
  requireApiKeyForReads: boolean;
  /** origins whose browsers may call /v1 (CORS); empty = none, "*" = any */
  corsAllowedOrigins: string[];
  /** catalogues with at least this many items are scored by the int8 kernel, smaller by ORT */
  int8ScoringMinItems: number;
  modelPublicKeys: string[];
  trending: {
    /** how fast a trend fades: an event's weight halves every this many seconds */
    halfLifeSeconds: number;
    /** how long an isolate reuses the trending list it fetched (its own events refresh it at once) */
    cacheSeconds: number;
    /** different shoppers within a quarter half-life before an item is listed as trending */
    minShoppers: number;
  };
  metrics: {
    /** an event counts for an answer this long after it was served */
    attributionWindowMs: number;
    /** the currency revenue is counted in (null: prices are summed as given) */
    revenueCurrency: string | null;
    /** counter Durable Objects (an answer's recId names its shard); only ever increase it */
    shards: number;
    /** hourly counts are kept this long */
    retentionDays: number;
    /** an isolate gathers counter records this long and writes them as one batch */
    flushMilliseconds: number;
  };
  /** how long an isolate reuses the experiment definitions it read */
  experimentsCacheSeconds: number;
  catalog: {
    /** most items in one PUT /v1/items */
    maxBatch: number;
    /** largest PUT /v1/items body */
    maxBodyBytes: number;
    /** an isolate refreshes its copy in the background once it is this old… */
    syncSeconds: number;
    /** …and waits for the refresh before answering once it is this old (the visibility bound) */
    maxStaleSeconds: number;
    /** how often (at most) the catalogue writes a snapshot to R2 when it changed */
    snapshotSeconds: number;
    /** items the model does not know count as new (cold start, exploration) for this long */
    newItemSeconds: number;
    /** most new items an isolate keeps at hand for cold-start answers */
    maxNewItems: number;
    /** attributes placements may boost on and filters may match (like facets: declared up front) */
    facetAttributes: string[];
  };
  secrets: { adminToken: string | undefined; apiKey: string | undefined; userIdSecret: string | undefined };
}

const parsed = new WeakMap<object, Config>();

/** The configuration of `env`, parsed on first use and then reused for the isolate's lifetime. */
export function configFrom(env: Env): Config {
  let config = parsed.get(env);
  if (!config) {
    config = parseConfig(env);
    parsed.set(env, config);
  }
  return config;
}

function parseConfig(env: Env): Config {
  checkBindings(env);
  const result = varsSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new AppError('misconfigured', `configuration variable ${issue.path.join('.')} is invalid: ${issue.message}`);
  }
  const v = result.data;
  return {
    maxK: v.MAX_K,
    defaultK: Math.min(20, v.MAX_K),
    maxBasketItems: v.MAX_BASKET_ITEMS,
    maxCandidates: v.MAX_CANDIDATES,
    activePointerTtlSeconds: v.ACTIVE_POINTER_TTL_SECONDS,
    serveBundledModel: v.SERVE_BUNDLED_MODEL,
    userEmbeddingTtlSeconds: v.USER_EMBEDDING_TTL_SECONDS,
    userCacheSeconds: v.USER_CACHE_SECONDS,
    keepPreviousVersions: v.KEEP_PREVIOUS_VERSIONS,
    refreshOpsPerRun: v.REFRESH_OPS_PER_RUN,
    exportOpsPerRun: v.EXPORT_OPS_PER_RUN,
    erasureOpsPerRun: v.ERASURE_OPS_PER_RUN,
    origin: {
      url: v.ORIGIN_URL,
      timeoutMs: v.ORIGIN_TIMEOUT_MS,
      attempts: v.ORIGIN_ATTEMPTS,
      backoffMs: v.ORIGIN_BACKOFF_MS,
      token: v.ORIGIN_TOKEN,
    },
    eventWeights: {
      view: v.EVENT_WEIGHT_VIEW,
      click: v.EVENT_WEIGHT_CLICK,
      add_to_cart: v.EVENT_WEIGHT_ADD_TO_CART,
      purchase: v.EVENT_WEIGHT_PURCHASE,
    },
    maxEventsPerBatch: v.MAX_EVENTS_PER_BATCH,
    exportWindowSeconds: v.EXPORT_WINDOW_SECONDS,
    requireApiKeyForReads: v.REQUIRE_API_KEY_FOR_READS,
    corsAllowedOrigins: v.CORS_ALLOWED_ORIGINS,
    int8ScoringMinItems: v.INT8_SCORING_MIN_ITEMS,
    modelPublicKeys: v.MODEL_PUBLIC_KEYS,
    trending: {
      halfLifeSeconds: v.TRENDING_HALF_LIFE_SECONDS,
      cacheSeconds: v.TRENDING_CACHE_SECONDS,
      minShoppers: v.TRENDING_MIN_SHOPPERS,
    },
    metrics: {
      attributionWindowMs: v.ATTRIBUTION_WINDOW_SECONDS * 1000,
      revenueCurrency: v.REVENUE_CURRENCY ?? null,
      shards: v.METRICS_SHARDS,
      retentionDays: v.METRICS_RETENTION_DAYS,
      flushMilliseconds: v.METRICS_FLUSH_MILLISECONDS,
    },
    experimentsCacheSeconds: v.EXPERIMENTS_CACHE_SECONDS,
    catalog: {
      maxBatch: v.CATALOG_MAX_BATCH,
      maxBodyBytes: v.CATALOG_MAX_BODY_BYTES,
      syncSeconds: v.CATALOG_SYNC_SECONDS,
      maxStaleSeconds: Math.max(v.CATALOG_MAX_STALE_SECONDS, v.CATALOG_SYNC_SECONDS),
      snapshotSeconds: v.CATALOG_SNAPSHOT_SECONDS,
      newItemSeconds: v.CATALOG_NEW_ITEM_SECONDS,
      maxNewItems: v.CATALOG_MAX_NEW_ITEMS,
      facetAttributes: v.CATALOG_FACET_ATTRIBUTES,
    },
    secrets: { adminToken: v.ADMIN_TOKEN, apiKey: v.API_KEY, userIdSecret: v.USER_ID_SECRET },
  };
}

/** The bindings wrangler.toml declares must be there, with the methods this Worker calls. */
function checkBindings(env: Env): void {
  const missing: string[] = [];
  const has = (name: string, method: string) => {
    const b = (env as unknown as Record<string, Record<string, unknown> | undefined>)[name];
    if (!b || typeof b[method] !== 'function') missing.push(name);
  };
  has('RECS_KV', 'get');
  has('MODELS', 'get');
  has('USER_HISTORY', 'idFromName');
  has('ERASURE_JOBS', 'idFromName');
  has('CATALOG', 'idFromName');
  has('TRENDING', 'idFromName');
  has('METRICS', 'idFromName');
  has('EXPERIMENTS', 'idFromName');
  if (missing.length) throw new AppError('misconfigured', `binding(s) ${missing.join(', ')} missing: see wrangler.toml`);
}
