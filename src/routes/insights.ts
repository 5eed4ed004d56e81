/**
 * Operator endpoints that measure: experiments (define, list, stop), reports of what answers
 * earned (GET /admin/metrics), traffic with errors and latency (GET /admin/traffic), and the
 * overview the dashboard starts from (model versions, refresh log, experiments). Bearer ADMIN_TOKEN.
 */
import { parseTimestamp } from '@edge-recs/core/time';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv, RequestContext } from '../context';
import { AppError } from '../errors';
import { bundledSource } from '../models/bundled';
import {
  ExperimentInput,
  ExperimentPath,
  ExperimentView,
  MetricsQuery,
  MetricsReport,
  NoQuery,
  Overview,
  TrafficQuery,
  TrafficReport,
} from '../schemas';
import { type ExperimentDeps, getExperiment, listExperiments, putExperiment, stopExperiment } from '../services/experiments';
import { metricsReport, overview, trafficReport } from '../services/insights';
import { requireBearer } from './auth';
import { errors, json } from './responses';

export const insights = new OpenAPIHono<AppEnv>();
insights.use('/admin/*', requireBearer('adminToken'));

async function experimentDeps(c: { env: Env; var: { ctx: RequestContext } }): Promise<ExperimentDeps> {
  const { ctx } = c.var;
  const live = await ctx.catalog();
  return {
    kv: c.env.RECS_KV,
    servableVersions: () => ctx.models.servable(),
    placementExists: (name) => live.placement(name) !== undefined,
    now: () => new Date(),
  };
}

/** A time query parameter in ms (400 when it does not parse). */
function timeParam(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseTimestamp(/^\d+(\.\d+)?$/.test(v) ? Number(v) : v);
  if (Number.isNaN(ms)) throw new AppError('invalid_request', `${name}: "${v}" is neither ISO 8601 nor epoch seconds/ms`);
  return ms;
}

/** `from` and `to` of a report query, in ms; `from` after `to` is a 400, never a silently rewritten range. */
function timeRange(q: { from?: string; to?: string }): { fromMs?: number; toMs?: number } {
  const fromMs = timeParam('from', q.from);
  const toMs = timeParam('to', q.to);
  if (fromMs !== undefined && toMs !== undefined && fromMs > toMs)
    throw new AppError('invalid_request', `from: ${q.from} is after to (${q.to})`);
  return { fromMs, toMs };
}

insights.openapi(
  createRoute({
    method: 'put',
    path: '/admin/experiments/{name}',
    summary: 'Start an experiment: variants naming a model version and/or a placement, with traffic weights',
    description:
      "Subjects (the user id, or an anonymous session id) are assigned by a keyed hash, sticky for the experiment's life. Answers carry `experiment` and `variant`. A running definition cannot change (that would move users between variants): repeating it is a no-op, anything else is a 409.",
    security: [{ bearer: [] }],
    request: { params: ExperimentPath, query: NoQuery, body: { required: true, ...json(ExperimentInput) } },
    responses: {
      200: { description: 'already running with this definition', ...json(ExperimentView) },
      201: { description: 'started', ...json(ExperimentView) },
      ...errors({
        body: true,
        notFound: 'a variant names a placement that does not exist',
        conflict: 'the name is taken by another definition or a stopped experiment, or another experiment runs on the placement',
      }),
    },
  }),
  async (c) => {
    const { experiment, created } = await putExperiment(await experimentDeps(c), c.req.valid('param').name, c.req.valid('json'));
    return created ? c.json(experiment, 201) : c.json(experiment, 200);
  },
);

insights.openapi(
  createRoute({
    method: 'get',
    path: '/admin/experiments',
    summary: 'Every experiment, running and stopped',
    security: [{ bearer: [] }],
    request: { query: NoQuery },
    responses: { 200: { description: 'experiments', ...json(z.object({ experiments: z.array(ExperimentView) })) }, ...errors() },
  }),
  async (c) => c.json({ experiments: await listExperiments(c.env.RECS_KV) }, 200),
);

insights.openapi(
  createRoute({
    method: 'get',
    path: '/admin/experiments/{name}',
    summary: 'One experiment',
    security: [{ bearer: [] }],
    request: { params: ExperimentPath, query: NoQuery },
    responses: { 200: { description: 'the experiment', ...json(ExperimentView) }, ...errors({ notFound: 'no such experiment' }) },
  }),
  async (c) => c.json(await getExperiment(c.env.RECS_KV, c.req.valid('param').name), 200),
);

insights.openapi(
  createRoute({
    method: 'post',
    path: '/admin/experiments/{name}/stop',
    summary: 'Stop an experiment: answers go back to the active model and the asked placement; its counts stay for reports',
    security: [{ bearer: [] }],
    request: { params: ExperimentPath, query: NoQuery },
    responses: { 200: { description: 'stopped', ...json(ExperimentView) }, ...errors({ notFound: 'no such experiment' }) },
  }),
  async (c) => c.json(await stopExperiment({ kv: c.env.RECS_KV, now: () => new Date() }, c.req.valid('param').name), 200),
);

insights.openapi(
  createRoute({
    method: 'get',
    path: '/admin/metrics',
    summary:
      'What answers earned: counts, rates with 95% intervals, and tests against the control, per variant (or placement, version, hour)',
    description:
      "From the stored hourly counts of answers served and attributed clicks, add-to-carts, purchases and revenue (events carrying the answer's recId within ATTRIBUTION_WINDOW_SECONDS). With `experiment`, the first variant is the control and every other variant is tested against it.",
    security: [{ bearer: [] }],
    request: { query: MetricsQuery },
    responses: { 200: { description: 'report', ...json(MetricsReport) }, ...errors() },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const report = await metricsReport(
      { metrics: c.var.ctx.metrics, experiments: () => listExperiments(c.env.RECS_KV) },
      {
        ...timeRange(q),
        ...(q.placement !== undefined ? { placement: q.placement === '-' ? '' : q.placement } : {}),
        ...(q.experiment !== undefined ? { experiment: q.experiment } : {}),
        groupBy: q.groupBy ?? 'variant',
      },
      Date.now(),
    );
    return c.json(report, 200);
  },
);

insights.openapi(
  createRoute({
    method: 'get',
    path: '/admin/traffic',
    summary: 'Requests, 4xx/5xx and latency percentiles per hour and per route',
    description:
      "Latency is what the Worker observes from a request's start to its response: time waiting on storage, models and Durable Objects. Deployed, Workers' clock does not advance during pure CPU work, so CPU time between waits is not in it; network time to the client never is.",
    security: [{ bearer: [] }],
    request: { query: TrafficQuery },
    responses: { 200: { description: 'traffic', ...json(TrafficReport) }, ...errors() },
  }),
  async (c) => {
    const q = c.req.valid('query');
    return c.json(await trafficReport(c.var.ctx.metrics, timeRange(q), Date.now()), 200);
  },
);

insights.openapi(
  createRoute({
    method: 'get',
    path: '/admin/overview',
    summary: 'Model versions this deployment can serve with their offline metrics, the refresh log, and the experiments',
    security: [{ bearer: [] }],
    request: { query: NoQuery },
    responses: { 200: { description: 'overview', ...json(Overview) }, ...errors() },
  }),
  async (c) =>
    c.json(
      await overview({
        kv: c.env.RECS_KV,
        bucket: c.env.MODELS,
        bundledManifest: async () => {
          const bytes = await (await bundledSource()).get('manifest.json');
          return bytes ? JSON.parse(new TextDecoder().decode(bytes)) : null;
        },
        experiments: () => listExperiments(c.env.RECS_KV),
      }),
      200,
    ),
);
