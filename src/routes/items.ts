/** Item-to-item endpoints. */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { ApiError } from '../errors';
import { activeModel, config, type AppEnv } from '../context';
import { ErrorResponse, errorResponses, ItemPath, Recommendation, SearchQuery, SearchResult, SimilarQuery } from '../schemas';
import { searchCatalog, similar } from '../serving/recommend';
import { checkK } from './recommendations';

export const items = new OpenAPIHono<AppEnv>();

items.openapi(
  createRoute({
    method: 'get',
    path: '/items/{itemId}/similar',
    summary: 'Related products by cosine similarity of item factors',
    request: { params: ItemPath, query: SimilarQuery },
    responses: {
      200: { description: 'similar items', content: { 'application/json': { schema: Recommendation } } },
      404: { description: 'unknown item', content: { 'application/json': { schema: ErrorResponse } } },
      ...errorResponses,
    },
  }),
  async (c) => {
    const { itemId } = c.req.valid('param');
    const k = checkK(c.req.valid('query').k, config(c));
    const model = await activeModel(c);
    const index = model.ids.indexOf(itemId);
    if (index === undefined) throw new ApiError(404, 'item_not_found', `item ${itemId} is not in model ${model.version}`);
    const rec = await similar(model, index, k);
    c.header('x-model-version', rec.model);
    return c.json(rec, 200);
  },
);

items.openapi(
  createRoute({
    method: 'get',
    path: '/items',
    summary: "Search the active model's catalogue by title",
    description: 'Every query word must appear in the title or id. Covers the model\'s 10,000 most popular items (catalog/popular.json; all of them for catalogues up to that size).',
    request: { query: SearchQuery },
    responses: { 200: { description: 'matching items, most popular first', content: { 'application/json': { schema: SearchResult } } }, ...errorResponses },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const model = await activeModel(c);
    c.header('x-model-version', model.version);
    return c.json({ model: model.version, items: searchCatalog(model, q.q ?? '', q.limit ?? 20) }, 200);
  },
);
