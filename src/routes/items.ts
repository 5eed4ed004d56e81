/** Item-to-item endpoints and catalogue search. */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../context';
import { AppError } from '../errors';
import { ItemPath, Recommendation, SearchQuery, SearchResult, SimilarQuery } from '../schemas';
import { searchCatalog, similar } from '../services/recommend';
import { checkK } from './limits';
import { errors, json } from './responses';

export const items = new OpenAPIHono<AppEnv>();

items.openapi(
  createRoute({
    method: 'get',
    path: '/items/{itemId}/similar',
    summary: 'Related products by cosine similarity of item factors',
    request: { params: ItemPath, query: SimilarQuery },
    responses: {
      200: { description: 'similar items', ...json(Recommendation) },
      ...errors({ model: true, notFound: 'the item is not in the model' }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const { itemId } = c.req.valid('param');
    const k = checkK(c.req.valid('query').k, ctx.config);
    const model = await ctx.activeModel();
    const index = model.ids.indexOf(itemId);
    if (index === undefined) throw new AppError('item_not_found', `item ${itemId} is not in model ${model.version}`);
    return c.json(await similar(model, index, k), 200);
  },
);

items.openapi(
  createRoute({
    method: 'get',
    path: '/items',
    summary: "Search the active model's catalogue by title",
    description:
      "Every query word must appear in the title or id. Covers the model's 10,000 most popular items (catalog/popular.json; all of them for catalogues up to that size).",
    request: { query: SearchQuery },
    responses: { 200: { description: 'matching items, most popular first', ...json(SearchResult) }, ...errors({ model: true }) },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const model = await c.var.ctx.activeModel();
    return c.json({ model: model.version, items: searchCatalog(model, q.q ?? '', q.limit ?? 20) }, 200);
  },
);
