/**
 * Request and response schemas: the single source for validation at the routes and for the
 * OpenAPI document at /openapi.json. Objects are strict, so unknown fields are a 400.
 */
import { z } from '@hono/zod-openapi';

/** Hard ceiling for k in the schema; the configured MAX_K (default 100) is checked in handlers. */
export const K_CEILING = 1000;

const id = (what: string) =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(/^[\x21-\x7e]+$/, `${what} must be 1–128 printable ASCII characters without spaces`);

export const UserId = id('userId').openapi({ example: '17850' });
export const ItemId = id('item id').openapi({ example: '85123A' });

export const K = z.coerce
  .number({ error: 'k must be an integer' })
  .int('k must be an integer')
  .min(1, 'k must be at least 1')
  .max(K_CEILING, `k must be at most ${K_CEILING}`)
  .openapi({ description: 'number of items to return (1..MAX_K, default 20)', example: 20 });

const BoolParam = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const UserPath = z.object({ userId: UserId.openapi({ param: { name: 'userId', in: 'path' } }) });
export const ItemPath = z.object({ itemId: ItemId.openapi({ param: { name: 'itemId', in: 'path' } }) });

export const UserRecsQuery = z
  .object({
    k: K.optional(),
    excludePurchased: BoolParam.optional().openapi({
      param: { name: 'excludePurchased', in: 'query' },
      description: 'leave out items the user already bought (default true)',
      example: 'true',
    }),
  })
  .strict();

export const SimilarQuery = z.object({ k: K.optional() }).strict();

export const BasketBody = z
  .object({
    items: z
      .array(ItemId)
      .openapi({ description: 'item ids in the basket or session (at most MAX_BASKET_ITEMS)', example: ['85123A', '71053'] }),
    weights: z.array(z.number().positive().max(1e6)).optional().openapi({ description: 'interaction strength per item (default 1 each)' }),
    k: K.optional(),
    excludeGiven: z.boolean().optional().openapi({ description: 'leave out the given items (default true)' }),
  })
  .strict()
  .refine((b) => !b.weights || b.weights.length === b.items.length, { message: 'weights must have one entry per item', path: ['weights'] })
  .openapi('BasketRequest');

export const ScoreBody = z
  .object({
    userId: UserId.optional(),
    items: z.array(ItemId).optional(),
    candidates: z
      .array(ItemId)
      .min(1, 'candidates must not be empty')
      .openapi({ description: 'item ids to score, returned in this order (at most MAX_CANDIDATES)' }),
  })
  .strict()
  .refine((b) => (b.userId === undefined) !== (b.items === undefined), { message: 'give exactly one of userId or items' })
  .openapi('ScoreRequest');

export const RecommendedItem = z.object({ id: z.string(), score: z.number(), title: z.string() }).openapi('RecommendedItem');
export type RecommendedItem = z.infer<typeof RecommendedItem>;

export const Source = z.enum(['personalized', 'session', 'popular', 'similar']);
export type Source = z.infer<typeof Source>;

export const Recommendation = z
  .object({
    model: z.string().openapi({ description: 'model version that produced the scores' }),
    source: Source,
    items: z.array(RecommendedItem),
    ignoredItems: z.array(z.string()).optional().openapi({ description: 'request item ids the model does not know (ignored)' }),
  })
  .openapi('Recommendation');
export type Recommendation = z.infer<typeof Recommendation>;

/**
 * The outcome of a model refresh run, as anyone may see it (GET /v1/model): the reason names
 * artifact files and checks, never internal locations or raw exception text.
 */
export const RefreshStatus = z
  .object({
    at: z.string(),
    outcome: z.enum(['activated', 'unchanged', 'rejected', 'staging', 'failed']).openapi({
      description:
        'rejected: the candidate was refused (a verdict about its signed content is remembered; other refusals are re-checked next run); failed: a transient fault, retried next run',
    }),
    version: z.string().nullable(),
    reason: z.string().nullable(),
    ops: z.number().optional().openapi({ description: 'storage operations the run spent (origin reads + MODELS writes)' }),
  })
  .openapi('RefreshStatus');
export type RefreshStatus = z.infer<typeof RefreshStatus>;

