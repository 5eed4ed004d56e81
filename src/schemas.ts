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
import {
  DOT_SEGMENTS,
  ITEM_ID_MAX_BYTES,
  ITEM_ID_PATTERN,
  ITEM_ID_PATTERN_SOURCE,
  USER_ID_MAX_CHARS,
  USER_ID_PATTERN,
} from '@edge-recs/core/ids';
import { VERSION_PATTERN } from '@edge-recs/core/manifest';
import { z } from '@hono/zod-openapi';

/** Hard ceiling for k in the schema; the configured MAX_K (default 100) is checked in handlers. */
export const K_CEILING = 1000;
/** Hard ceilings for arrays in bodies; the configured limits are checked in handlers. */
export const ARRAY_CEILING = 1000;
/** Hard ceiling for a basket's `items` and `weights` (MAX_BASKET_ITEMS, default 1000, may be set up to it). */
export const BASKET_CEILING = 2000;

/** The configuration field a bound comes from (see the header). */
export type LimitName = 'maxK' | 'maxBasketItems' | 'maxCandidates' | 'maxEventsPerBatch' | 'maxCatalogBatch';
const limit = (name: LimitName) => ({ 'x-limit': name }) as Record<string, unknown>;

/** User and session ids (the rules of core/ids.ts, which the trainer checks its user ids against). */
const id = (what: string) =>
  z
    .string()
    .min(1)
    .max(USER_ID_MAX_CHARS)
    .regex(USER_ID_PATTERN, `${what} must be 1–${USER_ID_MAX_CHARS} printable ASCII characters without spaces`)
    .refine((s) => !DOT_SEGMENTS.includes(s), `${what} must not be "." or ".." (a URL path cannot name them)`)
    .openapi({
      description: `1–${USER_ID_MAX_CHARS} printable ASCII characters without spaces, and not exactly "." or ".." (a URL path cannot name them: /v1/users/../history is /v1/history)`,
      not: { enum: [...DOT_SEGMENTS] },
    });

export const UserId = id('userId').openapi({ example: '17850' });
/** An anonymous session's id, named by the client: assigns the session to experiment variants. */
export const SessionId = id('sessionId').openapi({
  example: 'c0ffee-42',
  description: "an anonymous visitor's session id (sticky experiment assignment); a signed-in shopper's userId takes precedence",
});
/**
 * An answer's id: `<counter shard>_<12 hex of ms time><20 random hex>` (storage/metrics.ts makes
 * them); the shard as issued, without leading zeros (05_… was read as shard 5 and left pending).
 */
export const REC_ID_PATTERN = /^(0|[1-9]\d{0,2})_[0-9a-f]{32}$/;
/** The id of an answer, to attribute clicks, add-to-carts and purchases to it. */
export const RecId = z
  .string()
  .regex(REC_ID_PATTERN, 'recId is the recId of a recommendation answer, as given')
  .openapi({ example: '3_019ab0000000a0b1c2d3e4f5a6b7c8d9' });
const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;

/**
 * Item ids (the rules of core/ids.ts, which the trainer applies too): 1–256 bytes of UTF-8, no
 * control characters, no leading or trailing space, and not exactly "." or "..": a URL path
 * cannot name those (/v1/items/.. is /v1/), so such an item could be created but never read or
 * deleted.
 */
export const ItemId = z
  .string()
  .min(1, 'item id must not be empty')
  .max(ITEM_ID_MAX_BYTES)
  .regex(ITEM_ID_PATTERN, 'item id must have no control characters, no lone surrogates and no leading or trailing space')
  .refine((s) => utf8Bytes(s) <= ITEM_ID_MAX_BYTES, `item id must be at most ${ITEM_ID_MAX_BYTES} bytes of UTF-8`)
  .refine((s) => !DOT_SEGMENTS.includes(s), 'item id must not be "." or ".." (a URL path cannot name them)')
  // the document states the pattern without JavaScript's flag suffix (the generator writes "/u")
  .openapi({
    example: '85123A',
    description:
      '1–256 bytes of UTF-8, no control characters, no leading or trailing space, and not exactly "." or ".." (a URL path cannot name them: /v1/items/.. is /v1/)',
    pattern: ITEM_ID_PATTERN_SOURCE,
    not: { enum: [...DOT_SEGMENTS] },
  });

const K_DOC = {
  description: 'number of items to return: a whole number from 1 to MAX_K (default 20); anything else is a 400 k_out_of_range',
  example: 20,
};
/**
 * The message of every k error, in a query or a body, malformed or out of range (app.ts reports
 * any issue with k as `k_out_of_range` with this message and the configured MAX_K).
 */
