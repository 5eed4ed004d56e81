/** Real-time personalisation: event ingestion and forgetting a user. Both need the API key. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { requireBearer } from '../auth';
import { ApiError } from '../errors';
import { activeModel, historyDeps, historyStub, identity, registryDeps, type AppEnv } from '../context';
import { ErrorResponse, errorResponses, UserPath, UserId, ItemId } from '../schemas';
import { embedHistory } from '../events/personalize';
import { forgetInExports, writeEventBatch, type ExportRow } from '../events/exports';
import { embeddingKey, forgottenKey, historyMarkerKey, readMarkers, recentUsers, shardId } from '../serving/users';
import { registry } from '../serving/registry';
import { parseTimestamp } from '../events/time';

export const events = new OpenAPIHono<AppEnv>();
events.use('/events', requireBearer<AppEnv>('API_KEY'));
events.use('/users/:userId', async (c, next) => {
  if (c.req.method === 'DELETE') return requireBearer<AppEnv>('API_KEY')(c, next);
  await next();
});

const EventType = z.enum(['view', 'add_to_cart', 'purchase']);
const Event = z
  .object({
    userId: UserId,
    itemId: ItemId,
    type: EventType,
    timestamp: z.union([z.string().max(40), z.number()]).optional().openapi({ description: 'ISO 8601 or epoch ms; default now' }),
  })
  .strict()
  .openapi('Event');
const EventsBody = z.union([Event, z.object({ events: z.array(Event).min(1, 'events must not be empty') }).strict()]).openapi('EventsRequest');
const EventsResult = z
  .object({
    model: z.string(),
    accepted: z.number(),
    rejected: z.array(z.object({ index: z.number(), itemId: z.string(), reason: z.string() })),
  })
  .openapi('EventsResult');

function weightOf(env: Env, type: z.infer<typeof EventType>): number {
  const raw = { view: env.EVENT_WEIGHT_VIEW, add_to_cart: env.EVENT_WEIGHT_ADD_TO_CART, purchase: env.EVENT_WEIGHT_PURCHASE }[type];
  const n = Number(raw);
  return Number.isFinite(n) && n > 0 ? n : { view: 0.1, add_to_cart: 0.5, purchase: 1 }[type];
}

events.openapi(
  createRoute({
    method: 'post',
    path: '/events',
    summary: 'Record interactions; the user\'s recommendations reflect them on the next request',
    description:
      'One event or {"events": [...]} (at most MAX_EVENTS_PER_BATCH). Events for items the active model does not know are rejected one by one with a reason; the others are added to the user\'s history, the user\'s embedding is recomputed at once by the ALS fold-in, and the events are queued for export to origin.',
    security: [{ bearer: [] }],
    request: { body: { required: true, content: { 'application/json': { schema: EventsBody } } } },
    responses: {
      200: { description: 'accepted (and per-event rejections)', content: { 'application/json': { schema: EventsResult } } },
      401: { description: 'missing or wrong API key', content: { 'application/json': { schema: ErrorResponse } } },
      ...errorResponses,
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    const list = 'events' in body ? body.events : [body];
    const max = Number(c.env.MAX_EVENTS_PER_BATCH) || 100;
    if (list.length > max) throw new ApiError(400, 'too_many_items', `the batch has ${list.length} events; the limit is ${max}`);
    const now = Date.now();
    const rejected: { index: number; itemId: string; reason: string }[] = [];
    const times = list.map((e, index) => {
      const at = e.timestamp === undefined ? now : parseTimestamp(e.timestamp);
      if (Number.isNaN(at) || at > now + 5 * 60_000) rejected.push({ index, itemId: e.itemId, reason: `timestamp ${JSON.stringify(e.timestamp)} is not a valid past time` });
      return at;
    });
    const model = await activeModel(c);
    list.forEach((e, index) => {
      if (!model.ids.has(e.itemId) && !rejected.some((r) => r.index === index)) rejected.push({ index, itemId: e.itemId, reason: `item ${e.itemId} is not in model ${model.version}` });
    });
    const bad = new Set(rejected.map((r) => r.index));
    if (bad.size === list.length) throw new ApiError(400, 'invalid_request', `no event was accepted: ${rejected.map((r) => `#${r.index} ${r.reason}`).join('; ')}`);

    const byUser = new Map<string, number[]>();
    list.forEach((e, index) => {
      if (!bad.has(index)) byUser.set(e.userId, [...(byUser.get(e.userId) ?? []), index]);
    });
    const hist = historyDeps(c.env);
    const rows: ExportRow[] = [];
    for (const [userId, indices] of byUser) {
      const who = await identity(c, userId);
      const stub = historyStub(c.env, who.key);
      // A known customer's first event starts from what the model learned about them.
      let seed: { itemId: string; strength: number }[] | undefined;
      const { hasHistory, forgotten } = await readMarkers(c.env.RECS_KV, who.key);
      if (!hasHistory && !forgotten) {
        const trained = await model.shardUser(shardId(model, who));
        if (trained) seed = Array.from(trained.items, (i, j) => ({ itemId: model.ids.id(i), strength: trained.strengths[j] }));
      }
      const incoming = indices.map((i) => ({ itemId: list[i].itemId, strength: weightOf(c.env, list[i].type), at: times[i] }));
      const snapshot = await stub.append(incoming, seed);
      await embedHistory(model, who, snapshot, hist);
      if (!hasHistory) await c.env.RECS_KV.put(historyMarkerKey(who.key), '1');
      for (const i of indices) rows.push({ userKey: who.key, itemId: list[i].itemId, weight: weightOf(c.env, list[i].type), at: times[i], type: list[i].type });
    }
    await writeEventBatch(c.env.MODELS, rows, now, Number(c.env.EXPORT_WINDOW_SECONDS) || 3600);
    c.header('x-model-version', model.version);
    return c.json({ model: model.version, accepted: rows.length, rejected }, 200);
  },
);

events.openapi(
  createRoute({
    method: 'delete',
    path: '/users/{userId}',
    summary: 'Forget a user: history, embeddings and exported events',
    security: [{ bearer: [] }],
    request: { params: UserPath },
    responses: {
      200: { description: 'forgotten', content: { 'application/json': { schema: z.object({ userId: z.string(), forgotten: z.literal(true), exportRowsRemoved: z.number() }) } } },
      401: { description: 'missing or wrong API key', content: { 'application/json': { schema: ErrorResponse } } },
    },
  }),
  async (c) => {
    const { userId } = c.req.valid('param');
    const who = await identity(c, userId);
    // the marker first, so no lookup falls back to a trained vector while the rest is erased
    await c.env.RECS_KV.put(forgottenKey(who.key), '1');
    recentUsers.forget(who.key);
    await historyStub(c.env, who.key).forget();
    await c.env.RECS_KV.delete(historyMarkerKey(who.key));
    const versions = new Set<string>();
    const pointer = await registry.activePointer(registryDeps(c.env));
    if (pointer) [pointer.version, ...pointer.previous].forEach((v) => versions.add(v));
    try {
      versions.add((await activeModel(c)).version);
    } catch {
      // no model: nothing cached under a version
    }
    for (const v of versions) await c.env.RECS_KV.delete(embeddingKey(v, who.key));
    const removed = await forgetInExports(c.env.MODELS, who.key);
    return c.json({ userId, forgotten: true as const, exportRowsRemoved: removed }, 200);
  },
);
