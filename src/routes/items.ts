/**
 * Item endpoints: the live catalogue (upsert a batch, read an item as served, remove an item from
 * every answer), related items, popular items for a shelf, and title search.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../context';
import { AppError } from '../errors';
import {
  CatalogBatch,
  CatalogWrite,
  ItemPath,
  ItemView,
  NoQuery,
  PopularQuery,
  Recommendation,
  SearchQuery,
  SearchResult,
  SimilarQuery,
} from '../schemas';
import { itemView, removeItem, upsertItems } from '../services/catalog';
import { boughtTogether, trending } from '../services/discovery';
import { popular, searchCatalog, similar } from '../services/recommend';
import { checkSeed } from '../services/shelf';
import { requireBearer } from './auth';
import { filterFromQuery } from './filters';
import { checkK } from './limits';
import { errors, json } from './responses';

export const items = new OpenAPIHono<AppEnv>();

// catalogue writes need the API key; a batch may be larger than other bodies
items.on(['PUT'], '/items', requireBearer('apiKey'));
items.on(['DELETE'], '/items/:itemId', requireBearer('apiKey'));
items.on(['PUT'], '/items', async (c, next) =>
  bodyLimit({
    maxSize: c.var.ctx.config.catalog.maxBodyBytes,
    onError: () => {
      throw new AppError(
        'payload_too_large',
        `request body exceeds ${c.var.ctx.config.catalog.maxBodyBytes} bytes (CATALOG_MAX_BODY_BYTES)`,
      );
    },
  })(c, next),
);

const catalogDeps = async (c: { var: { ctx: AppEnv['Variables']['ctx'] } }) => {
  const { ctx } = c.var;
  return {
    store: ctx.catalogStore,
    live: await ctx.catalog(),
    maxBatch: ctx.config.catalog.maxBatch,
    facetAttributes: ctx.config.catalog.facetAttributes,
  };
};

items.openapi(
  createRoute({
    method: 'put',
    path: '/items',
    summary: 'Upsert catalogue items (all-or-nothing)',
    description:
      "Up to CATALOG_MAX_BATCH items (bodies up to CATALOG_MAX_BODY_BYTES). Fields given replace, fields left out are kept, null clears a field (the catalogue's value; for an item the model knows, the model's value shows again where it has one: title, category, price, availability, image). An item the active model does not know needs a title: one the catalogue does not know either, or one that was deleted (re-creating it starts from nothing), must be given one, and an item only the catalogue knows keeps its title (null is refused). A batch with any invalid item is refused as a whole (the error names the item index) and changes nothing. Visible at once in this location and within CATALOG_MAX_STALE_SECONDS everywhere.",
    security: [{ bearer: [] }],
    request: { query: NoQuery, body: { required: true, ...json(CatalogBatch) } },
    responses: {
      200: { description: 'applied', ...json(CatalogWrite) },
      ...errors({ body: 'body larger than CATALOG_MAX_BODY_BYTES (2 MiB by default)' }),
    },
  }),
  async (c) => {
    const { items: batch } = c.req.valid('json');
    // a catalogue may be uploaded before the first model: then every new item needs its title
    return c.json(await upsertItems(await catalogDeps(c), await c.var.ctx.activeModelIfAny(), batch, Date.now()), 200);
  },
);

items.openapi(
  createRoute({
    method: 'get',
    path: '/items/{itemId}',
    summary: "An item as it is served: the catalogue's fields over the model's title and popularity",
    request: { params: ItemPath, query: NoQuery },
    responses: {
      200: { description: 'the item', ...json(ItemView) },
      ...errors({ model: true, notFound: 'neither the model nor the catalogue knows the item, or it was deleted' }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    return c.json(await itemView(await ctx.catalog(), await ctx.activeModel(), c.req.valid('param').itemId), 200);
  },
);

items.openapi(
  createRoute({
    method: 'delete',
    path: '/items/{itemId}',
    summary: 'Remove an item from every answer (also one only the model knows)',
    security: [{ bearer: [] }],
    request: { params: ItemPath, query: NoQuery },
    responses: {
      200: { description: 'removed', ...json(z.object({ id: z.string(), deleted: z.literal(true), seq: z.number().int() })) },
      ...errors({ model: true, notFound: 'neither the model nor the catalogue knows the item, or it was already deleted' }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const { itemId } = c.req.valid('param');
    const { seq } = await removeItem(await catalogDeps(c), await ctx.activeModel(), itemId, Date.now());
    return c.json({ id: itemId, deleted: true as const, seq }, 200);
  },
);

items.openapi(
  createRoute({
    method: 'get',
    path: '/items/{itemId}/similar',
    summary: 'Related products: cosine similarity of item factors, and content similarity (category, title) for new items',
    request: { params: ItemPath, query: SimilarQuery },
    responses: {
      200: { description: 'similar items', ...json(Recommendation) },
      ...errors({ model: true, notFound: 'neither the model nor the catalogue knows the item, it was deleted, or unknown placement' }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const { itemId } = c.req.valid('param');
    const q = c.req.valid('query');
    const k = checkK(q.k, ctx.config);
    const placement = await ctx.enter(q, q.placement);
    const shelf = await ctx.shelf(await ctx.activeModel(), filterFromQuery(q), placement);
    checkSeed(shelf, itemId);
    return c.json(ctx.answer(await similar(shelf, itemId, k)), 200);
  },
);

items.openapi(
  createRoute({
    method: 'get',
    path: '/popular',
    summary: 'The most popular items for a shelf (a category, a price band, a placement), with new items mixed in',
    request: { query: PopularQuery },
    responses: {
      200: { description: 'popular items', ...json(Recommendation) },
      ...errors({ model: true, notFound: 'unknown placement' }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const q = c.req.valid('query');
    const k = checkK(q.k, ctx.config);
    const placement = await ctx.enter(q, q.placement);
    const shelf = await ctx.shelf(await ctx.activeModel(), filterFromQuery(q), placement);
    return c.json(ctx.answer(await popular(shelf, k)), 200);
  },
);

items.openapi(
  createRoute({
    method: 'get',
    path: '/items',
    summary: 'Search the catalogue by title',
    description:
      "Every query word must appear in the title as served (the catalogue's over the model's), the id or one of the item's categories. Covers the model's 10,000 most popular items (catalog/popular.json; all of them for catalogues up to that size) and the catalogue's new items; filters apply. With `placement`, its boosts reorder the matches, its diversity cap applies and its pins place matching items; the answer's `placement` says so.",
    request: { query: SearchQuery },
    responses: {
      200: { description: 'matching items, most popular first', ...json(SearchResult) },
      ...errors({ model: true, notFound: 'unknown placement' }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const q = c.req.valid('query');
    const shelf = await ctx.shelf(await ctx.activeModel(), filterFromQuery(q), q.placement);
    return c.json({ model: shelf.model.version, ...(await searchCatalog(shelf, q.q ?? '', q.limit ?? 20)) }, 200);
  },
);

items.openapi(
  createRoute({
    method: 'get',
    path: '/items/{itemId}/bought-together',
    summary: 'Items bought in the same basket as this one (the item model learned on baskets)',
    description:
      "From the neighbour lists the trainer learns on baskets (Online Retail invoices, session_id in the generic CSV): an item-item model, not raw co-occurrence counts, which favour bestsellers. Without basket data in training, the item model's own neighbours. Filters and placements apply.",
    request: { params: ItemPath, query: SimilarQuery },
    responses: {
      200: { description: 'bought together', ...json(Recommendation) },
      ...errors({ model: true, notFound: 'neither the model nor the catalogue knows the item, it was deleted, or unknown placement' }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const { itemId } = c.req.valid('param');
    const q = c.req.valid('query');
    const k = checkK(q.k, ctx.config);
    const placement = await ctx.enter(q, q.placement);
    const shelf = await ctx.shelf(await ctx.activeModel(), filterFromQuery(q), placement);
    checkSeed(shelf, itemId);
    return c.json(ctx.answer(await boughtTogether(shelf, itemId, k)), 200);
  },
);

items.openapi(
  createRoute({
    method: 'get',
    path: '/trending',
    summary: 'Trending now: time-decayed popularity from live events (half-life TRENDING_HALF_LIFE_SECONDS)',
    description:
      "Each shopper's events on an item count once per half-life, so a few shoppers' repeated views do not make a trend. While fewer than k items have recent events, the rest of the list is the model's popularity. A placement's boosts rank the whole list, the popularity fill included (a fill item scores 0 before boosts).",
    request: { query: PopularQuery },
    responses: {
      200: { description: 'trending items', ...json(Recommendation) },
      ...errors({ model: true, notFound: 'unknown placement' }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const q = c.req.valid('query');
    const k = checkK(q.k, ctx.config);
    const placement = await ctx.enter(q, q.placement);
    const shelf = await ctx.shelf(await ctx.activeModel(), filterFromQuery(q), placement);
    return c.json(ctx.answer(await trending(shelf, ctx.trending, k)), 200);
  },
);