export const kMessage = (maxK: number) => `k must be between 1 and ${maxK}`;
const K_MESSAGE = kMessage(K_CEILING);

/** k in a query string: decimal digits only, 1..K_CEILING (MAX_K checked by the route). */
export const KQuery = z
  .string()
  .regex(/^\d{1,6}$/, K_MESSAGE)
  .transform(Number)
  .pipe(z.number().int(K_MESSAGE).min(1, K_MESSAGE).max(K_CEILING, K_MESSAGE))
  .openapi({ ...K_DOC, type: 'integer', minimum: 1, maximum: K_CEILING, ...limit('maxK') });

/** k in a JSON body: a JSON integer (not a string, not a boolean). */
export const KBody = z
  .number({ error: K_MESSAGE })
  .int(K_MESSAGE)
  .min(1, K_MESSAGE)
  .max(K_CEILING, K_MESSAGE)
  .openapi({ ...K_DOC, ...limit('maxK') });

/** A boolean query parameter: true/false or 1/0 (every flag of the API). */
export const BoolParam = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** A query string that takes no parameters (an unknown one is a 400, like an unknown field). */
export const NoQuery = z.object({}).strict();

export const UserPath = z.object({ userId: UserId.openapi({ param: { name: 'userId', in: 'path' } }) });
export const ItemPath = z.object({ itemId: ItemId.openapi({ param: { name: 'itemId', in: 'path' } }) });

/**
 * A price in a query string: a plain decimal number (1 to 12 digits, optionally a point and up
 * to 30 more digits; no sign, exponent or hex), so any price a catalogue stores — 1e-7 is
 * 0.0000001 — can be a bound.
 */
const PRICE_PATTERN = '^\\d{1,12}(\\.\\d{1,30})?$';
const PriceParam = z
  .string()
  .regex(
    new RegExp(PRICE_PATTERN),
    'a price is a non-negative decimal number written in plain digits, at most 12 before the point and 30 after, such as 12.5 or 0.0000001',
  )
  .transform(Number)
  .openapi({ type: 'string', pattern: PRICE_PATTERN, example: '12.5' });

/** A repeatable query parameter (?category=a&category=b): one value or several. */
const manyParam = (item: z.ZodType<string>, max: number, description: string) =>
  z
    .union([item, z.array(item).max(max)])
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .openapi({ type: 'array', items: { type: 'string' }, maxItems: max, description } as never);

export const PlacementName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'a placement name is 1–64 lowercase letters, digits, "-" or "_"')
  .openapi({ example: 'home' });

/** Catalogue filters and the placement, as query parameters of the GET recommendation endpoints. */
const shelfQuery = {
  category: manyParam(
    z.string().min(1).max(100),
    20,
    'only items in one of these categories (repeat the parameter for several)',
  ).optional(),
  minPrice: PriceParam.optional().openapi({ description: 'only items priced at least this (items without a price do not pass)' }),
  maxPrice: PriceParam.optional().openapi({ description: 'only items priced at most this' }),
  exclude: manyParam(ItemId, 100, 'leave these items out (repeat the parameter)').optional(),
  includeUnavailable: BoolParam.optional().openapi({ description: 'include items the catalogue marks unavailable (default false)' }),
  placement: PlacementName.optional().openapi({ description: 'apply this placement (admin-defined rules); unknown names are a 404' }),
};

/** Who an anonymous answer is for (experiment assignment only; nothing is personalised by it). */
const subjectQuery = {
  userId: UserId.optional().openapi({ description: 'the signed-in shopper, if any (experiment assignment)' }),
  sessionId: SessionId.optional(),
};

export const UserRecsQuery = z
  .object({
    k: KQuery.optional(),
    excludePurchased: BoolParam.optional().openapi({
      param: { name: 'excludePurchased', in: 'query' },
      description:
        "leave out the items of the user's history (default true): what they bought in the training data and every item of their events since — bought, carted or viewed (GET …/recent lists the viewed ones)",
      example: 'true',
    }),
    explain: BoolParam.optional().openapi({ description: 'add `because` to each item: the history items behind it (default false)' }),
    ...shelfQuery,
  })
  .strict();

export const SimilarQuery = z.object({ k: KQuery.optional(), ...shelfQuery, ...subjectQuery }).strict();

export const PopularQuery = z.object({ k: KQuery.optional(), ...shelfQuery, ...subjectQuery }).strict();

/** GET /v1/users/{userId}/recent: the user is in the path. */
export const RecentQuery = z.object({ k: KQuery.optional(), ...shelfQuery }).strict();

