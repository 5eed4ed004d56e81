/** Real-time personalisation: event ingestion and forgetting a user. Both need the API key. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../context';
import { ErrorResponse, EventsBody, EventsResult, errorResponses, UserPath } from '../schemas';
import { ingestEvents } from '../services/events';
import { forgetUser } from '../services/forget';
import { requireBearer } from './auth';

export const events = new OpenAPIHono<AppEnv>();
events.use('/events', requireBearer('apiKey'));
events.use('/users/:userId', async (c, next) => {
  if (c.req.method === 'DELETE') return requireBearer('apiKey')(c, next);
  await next();
});

events.openapi(
  createRoute({
    method: 'post',
    path: '/events',
    summary: "Record interactions; the user's recommendations reflect them on the next request",
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
    const { ctx } = c.var;
    const body = c.req.valid('json');
    return c.json(await ingestEvents(ctx.eventDeps(), 'events' in body ? body.events : [body], Date.now()), 200);
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
      200: {
        description: 'forgotten',
        content: {
          'application/json': { schema: z.object({ userId: z.string(), forgotten: z.literal(true), exportRowsRemoved: z.number() }) },
        },
      },
      401: { description: 'missing or wrong API key', content: { 'application/json': { schema: ErrorResponse } } },
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const { userId } = c.req.valid('param');
    const { exportRowsRemoved } = await forgetUser(ctx.forgetDeps(), await ctx.identify(userId), Date.now());
    return c.json({ userId, forgotten: true as const, exportRowsRemoved }, 200);
  },
);
