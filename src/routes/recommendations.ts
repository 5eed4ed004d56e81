/** Personalised, session (basket) and candidate-scoring endpoints, and a user's known history. */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../context';
import { BasketBody, NoQuery, RecentQuery, Recommendation, ScoreBody, UserHistory, UserPath, UserRecsQuery } from '../schemas';
import { recent } from '../services/discovery';
import { forBasket, forUser, resolveItems, scoreCandidates, sessionVector } from '../services/recommend';
import { filterFromBody, filterFromQuery } from './filters';
import { checkBasket, checkCandidates, checkK } from './limits';
import { errors, json } from './responses';

export const recommendations = new OpenAPIHono<AppEnv>();

recommendations.openapi(
  createRoute({
    method: 'get',
    path: '/users/{userId}/recommendations',
    summary: 'Personalised top-k for a known user',
    description:
      'Uses the user embedding stored for the active model version; users without one get the popular-items fallback (source "popular").',
    request: { params: UserPath, query: UserRecsQuery },
    responses: {
      200: { description: 'recommendations', ...json(Recommendation) },
      ...errors({ model: true, notFound: 'unknown placement' }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const q = c.req.valid('query');
    const k = checkK(q.k, ctx.config);
    const { userId } = c.req.valid('param');
    const placement = await ctx.enter({ userId }, q.placement);
    const { model, user, seen } = await ctx.userFor(userId);
    const shelf = await ctx.shelf(model, filterFromQuery(q), placement);
    return c.json(ctx.answer(await forUser(shelf, user, k, q.excludePurchased ?? true, { explain: q.explain, seen })), 200);
  },
);

recommendations.openapi(
  createRoute({
    method: 'post',
    path: '/recommendations',
    summary: 'Recommendations for an anonymous session or basket',
    description:
      "The given items are folded into a transient user vector (the ALS user step with the model's item factors and regularisation) and all items are scored. Unknown item ids are ignored and listed in ignoredItems; if the model knows none of them, new catalogue items among them are answered by content (related popular and new items by title and category, then the popular list), and ids nobody knows get the popular fallback.",
    request: { query: NoQuery, body: { required: true, ...json(BasketBody) } },
    responses: {
      200: { description: 'recommendations', ...json(Recommendation) },
      ...errors({ body: true, model: true, notFound: 'unknown placement' }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const body = c.req.valid('json');
    const k = checkK(body.k, ctx.config);
    checkBasket(body.items, ctx.config);
    const placement = await ctx.enter(body, body.placement);
    const shelf = await ctx.shelf(await ctx.activeModel(), filterFromBody(body.filter), placement);
    return c.json(
      ctx.answer(await forBasket(shelf, body.items, k, body.excludeGiven ?? true, body.weights, { explain: body.explain })),
      200,
    );
  },
);

recommendations.openapi(
  createRoute({
    method: 'post',
    path: '/score',
    summary: "Score a caller's own candidates (re-ranking)",
    description:
      "Give a userId or a list of items (folded in like a basket) and the candidate item ids; scores come back in the candidates' order. Unknown candidates are left out and listed in ignoredItems.",
    request: { query: NoQuery, body: { required: true, ...json(ScoreBody) } },
    responses: {
      200: { description: 'scores', ...json(Recommendation) },
      ...errors({ body: true, model: true, notFound: 'unknown placement' }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const body = c.req.valid('json');
    checkCandidates(body.candidates, ctx.config);
    const filter = filterFromBody(body.filter);
    if (body.items !== undefined) checkBasket(body.items, ctx.config);
    const placement = await ctx.enter(body, body.placement);
    if (body.userId !== undefined) {
      const { model, user } = await ctx.userFor(body.userId);
      const rec = await scoreCandidates(
        await ctx.shelf(model, filter, placement),
        user?.vector ?? null,
        user ? Array.from(user.items, (index, j) => ({ index, strength: user.strengths[j] })) : [],
        'personalized',
        body.candidates,
      );
      return c.json(ctx.answer(rec), 200);
    }
    const items = body.items ?? [];
    const model = await ctx.activeModel();
    const resolved = resolveItems(model, items);
    const vector = resolved.items.length ? sessionVector(model, resolved.items) : null;
    const rec = await scoreCandidates(await ctx.shelf(model, filter, placement), vector, resolved.items, 'session', body.candidates);
    if (resolved.unknown.length) rec.ignoredItems = [...new Set([...(rec.ignoredItems ?? []), ...resolved.unknown])];
    return c.json(ctx.answer(rec), 200);
  },
);

recommendations.openapi(
  createRoute({
    method: 'get',
    path: '/users/{userId}/history',
    summary: 'What the active model knows a user interacted with',
    request: { params: UserPath, query: NoQuery },
    responses: { 200: { description: 'history (empty when the user is unknown)', ...json(UserHistory) }, ...errors({ model: true }) },
  }),
  async (c) => {
    const { userId } = c.req.valid('param');
    const { model, user } = await c.var.ctx.userFor(userId);
    const info = user ? await model.catalog.describe(Array.from(user.items)) : [];
    const items = info
      .map(({ id, title }, j) => ({ id, title, strength: user?.strengths[j] ?? 0 }))
      .sort((a, b) => b.strength - a.strength);
    return c.json({ model: model.version, userId, known: user !== null, items }, 200);
  },
);

recommendations.openapi(
  createRoute({
    method: 'get',
    path: '/users/{userId}/recent',
    summary: "The shopper's recently viewed items (view and click events), newest view first",
    request: { params: UserPath, query: RecentQuery },
    responses: {
      200: { description: 'recent items (empty without events)', ...json(Recommendation) },
      ...errors({ model: true, notFound: 'unknown placement' }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const q = c.req.valid('query');
    const { userId } = c.req.valid('param');
    const k = checkK(q.k, ctx.config);
    const placement = await ctx.enter({ userId }, q.placement);
    const who = await ctx.identify(userId);
    const [shelf, history] = await Promise.all([
      ctx.activeModel().then((m) => ctx.shelf(m, filterFromQuery(q), placement)),
      ctx.history.get(who.key),
    ]);
    return c.json(ctx.answer(await recent(shelf, history, k)), 200);
  },
);