/** A price band of a filter (query or body): minPrice must not exceed maxPrice. */
export const priceBandOk = (f: { minPrice?: number; maxPrice?: number }) =>
  f.minPrice === undefined || f.maxPrice === undefined || f.minPrice <= f.maxPrice;
export const PRICE_BAND_MESSAGE = 'minPrice must not exceed maxPrice';

/** Catalogue filters in a POST body. */
export const Filter = z
  .object({
    category: z
      .union([
        z.string().min(1).max(100),
        z.array(z.string().min(1).max(100)).min(1, 'category must name at least one category (leave it out for any)').max(20),
      ])
      .optional()
      .openapi({ description: 'one category or several (any of); a list names at least one (leave the field out for any category)' }),
    minPrice: z.number().nonnegative().finite().optional(),
    maxPrice: z.number().nonnegative().finite().optional(),
    exclude: z.array(ItemId).max(ARRAY_CEILING).optional(),
    includeUnavailable: z.boolean().optional(),
  })
  .strict()
  .refine(priceBandOk, { message: PRICE_BAND_MESSAGE, path: ['minPrice'] })
  .openapi('Filter');
export type Filter = z.infer<typeof Filter>;

export const BasketBody = z
  .object({
    items: z
      .array(ItemId)
      .max(BASKET_CEILING)
      .openapi({
        description: 'item ids in the basket or session (1..MAX_BASKET_ITEMS; empty: 400 empty_basket, too many: 400 too_many_items)',
        example: ['85123A', '71053'],
        minItems: 1,
        ...limit('maxBasketItems'),
      }),
    weights: z
      .array(z.number().positive().max(1e6))
      .max(BASKET_CEILING)
      .optional()
      .openapi({ description: 'interaction strength per item (default 1 each); one entry per item', ...limit('maxBasketItems') }),
    k: KBody.optional(),
    excludeGiven: z.boolean().optional().openapi({ description: 'leave out the given items (default true)' }),
    explain: z.boolean().optional().openapi({ description: 'add `because` to each item: the basket items behind it (default false)' }),
    filter: Filter.optional(),
    placement: PlacementName.optional(),
    userId: UserId.optional().openapi({ description: 'the signed-in shopper, if any (experiment assignment only)' }),
    sessionId: SessionId.optional(),
  })
  .strict()
  .refine((b) => !b.weights || b.weights.length === b.items.length, { message: 'weights must have one entry per item', path: ['weights'] })
  .openapi('BasketRequest');

export const ScoreBody = z
  .object({
    userId: UserId.optional().openapi({ description: 'score for this user (give exactly one of userId and items)' }),
    items: z
      .array(ItemId)
      .max(BASKET_CEILING)
      .optional()
      .openapi({ description: 'or score for this basket (1..MAX_BASKET_ITEMS)', minItems: 1, ...limit('maxBasketItems') }),
    candidates: z
      .array(ItemId)
      .min(1, 'candidates must not be empty')
      .max(10 * ARRAY_CEILING)
      .openapi({ description: 'item ids to score, returned in this order (1..MAX_CANDIDATES)', ...limit('maxCandidates') }),
    filter: Filter.optional().openapi({ description: 'candidates that fail it are marked filteredOut, not dropped' }),
    placement: PlacementName.optional(),
    sessionId: SessionId.optional().openapi({ description: 'with items: the anonymous session (experiment assignment)' }),
  })
  .strict()
  .refine((b) => (b.userId === undefined) !== (b.items === undefined), { message: 'give exactly one of userId or items' })
  .openapi('ScoreRequest', { oneOf: [{ required: ['userId'] }, { required: ['items'] }] } as never);

export const FilteredOut = z.enum(['deleted', 'unavailable', 'category', 'price', 'excluded']);

export const RecommendedItem = z
  .object({
    id: z.string(),
    score: z.number().openapi({ description: '6 decimals; at least 4 significant digits below 0.001' }),
    title: z.string(),
    position: z.number().int().openapi({ description: 'place in the list, from 1' }),
    category: z.string().optional().openapi({ description: 'the first of `categories`' }),
    categories: z
      .array(z.string())
      .optional()
      .openapi({ description: "the catalogue's `category` then its further `categories`; with neither, the model's category" }),
    price: z.number().optional(),
    currency: z.string().optional(),
    imageUrl: z.string().optional(),
    available: z.boolean().optional().openapi({ description: 'from the catalogue (absent when the catalogue has no record)' }),
    new: z.literal(true).optional().openapi({ description: 'a catalogue item the model does not know yet (cold start)' }),
    pinned: z.literal(true).optional().openapi({ description: "placed here by the placement's pin" }),
    boosted: z.literal(true).optional().openapi({ description: "its score was raised or lowered by a placement's boost" }),
    exploration: z.literal(true).optional().openapi({ description: "a new item in one of the placement's exploration slots" }),
    filteredOut: FilteredOut.optional().openapi({ description: 'POST /v1/score only: why the filter would leave this candidate out' }),
    because: z
      .array(z.object({ id: z.string(), title: z.string() }))
      .min(1)
      .max(3)
      .optional()
      .openapi({
        description:
          'explain=true: the one to three history or basket items contributing most to its score (absent when nothing in them raises it)',
      }),
  })
  .openapi('RecommendedItem');