/** The same outcome for operators (admin routes): with the raw detail and the files it repaired. */
export const RefreshReport = RefreshStatus.extend({
  detail: z.string().nullable().openapi({ description: 'what exactly went wrong (origin location, exception text): operators only' }),
  repaired: z.array(z.string()).optional().openapi({ description: 'files of the active version re-staged after they failed their check' }),
}).openapi('RefreshReport');
export type RefreshReport = z.infer<typeof RefreshReport>;

export const ErrorResponse = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).openapi('Error');

const Metrics = z.object({ 'recall@20': z.number(), 'recall@50': z.number(), 'ndcg@100': z.number() });

export const ModelInfo = z
  .object({
    version: z.string(),
    source: z.enum(['bundled', 'origin']),
    trainedAt: z.string(),
    dims: z.number(),
    itemCount: z.number(),
    userCount: z.number(),
    modelBytes: z.number().openapi({
      description:
        'bytes of model data this isolate holds for the version (factors, id lookup, weights, Gram matrix); catalogue parts and user shards are cached on top, bounded',
    }),
    scoring: z.enum(['onnx-float32', 'int8-wasm']).openapi({
      description:
        'how this isolate scores the model: float32 ONNX graph in onnxruntime-web, or int8 factors in the WebAssembly SIMD kernel (INT8_SCORING_MIN_ITEMS)',
    }),
    algorithm: z.string(),
    hyperparameters: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
    data: z.object({ source: z.string(), sha256: z.string(), users: z.number(), items: z.number(), interactions: z.number() }),
    metrics: z
      .object({ protocol: z.record(z.string(), z.union([z.number(), z.string()])), model: Metrics, popularity: Metrics })
      .nullable(),
    previousVersions: z.array(z.string()),
    lastRefresh: RefreshStatus.nullable(),
    damagedFiles: z.array(z.string()).openapi({
      description: 'files of this version that failed their check since it was activated (served around; re-staged by the next refresh)',
    }),
  })
  .openapi('ModelInfo');
export type ModelInfo = z.infer<typeof ModelInfo>;

export const SearchQuery = z
  .object({
    q: z.string().max(100).optional().openapi({
      description: 'words that must all appear in the title (case-insensitive); empty = most popular',
      example: 'heart holder',
    }),
    limit: z.coerce.number().int().min(1).max(100).optional().openapi({ description: 'at most this many items (default 20)' }),
  })
  .strict();

export const CatalogItem = z
  .object({ id: z.string(), title: z.string(), popularity: z.number().openapi({ description: 'share of training users who bought it' }) })
  .openapi('CatalogItem');
export const SearchResult = z.object({ model: z.string(), items: z.array(CatalogItem) }).openapi('SearchResult');

export const UserHistory = z
  .object({
    model: z.string(),
    userId: z.string(),
    known: z.boolean(),
    items: z.array(z.object({ id: z.string(), title: z.string(), strength: z.number() })),
  })
  .openapi('UserHistory');

export const Health = z.object({ status: z.literal('ok'), model: z.string().nullable() }).openapi('Health');

/** Interaction types an event may carry; each adds its configured strength (EVENT_WEIGHT_*). */
export const EventType = z.enum(['view', 'add_to_cart', 'purchase']);
export type EventType = z.infer<typeof EventType>;
export const Event = z
  .object({
    userId: UserId,
    itemId: ItemId,
    type: EventType,
    timestamp: z
      .union([z.string().max(40), z.number()])
      .optional()
      .openapi({ description: 'ISO 8601, or epoch seconds (< 1e11) or milliseconds; default now' }),
  })
  .strict()
  .openapi('Event');
export const EventsBody = z
  .union([Event, z.object({ events: z.array(Event).min(1, 'events must not be empty') }).strict()])
  .openapi('EventsRequest');
export const EventsResult = z
  .object({
    model: z.string(),
    accepted: z.number(),
    rejected: z.array(z.object({ index: z.number(), itemId: z.string(), reason: z.string() })),
  })
  .openapi('EventsResult');

export const errorResponses = {
  400: { description: 'invalid request', content: { 'application/json': { schema: ErrorResponse } } },
  503: { description: 'no model is available yet', content: { 'application/json': { schema: ErrorResponse } } },
} as const;
