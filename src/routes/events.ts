/** Real-time personalisation: event ingestion and forgetting a user. Both need the API key. */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../context';
import { AppError } from '../errors';
import { ErasureJob, ErasurePath, EventsBody, EventsResult, NoQuery, UserPath } from '../schemas';
import { ingestEvents } from '../services/events';
import { erasureProgress, forgetUser, type ErasureJob as Job } from '../services/forget';
import { requireBearer } from './auth';
import { errors, json } from './responses';

export const events = new OpenAPIHono<AppEnv>();
events.use('/events', requireBearer('apiKey'));
events.use('/erasures/*', requireBearer('apiKey'));
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
      "One event or {\"events\": [...]} (at most MAX_EVENTS_PER_BATCH). Events for items neither the active model nor the catalogue knows are rejected one by one with a reason; the others are added to the user's history, the user's embedding is recomputed at once by the ALS fold-in, and the events are queued for export to origin. A click, add-to-cart or purchase with a `recId` is attributed to that answer (`attribution`); an answer served to a signed-in user (a userId in its request) counts only that user's events, and another user's event naming it is counted as `notShown` (an anonymous answer counts anyone's).",
    security: [{ bearer: [] }],
    request: { query: NoQuery, body: { required: true, ...json(EventsBody) } },
    responses: {
      200: { description: 'accepted (and per-event rejections)', ...json(EventsResult) },
      ...errors({ body: true, model: true }),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const body = c.req.valid('json');
    return c.json(await ingestEvents(ctx.eventDeps(), 'events' in body ? body.events : [body], Date.now()), 200);
  },
);

/** A job as the API shows it: times as ISO strings, the user's key left out. */
const view = (job: Job) => ({
  id: job.id,
  status: job.status,
  phase: job.phase,
  requestedAt: new Date(job.requestedAt).toISOString(),
  finishedAt: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
  objectsScanned: job.objectsScanned,
  rowsRemoved: job.rowsRemoved,
  runs: job.runs,
});

events.openapi(
  createRoute({
    method: 'delete',
    path: '/users/{userId}',
    summary: 'Forget a user: nothing of theirs is served from now on; their exported events are erased in the background',
    description:
      'Returns 202 once the user is no longer served (history, embeddings and the trained vector are out of every answer). Their rows in the event files are erased by a background job; follow it at the Location given (GET /v1/erasures/{jobId}). Events sent for the same id afterwards count as a new consent.',
    security: [{ bearer: [] }],
    request: { params: UserPath, query: NoQuery },
    responses: {
      202: {
        description: 'forgotten; the erasure of exported events is under way',
        headers: z.object({ location: z.string().openapi({ description: '/v1/erasures/{jobId}' }) }),
        ...json(z.object({ userId: z.string(), forgotten: z.literal(true), erasure: ErasureJob })),
      },
      ...errors(),
    },
  }),
  async (c) => {
    const { ctx } = c.var;
    const { userId } = c.req.valid('param');
    const job = await forgetUser(ctx.forgetDeps(), await ctx.identify(userId), Date.now());
    c.header('location', `/v1/erasures/${job.id}`);
    return c.json({ userId, forgotten: true as const, erasure: view(job) }, 202);
  },
);

events.openapi(
  createRoute({
    method: 'get',
    path: '/erasures/{jobId}',
    summary: "Progress of the background erasure of a forgotten user's exported events",
    security: [{ bearer: [] }],
    request: { params: ErasurePath, query: NoQuery },
    responses: { 200: { description: 'the job', ...json(ErasureJob) }, ...errors({ notFound: 'no job has this id' }) },
  }),
  async (c) => {
    const job = await erasureProgress(c.var.ctx.forgetDeps(), c.req.valid('param').jobId);
    if (!job) throw new AppError('not_found', 'no erasure job has this id');
    return c.json(view(job), 200);
  },
);