export type RecommendedItem = z.infer<typeof RecommendedItem>;

export const Source = z.enum(['personalized', 'session', 'popular', 'new', 'similar', 'trending', 'recent', 'bought-together']);
export type Source = z.infer<typeof Source>;

/** What an answer says about the placement that shaped it. */
const PlacementApplied = z
  .object({
    name: z.string(),
    filter: z.object({
      categories: z.array(z.string()).optional(),
      minPrice: z.number().optional(),
      maxPrice: z.number().optional(),
      exclude: z.array(z.string()).optional(),
      includeUnavailable: z.boolean().optional(),
    }),
    boosts: z.number().int().openapi({ description: 'boosts in force' }),
    pins: z.number().int().openapi({ description: 'items placed by pins' }),
    maxPerCategory: z.number().int().optional(),
    exploration: z.number().int().openapi({ description: 'new items in exploration slots' }),
  })
  .optional()
  .openapi({ description: 'the placement that shaped the list and the rules that applied' });

export const Recommendation = z
  .object({
    model: z.string().openapi({ description: 'model version that produced the scores' }),
    source: Source,
    recId: RecId.openapi({
      description: 'this answer: send it with click, add_to_cart and purchase events on its items (attribution)',
    }),
    experiment: z.string().optional().openapi({ description: 'the experiment the request took part in' }),
    variant: z.string().optional().openapi({ description: "the experiment's variant that answered" }),
    items: z.array(RecommendedItem),
    ignoredItems: z.array(z.string()).optional().openapi({ description: 'request item ids the model does not know (ignored)' }),
    placement: PlacementApplied,
  })
  .openapi('Recommendation');
export type Recommendation = z.infer<typeof Recommendation>;
/** An answer as services build it; the request context stamps recId, experiment and variant (context.ts). */
export type Answer = Omit<Recommendation, 'recId' | 'experiment' | 'variant'>;

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
  repaired: z.array(z.string()).optional().openapi({
    description:
      'files re-staged after they failed their check: of the active version by name, of a version an experiment pins as "<version>/<file>"',
  }),
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
      .object({
        protocol: z.record(z.string(), z.union([z.number(), z.string()])),
        model: Metrics.openapi({ description: 'what is served: the blend of factors and item model when there is one' }),
        popularity: Metrics,
        factors: Metrics.optional().openapi({ description: 'the factors alone (when an item model is blended in)' }),
        itemModel: Metrics.optional().openapi({ description: 'the item model alone' }),
      })
      .nullable(),
    itemModel: z
      .union([
        z.object({
          algorithm: z.string(),
          neighbours: z.number().openapi({ description: 'most neighbours stored per item' }),
          weightType: z.enum(['int8', 'float16']),
          blend: z.object({
            factorWeight: z.number().openapi({ description: 'a in s = a·z(u·y) + (1 − a)·neighbour score' }),
            neighbourInput: z.enum(['binary', 'log1p']),
          }),
          boughtTogether: z.boolean().openapi({ description: 'bought-together lists were learned from baskets' }),
          params: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
        }),
        z.null(),
      ])
      .openapi({ description: 'the item-item model blended with the factors (null: factors only)' }),
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
      description:
        'words that must all appear in the title as served, the id or a category of the item (case-insensitive); empty = most popular',
      example: 'heart holder',
    }),
    limit: z
      .string()
      .regex(/^\d{1,6}$/, 'limit must be a whole number written in decimal digits')
      .transform(Number)
      .pipe(z.number().int().min(1, 'limit must be at least 1').max(100, 'limit must be at most 100'))
      .optional()
      .openapi({ type: 'integer', minimum: 1, maximum: 100, description: 'at most this many items (default 20)' }),
    ...shelfQuery,
  })
  .strict();

export const CatalogItem = z
  .object({
    id: z.string(),
    title: z.string(),
    popularity: z.number().openapi({
      description:
        "share of the model's training users who bought it; 0 for a new item (one the model does not know: GET /v1/items/{itemId} shows null for it) and for every item of a model trained on no users",
    }),
    available: z.boolean().optional(),
    price: z.number().optional(),
    category: z.string().optional(),
    boosted: z.literal(true).optional().openapi({ description: "a boost of the request's placement raised it" }),
    pinned: z.literal(true).optional().openapi({ description: "the request's placement pins it here (pins apply to matching items only)" }),
  })
  .openapi('CatalogItem');
