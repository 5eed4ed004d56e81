/** Item-to-item endpoints. */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { ApiError } from '../errors';
import { activeModel, config, type AppEnv } from '../context';
import { ErrorResponse, errorResponses, ItemPath, Recommendation, SimilarQuery } from '../schemas';
import { similar } from '../serving/recommend';
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
    const index = model.indexById.get(itemId);
    if (index === undefined) throw new ApiError(404, 'item_not_found', `item ${itemId} is not in model ${model.version}`);
    const rec = similar(model, index, k);
    c.header('x-model-version', rec.model);
    return c.json(rec, 200);
  },
);
