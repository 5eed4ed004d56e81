/** Personalised, session (basket) and candidate-scoring endpoints. */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { ApiError } from '../errors';
import { activeModel, config, userFor, type AppEnv } from '../context';
import { BasketBody, errorResponses, Recommendation, ScoreBody, UserHistory, UserPath, UserRecsQuery } from '../schemas';
import { forBasket, forUser, resolveItems, scoreCandidates, sessionVector } from '../serving/recommend';
import type { Config } from '../config';

export const recommendations = new OpenAPIHono<AppEnv>();

const json = (schema: typeof Recommendation) => ({ content: { 'application/json': { schema } } });

export function checkK(k: number | undefined, cfg: Config): number {
  const value = k ?? cfg.defaultK;
  if (value > cfg.maxK) throw new ApiError(400, 'k_out_of_range', `k must be between 1 and ${cfg.maxK}`);
  return value;
}

recommendations.openapi(
  createRoute({
    method: 'get',
    path: '/users/{userId}/recommendations',
    summary: 'Personalised top-k for a known user',
    description: 'Uses the user embedding stored for the active model version; users without one get the popular-items fallback (source "popular").',
    request: { params: UserPath, query: UserRecsQuery },
    responses: { 200: { description: 'recommendations', ...json(Recommendation) }, ...errorResponses },
  }),
  async (c) => {
    const { userId } = c.req.valid('param');
    const q = c.req.valid('query');
    const k = checkK(q.k, config(c));
    const { model, user } = await userFor(c, userId);
    const rec = await forUser(model, user, k, q.excludePurchased ?? true);
    c.header('x-model-version', rec.model);
    return c.json(rec, 200);
  },
);

recommendations.openapi(
  createRoute({
    method: 'post',
    path: '/recommendations',
    summary: 'Recommendations for an anonymous session or basket',
    description:
      'The given items are folded into a transient user vector (the ALS user step with the model\'s item factors and regularisation) and all items are scored. Unknown item ids are ignored and listed in ignoredItems; if none is known the popular fallback is returned.',
    request: { body: { required: true, content: { 'application/json': { schema: BasketBody } } } },
    responses: { 200: { description: 'recommendations', ...json(Recommendation) }, ...errorResponses },
  }),
  async (c) => {
    const body = c.req.valid('json');
    const cfg = config(c);
    const k = checkK(body.k, cfg);
    if (body.items.length === 0) throw new ApiError(400, 'empty_basket', 'items must contain at least one item id');
    if (body.items.length > cfg.maxBasketItems) {
      throw new ApiError(400, 'too_many_items', `items has ${body.items.length} entries; the limit is ${cfg.maxBasketItems}`);
    }
    const model = await activeModel(c);
    const rec = await forBasket(model, body.items, k, body.excludeGiven ?? true, body.weights);
    c.header('x-model-version', rec.model);
    return c.json(rec, 200);
  },
);

recommendations.openapi(
  createRoute({
    method: 'post',
    path: '/score',
    summary: "Score a caller's own candidates (re-ranking)",
    description: 'Give a userId or a list of items (folded in like a basket) and the candidate item ids; scores come back in the candidates\' order. Unknown candidates are left out and listed in ignoredItems.',
    request: { body: { required: true, content: { 'application/json': { schema: ScoreBody } } } },
    responses: { 200: { description: 'scores', ...json(Recommendation) }, ...errorResponses },
  }),
  async (c) => {
    const body = c.req.valid('json');
    const cfg = config(c);
    if (body.candidates.length > cfg.maxCandidates) {
      throw new ApiError(400, 'too_many_items', `candidates has ${body.candidates.length} entries; the limit is ${cfg.maxCandidates}`);
    }
    let model = await activeModel(c);
    let vector: Float32Array | null = null;
    let source: 'personalized' | 'session' = 'personalized';
    const ignored: string[] = [];
    if (body.userId !== undefined) {
      const found = await userFor(c, body.userId);
      model = found.model;
      vector = found.user?.vector ?? null;
    } else {
      const items = body.items!;
      if (items.length === 0) throw new ApiError(400, 'empty_basket', 'items must contain at least one item id');
      if (items.length > cfg.maxBasketItems) throw new ApiError(400, 'too_many_items', `items has ${items.length} entries; the limit is ${cfg.maxBasketItems}`);
      const resolved = resolveItems(model, items);
      ignored.push(...resolved.unknown);
      source = 'session';
      if (resolved.items.length) vector = sessionVector(model, resolved.items);
    }
    const rec = await scoreCandidates(model, vector, source, body.candidates);
    if (ignored.length) rec.ignoredItems = [...new Set([...(rec.ignoredItems ?? []), ...ignored])];
    c.header('x-model-version', rec.model);
    return c.json(rec, 200);
  },
);

recommendations.openapi(
  createRoute({
    method: 'get',
    path: '/users/{userId}/history',
    summary: 'What the active model knows a user interacted with',
    request: { params: UserPath },
    responses: { 200: { description: 'history (empty when the user is unknown)', content: { 'application/json': { schema: UserHistory } } }, ...errorResponses },
  }),
  async (c) => {
    const { userId } = c.req.valid('param');
    const { model, user } = await userFor(c, userId);
    const info = user ? await model.catalog.describe(Array.from(user.items)) : [];
    const items = info.map(({ id, title }, j) => ({ id, title, strength: user!.strengths[j] })).sort((a, b) => b.strength - a.strength);
    c.header('x-model-version', model.version);
    return c.json({ model: model.version, userId, known: user !== null, items }, 200);
  },
);