export type CatalogItem = z.infer<typeof CatalogItem>;
export const SearchResult = z
  .object({ model: z.string(), items: z.array(CatalogItem), placement: PlacementApplied })
  .openapi('SearchResult');

const AttributeValue = z.union([z.string().max(200), z.number().finite(), z.boolean()]);
const nullable = <T extends z.ZodType>(t: T) => t.nullable().optional();
/** Text a shopper reads (a title, a category): not blank, no control characters, at most `max` characters. */
const Text = (max: number, what: string) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/\S/, `${what} must not be blank`)
    .regex(/^[^\p{Cc}\p{Cs}]*$/u, `${what} must not contain control characters or unpaired surrogates`);
/** A category: also no leading or trailing space, as filters and boosts name it exactly. */
const Category = Text(100, 'category').regex(/^\S(.*\S)?$/su, 'category must not start or end with a space');

/** One item of PUT /v1/items: fields given replace, fields left out are kept, null clears a field. */
export const CatalogItemInput = z
  .object({
    id: ItemId,
    title: nullable(Text(500, 'title')),
    category: nullable(Category).openapi({
      description:
        "the main category: the first of the item's categories, which answers show as `category`. null clears it; the item's `category` is then the first of its further `categories`, and with none of those the model's category (for an item the model knows)",
    }),
    categories: nullable(z.array(Category).max(20)).openapi({
      description: 'further categories, after `category` (null or [] clears them)',
    }),
    price: nullable(z.number().nonnegative('price must not be negative').finite('price must be a finite number').max(1e9)),
    currency: nullable(z.string().regex(/^[A-Z]{3}$/, 'currency is an ISO 4217 code such as EUR')),
    available: nullable(z.boolean()).openapi({ description: 'false: out of stock, left out of every answer unless includeUnavailable' }),
    imageUrl: nullable(z.url({ protocol: /^https?$/ }).max(2048)),
    attributes: nullable(
      z.preprocess(
        (v, ctx) => {
          // a record drops "__proto__" silently (it would set an object's prototype): say so instead
          if (v !== null && typeof v === 'object' && Object.hasOwn(v, '__proto__'))
            ctx.issues.push({ code: 'custom', message: 'an attribute may not be named __proto__', input: v });
          return v;
        },
        z.record(z.string().min(1).max(64), AttributeValue).refine((a) => Object.keys(a).length <= 50, 'at most 50 attributes'),
      ),
    ).openapi({ description: 'free attributes; those declared in CATALOG_FACET_ATTRIBUTES can be filtered and boosted on' }),
  })
  .strict()
  .openapi('CatalogItemInput');

export const CatalogBatch = z
  .object({
    items: z
      .array(CatalogItemInput)
      .min(1, 'items must not be empty')
      .max(5 * ARRAY_CEILING)
      .openapi({ description: 'at most CATALOG_MAX_BATCH items; applied all-or-nothing', ...limit('maxCatalogBatch') }),
  })
  .strict()
  .openapi('CatalogBatch');

export const CatalogWrite = z
  .object({
    seq: z.number().int().openapi({ description: 'the catalogue change number this write ends at' }),
    created: z.number().int(),
    updated: z.number().int(),
  })
  .openapi('CatalogWrite');

/** An item as GET /v1/items/{itemId} shows it: the catalogue's fields over the model's. */
export const ItemView = z
  .object({
    id: z.string(),
    title: z.string(),
    category: z.string().optional().openapi({ description: 'the first of `categories`' }),
    categories: z.array(z.string()).optional().openapi({
      description:
        "the catalogue's `category` then its further `categories`; with neither, the model's category (absent when nobody names one)",
    }),
    price: z.number().optional(),
    currency: z.string().optional(),
    available: z.boolean(),
    imageUrl: z.string().optional(),
    attributes: z.record(z.string(), AttributeValue).optional(),
    createdAt: z.string().optional().openapi({ description: 'when the catalogue first saw the item' }),
    updatedAt: z.string().optional(),
    inModel: z.boolean().openapi({ description: 'the active model knows the item (else it is new: cold-start answers only)' }),
    popularity: z.number().nullable().openapi({
      description:
        "share of the model's training users who bought it; null when the model does not know the item (a new item: inModel false) or was trained on no users",
    }),
    model: z.string(),
  })
  .openapi('ItemView');
export type ItemView = z.infer<typeof ItemView>;

