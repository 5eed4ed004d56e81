/**
 * Request and response schemas: the single source for validation at the routes and for the
 * OpenAPI document at /openapi.json. Objects are strict, so unknown fields are a 400; query
 * strings are strict too, and numbers in them are plain decimal digits (no "0x10", no "1e2").
 *
 * Limits that the configuration sets (MAX_K, MAX_BASKET_ITEMS, …) carry an `x-limit` mark naming
 * the config field: the schemas hold hard ceilings, the routes check the configured values, and
 * the served OpenAPI document has each marked bound replaced by the configured value (see
 * app.ts), so the document and the server agree for every deployment.
 */
import { z } from '@hono/zod-openapi';

/** Hard ceiling for k in the schema; the configured MAX_K (default 100) is checked in handlers. */
export const K_CEILING = 1000;
/** Hard ceilings for arrays in bodies; the configured limits are checked in handlers. */
export const ARRAY_CEILING = 1000;

/** The configuration field a bound comes from (see the header). */
export type LimitName = 'maxK' | 'maxBasketItems' | 'maxCandidates' | 'maxEventsPerBatch';
const limit = (name: LimitName) => ({ 'x-limit': name }) as Record<string, unknown>;

const id = (what: string) =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(/^[\x21-\x7e]+$/, `${what} must be 1–128 printable ASCII characters without spaces`);

export const UserId = id('userId').openapi({ example: '17850' });
export const ItemId = id('item id').openapi({ example: '85123A' });

const K_DOC = { description: 'number of items to return (1..MAX_K, default 20)', example: 20 };

/** k in a query string: decimal digits only, 1..K_CEILING (MAX_K checked by the route). */
export const KQuery = z
  .string()
  .regex(/^\d{1,6}$/, 'k must be a whole number written in decimal digits')
  .transform(Number)
  .pipe(z.number().int().min(1, 'k must be at least 1').max(K_CEILING, `k must be at most ${K_CEILING}`))
  .openapi({ ...K_DOC, type: 'integer', minimum: 1, maximum: K_CEILING, ...limit('maxK') });

/** k in a JSON body: a JSON integer (not a string, not a boolean). */
export const KBody = z
  .number({ error: 'k must be an integer' })
  .int('k must be an integer')
  .min(1, 'k must be at least 1')
  .max(K_CEILING, `k must be at most ${K_CEILING}`)
  .openapi({ ...K_DOC, ...limit('maxK') });

const BoolParam = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** A query string that takes no parameters (an unknown one is a 400, like an unknown field). */
export const NoQuery = z.object({}).strict();

export const UserPath = z.object({ userId: UserId.openapi({ param: { name: 'userId', in: 'path' } }) });
export const ItemPath = z.object({ itemId: ItemId.openapi({ param: { name: 'itemId', in: 'path' } }) });

export const UserRecsQuery = z
  .object({
    k: KQuery.optional(),
    excludePurchased: BoolParam.optional().openapi({
      param: { name: 'excludePurchased', in: 'query' },
      description: 'leave out items the user already bought (default true)',
      example: 'true',
    }),
  })
  .strict();

export const SimilarQuery = z.object({ k: KQuery.optional() }).strict();

export const BasketBody = z
  .object({
    items: z
      .array(ItemId)
      .max(ARRAY_CEILING)
      .openapi({
        description: 'item ids in the basket or session (1..MAX_BASKET_ITEMS; empty: 400 empty_basket, too many: 400 too_many_items)',
        example: ['85123A', '71053'],
        minItems: 1,
        ...limit('maxBasketItems'),
      }),
    weights: z
      .array(z.number().positive().max(1e6))
      .max(ARRAY_CEILING)
      .optional()
      .openapi({ description: 'interaction strength per item (default 1 each); one entry per item', ...limit('maxBasketItems') }),
    k: KBody.optional(),
    excludeGiven: z.boolean().optional().openapi({ description: 'leave out the given items (default true)' }),
  })
  .strict()
  .refine((b) => !b.weights || b.weights.length === b.items.length, { message: 'weights must have one entry per item', path: ['weights'] })
  .openapi('BasketRequest');

export const ScoreBody = z
  .object({
    userId: UserId.optional().openapi({ description: 'score for this user (give exactly one of userId and items)' }),
    items: z
      .array(ItemId)
      .max(ARRAY_CEILING)
      .optional()
      .openapi({ description: 'or score for this basket (1..MAX_BASKET_ITEMS)', minItems: 1, ...limit('maxBasketItems') }),
    candidates: z
      .array(ItemId)
      .min(1, 'candidates must not be empty')
      .max(10 * ARRAY_CEILING)
      .openapi({ description: 'item ids to score, returned in this order (1..MAX_CANDIDATES)', ...limit('maxCandidates') }),
  })
  .strict()
  .refine((b) => (b.userId === undefined) !== (b.items === undefined), { message: 'give exactly one of userId or items' })
  .openapi('ScoreRequest', { oneOf: [{ required: ['userId'] }, { required: ['items'] }] } as never);

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
    // a union, not .nullable(): the generator drops `null` from a referenced schema
    lastRefresh: z.union([RefreshStatus, z.null()]),
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
    limit: z
      .string()
      .regex(/^\d{1,6}$/, 'limit must be a whole number written in decimal digits')
      .transform(Number)
      .pipe(z.number().int().min(1, 'limit must be at least 1').max(100, 'limit must be at most 100'))
      .optional()
      .openapi({ type: 'integer', minimum: 1, maximum: 100, description: 'at most this many items (default 20)' }),
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

export const ErasureJob = z
  .object({
    id: z.string(),
    status: z.enum(['pending', 'running', 'done']),
    phase: z
      .enum(['pending-batches', 'exports', 'finished'])
      .openapi({ description: 'pending event batches first, then the export parts' }),
    requestedAt: z.string().openapi({ description: 'when the user was forgotten (ISO 8601)' }),
    finishedAt: z.string().nullable(),
    objectsScanned: z.number(),
    rowsRemoved: z.number(),
    runs: z.number().openapi({ description: 'background runs so far (each within ERASURE_OPS_PER_RUN operations)' }),
  })
  .openapi('ErasureJob');
export type ErasureJob = z.infer<typeof ErasureJob>;
export const ErasurePath = z.object({
  jobId: z
    .string()
    .uuid()
    .openapi({ param: { name: 'jobId', in: 'path' } }),
});