const Instant = z.iso.datetime({ offset: true });
const BoostMatch = z.union([
  z.object({ ids: z.array(ItemId).min(1).max(1000) }).strict(),
  z.object({ category: z.string().min(1).max(100) }).strict(),
  z.object({ attribute: z.object({ name: z.string().min(1).max(64), value: AttributeValue }).strict() }).strict(),
]);
export const Boost = z
  .object({
    match: BoostMatch.openapi({ description: 'items with one of these ids, in this category, or with this (declared) attribute value' }),
    multiply: z
      .number()
      .positive()
      .max(100)
      .optional()
      .openapi({ description: 'score × multiply (for the positive scores lists are made of)' }),
    add: z.number().min(-1000).max(1000).optional().openapi({ description: 'score + add' }),
    startsAt: Instant.optional(),
    endsAt: Instant.optional().openapi({ description: 'the boost stops applying at this time (campaigns expire by themselves)' }),
  })
  .strict()
  .refine((b) => b.multiply !== undefined || b.add !== undefined, 'a boost needs multiply or add')
  .refine((b) => !b.startsAt || !b.endsAt || Date.parse(b.startsAt) < Date.parse(b.endsAt), 'startsAt must be before endsAt');
export const Pin = z
  .object({ itemId: ItemId, position: z.number().int().min(1).max(100).openapi({ description: '1-based' }), endsAt: Instant.optional() })
  .strict();
const placementFields = {
  description: z.string().max(500).optional(),
  filter: Filter.optional().openapi({ description: 'the default filter; request filters override it field by field' }),
  boosts: z.array(Boost).max(7).optional(),
  pins: z
    .array(Pin)
    .max(20)
    .refine((pins) => new Set(pins.map((p) => p.itemId)).size === pins.length, 'an item is pinned at most once')
    .optional()
    .openapi({
      description:
        "an item at a position, while it is available, passes the request's filter and is not one the list leaves out (the item a related list is about, the basket with excludeGiven, the history with excludePurchased); pins at the same position follow each other in the order given",
    }),
  diversity: z
    .object({ maxPerCategory: z.number().int().min(1).max(100) })
    .strict()
    .optional(),
  fallback: z.enum(['popular', 'new']).optional().openapi({ description: 'what users the model does not know get (default popular)' }),
  explorationSlots: z
    .number()
    .int()
    .min(0)
    .max(20)
    .optional()
    .openapi({ description: 'up to this many new items in personalised and session lists (never more than half of k)' }),
};
export const PlacementInput = z.object(placementFields).strict().openapi('PlacementInput');
/** A placement as stored and listed: what the admin PUT, with its name and when (ms). */
export type StoredPlacement = z.infer<typeof PlacementInput> & { name: string; updatedAt: number };
export const PlacementView = z
  .object({ ...placementFields, name: z.string(), updatedAt: z.string() })
  .strict()
  .openapi('Placement');
export const PlacementWritten = z
  .object({
    ...placementFields,
    name: z.string(),
    updatedAt: z.string(),
    unknownItems: z.array(z.string()).optional().openapi({
      description:
        'pinned or boosted ids that neither the serving model nor the catalogue knows: stored all the same, they take effect once the item exists (check for a typo)',
    }),
  })
  .strict()
  .openapi('PlacementWritten');
export const PlacementPath = z.object({ name: PlacementName.openapi({ param: { name: 'name', in: 'path' } }) });

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
export const EventType = z.enum(['view', 'click', 'add_to_cart', 'purchase']);
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
    eventId: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,100}$/, 'eventId is 1–100 letters, digits, ".", "_", ":" or "-"')
      .optional()
      .openapi({
        description:
          "the client's id for this event: a retry with the same eventId for the same user is recognised and counted once (history, exports, trending and attribution)",
      }),
    recId: RecId.optional().openapi({
      description: 'click, add_to_cart and purchase: the answer that showed the item (attribution; not on views)',
    }),
    position: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .openapi({ description: "the item's position in that answer, as shown (informational)" }),
    quantity: z
      .number()
      .positive()
      .max(1e6)
      .optional()
      .openapi({ description: 'purchase: units bought (default 1; fractions allowed, for goods sold by weight or length)' }),
    price: z.number().nonnegative().max(1e9).optional().openapi({
      description: "purchase: unit price paid (default: the catalogue's price, else the model's, else 0); revenue = price × quantity",
    }),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'currency is an ISO 4217 code such as EUR')
      .optional()
      .openapi({
        description:
          "purchase, with price: its currency. When REVENUE_CURRENCY is set, a purchase in another currency (this, or the catalogue item's when no price is sent) adds no revenue (attribution.otherCurrency)",
      }),
  })
  .strict()
  .openapi('Event');
export const EventsBody = z
  .union([
    Event,
    z
      .object({
        events: z
          .array(Event)
          .min(1, 'events must not be empty')
          .max(ARRAY_CEILING)
          .openapi({ description: 'at most MAX_EVENTS_PER_BATCH (too many: 400 too_many_items)', ...limit('maxEventsPerBatch') }),
      })
      .strict(),
  ])
  .openapi('EventsRequest');
export const EventsResult = z
  .object({
    model: z.string(),
    accepted: z.number(),
    duplicates: z.number().openapi({ description: 'accepted events whose eventId this user had already sent (counted once, before)' }),
    rejected: z.array(z.object({ index: z.number(), itemId: z.string(), reason: z.string() })),
    attribution: z
      .object({
        attributed: z.number().openapi({ description: 'counted for the answer their recId names' }),
        duplicate: z.number().openapi({ description: 'that (recId, item, type) was counted before' }),
        notShown: z
          .number()
          .openapi({ description: 'the item was not in that answer, or the answer was served to another signed-in user' }),
        outsideWindow: z.number().openapi({
          description:
            'later than ATTRIBUTION_WINDOW_SECONDS after the answer, or a recId no answer is recorded under that is older than that by its own time',
        }),
        pending: z
          .number()
          .openapi({ description: 'the answer is not recorded yet (it is written just after the response); counted when it is' }),
        otherCurrency: z.number().openapi({
          description:
            'of the attributed (or pending) purchases, those priced in another currency than REVENUE_CURRENCY: counted as purchases, with no revenue',
        }),
      })
      .openapi({ description: 'events with a recId' }),
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

/* ---- experiments and reports (admin) ---- */

const VariantName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'a variant name is 1–32 lowercase letters, digits, "-" or "_"')
  .openapi({ example: 'treatment' });

export const ExperimentPath = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'an experiment name is 1–64 lowercase letters, digits, "-" or "_"')
    .openapi({ param: { name: 'name', in: 'path' }, example: 'new-model' }),
});

const experimentFields = {
  description: z.string().max(500).optional(),
  placement: PlacementName.optional().openapi({
    description: 'requests for this placement take part; absent = every answer whose placement has no experiment of its own',
  }),
  variants: z
    .array(
      z
        .object({
          name: VariantName,
          weight: z.number().positive().max(1e6).openapi({ description: 'share of subjects: weight / Σ weights' }),
          modelVersion: z.string().regex(VERSION_PATTERN, 'a model version is 1–100 letters, digits, ".", "_" or "-"').optional().openapi({
            description: '"bundled", the active version or a kept previous one (GET /admin/overview); absent = whatever is active',
          }),
          placement: PlacementName.optional().openapi({ description: 'the placement whose rules this variant applies' }),
        })
        .strict(),
    )
    .min(2, 'an experiment has at least two variants')
    .max(8)
    .openapi({ description: 'the first variant is the control the others are tested against' }),
};

/** Below this share of the traffic a variant would take months to measure (or never get a subject). */
export const MIN_VARIANT_SHARE = 0.001;

export const ExperimentInput = z
  .object({
    ...experimentFields,
    variants: experimentFields.variants.superRefine((variants, ctx) => {
      const total = variants.reduce((sum, v) => sum + v.weight, 0);
      variants.forEach((v, j) => {
        if (v.weight / total < MIN_VARIANT_SHARE)
          ctx.addIssue({
            code: 'custom',
            path: [j, 'weight'],
            message: `variant ${v.name} would get ${((100 * v.weight) / total).toPrecision(2)}% of the traffic; each needs at least ${100 * MIN_VARIANT_SHARE}% (weight / Σ weights)`,
          });
      });
    }),
  })
  .strict()
  .openapi('ExperimentInput');
export const ExperimentView = z
  .object({
    ...experimentFields,
    name: z.string(),
    status: z.enum(['running', 'stopped']),
    createdAt: z.string(),
    stoppedAt: z.string().optional(),
  })
  .openapi('Experiment');

const TimeParam = z.string().max(40).openapi({
  description:
    'ISO 8601 (a date and time that exist: 2026-02-30 is a 400), or epoch seconds or milliseconds; from 2000-01-01T00:00:00Z to 9999-12-31T23:00:00Z',
});
/** `from` and `to` of a report; together at most METRICS_RETENTION_DAYS apart (the routes check it). */
const ReportRange = {
  from: TimeParam.optional().openapi({
    description:
      'start (rounded down to the hour; default: 24 hours before `to`); at most METRICS_RETENTION_DAYS (default 90) days before `to`, else a 400 naming the limit',
  }),
  to: TimeParam.optional().openapi({ description: 'end (rounded up to the hour; default: now)' }),
};

export const MetricsQuery = z
  .object({
    ...ReportRange,
    placement: z
      .union([PlacementName, z.literal('-')])
      .optional()
      .openapi({ description: 'only answers for this placement ("-": answers that named none)' }),
    experiment: ExperimentPath.shape.name.optional().openapi({ param: { name: 'experiment', in: 'query' } }),
    groupBy: z.enum(['variant', 'placement', 'version', 'hour']).optional().openapi({ description: 'default variant' }),
  })
  .strict();

export const TrafficQuery = z.object(ReportRange).strict();

const Interval = z.object({ estimate: z.number(), low: z.number(), high: z.number() }).openapi('Interval');
const TestResult = z
  .object({
    difference: z.number().openapi({ description: 'variant − control' }),
    z: z.number(),
    pValue: z.number().openapi({ description: 'two-sided' }),
    significant: z.boolean().openapi({ description: 'pValue < 0.05' }),
  })
  .openapi('TestResult');
const maybe = <T extends z.ZodTypeAny>(t: T) => z.union([t, z.null()]);

export const MetricsReport = z
  .object({
    from: z.string(),
    to: z.string(),
    placement: z.string().nullable().openapi({ description: 'the placement filter as asked ("-": answers with no placement); null: all' }),
    currency: z
      .string()
      .nullable()
      .optional()
      .openapi({ description: 'REVENUE_CURRENCY, the currency of `revenue` (null: prices summed as given, one-currency shops)' }),
    experiment: z.string().nullable(),
    groupBy: z.enum(['variant', 'placement', 'version', 'hour']),
    groups: z.array(
      z.object({
        experiment: z.string().nullable().optional(),
        variant: z.string().nullable().optional().openapi({ description: 'null: answers outside any experiment' }),
        placement: z.string().nullable().optional(),
        version: z.string().optional(),
        hour: z.string().optional(),
        answers: z.number(),
        itemsShown: z.number(),
        clicks: z.number(),
        addToCarts: z.number(),
        purchases: z.number(),
        revenue: z.number(),
        rates: z.object({
          ctr: maybe(Interval).openapi({ description: 'clicks / items shown (Wilson 95% interval)' }),
          clicksPerAnswer: maybe(Interval).openapi({ description: 'clicks per answer (normal 95% interval)' }),
          conversion: maybe(Interval).openapi({ description: 'answers with an attributed purchase / answers (Wilson)' }),
          addToCartRate: maybe(Interval).openapi({ description: 'add-to-carts / items shown (Wilson)' }),
          revenuePer1000Answers: maybe(Interval).openapi({ description: 'revenue per 1,000 answers (normal 95% interval)' }),
        }),
        versusControl: maybe(
          z.object({
            control: z.string(),
            ctr: maybe(TestResult).openapi({ description: 'pooled two-proportion z-test' }),
            conversion: maybe(TestResult).openapi({ description: 'pooled two-proportion z-test' }),
            revenuePerAnswer: maybe(TestResult).openapi({ description: "Welch's z-test" }),
          }),
        ),
      }),
    ),
  })
  .openapi('MetricsReport');

const TrafficLine = {
  requests: z.number(),
  status2xx: z.number(),
  status3xx: z.number(),
  status4xx: z.number(),
  status5xx: z.number(),
  latencyMs: z
    .object({ p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable() })
    .openapi({ description: 'upper bounds of the histogram buckets (quarter-octave) holding each percentile' }),
};
export const TrafficReport = z
  .object({
    from: z.string(),
    to: z.string(),
    hours: z.array(z.object({ hour: z.string(), ...TrafficLine })),
    routes: z.array(z.object({ route: z.string(), ...TrafficLine })),
  })
  .openapi('TrafficReport');

export const Overview = z
  .object({
    versions: z.array(
      z.object({
        version: z.string(),
        role: z.enum(['active', 'previous', 'bundled']),
        problem: z.string().nullable().openapi({
          description:
            "why the version's manifest cannot be read from the bucket (deleted, or not a manifest): the fields below are then null; null when it reads",
        }),
        trainedAt: z.string().nullable(),
        itemCount: z.number().nullable(),
        userCount: z.number().nullable(),
        dims: z.number().nullable(),
        itemModel: z.boolean().nullable(),
        metrics: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'offline evaluation from the manifest' }),
      }),
    ),
    refreshLog: z.array(RefreshReport).openapi({ description: 'the latest refresh runs, newest first' }),
    experiments: z.array(ExperimentView),
  })
  .openapi('Overview');
