/**
 * Operator endpoints that measure: experiments (define, list, stop), reports of what answers
 * earned (GET /admin/metrics), traffic with errors and latency (GET /admin/traffic), and the
 * overview the dashboard starts from (model versions, refresh log, experiments). Bearer ADMIN_TOKEN.
 */
import { HOUR_MS, isoTimeExists, parseTimestamp } from '@edge-recs/core/time';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv, RequestContext } from '../context';
import { AppError } from '../errors';
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
    store: ctx.experiments,
    servableVersions: () => ctx.models.servable(),
    placementExists: (name) => live.placement(name) !== undefined,
    now: () => new Date(),
  };
}

/** Report times must fall in these years (and a date in them must exist): 2000-01-01 … 9999-12-31T23:00Z. */
const EARLIEST_MS = Date.UTC(2000, 0, 1);
const LATEST_MS = Date.UTC(9999, 11, 31, 23);
/** A time query parameter in ms (400 when it does not parse, names no real date, or lies outside 2000–9999). */
function timeParam(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  // the one timestamp parser refuses a date that does not exist too; this says which it was
  if (!isoTimeExists(v)) throw new AppError('invalid_request', `${name}: "${v}" is not a date and time that exists`);
  const ms = parseTimestamp(/^\d+(\.\d+)?$/.test(v) ? Number(v) : v);
  if (Number.isNaN(ms)) throw new AppError('invalid_request', `${name}: "${v}" is neither ISO 8601 nor epoch seconds/ms`);
  if (ms < EARLIEST_MS || ms > LATEST_MS)
    throw new AppError('invalid_request', `${name}: "${v}" is outside 2000-01-01T00:00:00Z … 9999-12-31T23:00:00Z`);
  return ms;
}

/**
 * `from` and `to` of a report query, in ms. `from` after `to` — the `to` given, or now when it is
 * left out — is a 400, never a silently rewritten range, and so is a range longer than the counters
 * keep (METRICS_RETENTION_DAYS): a report is one row per hour at most, so this bounds its size.
 */
function timeRange(q: { from?: string; to?: string }, retentionDays: number, now: number): { fromMs?: number; toMs?: number } {
  const fromMs = timeParam('from', q.from);
  const toMs = timeParam('to', q.to);
  // the defaults as the report applies them: to = now, from = 24 hours before to
  const end = toMs ?? now;
  if (fromMs !== undefined && fromMs > end)
    throw new AppError(
      'invalid_request',
      toMs !== undefined
        ? `from: ${q.from} is after to (${q.to})`
        : `from: ${q.from} is after to, which defaults to now (${new Date(now).toISOString()}): give a to as well, or an earlier from`,
    );
  const start = fromMs ?? end - 24 * HOUR_MS;
  if (end - start > retentionDays * 24 * HOUR_MS)
    throw new AppError(
      'invalid_request',
      `from … to spans more than METRICS_RETENTION_DAYS (${retentionDays} days), the longest range a report covers (the counters keep no more)`,
    );
  return { fromMs, toMs };
}

insights.openapi(
  createRoute({
    method: 'put',
    path: '/admin/experiments/{name}',
    summary: 'Start an experiment: variants naming a model version and/or a placement, with traffic weights',
    description:
      "Subjects (the user id, or an anonymous session id) are assigned by a keyed hash, sticky for the experiment's life. Answers carry `experiment` and `variant`; a variant naming a model version is answered by that version only. A running definition cannot change (that would move users between variants): repeating it is a no-op, anything else is a 409. One experiment runs per placement scope (plus one over every answer): starts are applied one at a time, so of overlapping starts sent together exactly one gets 201 and the others 409. A start or stop reaches every location within KV's propagation (about a minute) plus EXPERIMENTS_CACHE_SECONDS.",
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
  async (c) => c.json({ experiments: await listExperiments(c.var.ctx.experiments) }, 200),
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
  async (c) => c.json(await getExperiment(c.var.ctx.experiments, c.req.valid('param').name), 200),
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
  async (c) => c.json(await stopExperiment({ store: c.var.ctx.experiments, now: () => new Date() }, c.req.valid('param').name), 200),
);

insights.openapi(
  createRoute({
    method: 'get',
    path: '/admin/metrics',
    summary:
      'What answers earned: counts, rates with 95% intervals, and tests against the control, per variant (or placement, version, hour)',
    description:
      "From the stored hourly counts of answers served and attributed clicks, add-to-carts, purchases and revenue (events carrying the answer's recId within ATTRIBUTION_WINDOW_SECONDS). With `experiment`, the first variant is the control and every other variant is tested against it. `from` and `to` must be times that exist between 2000 and 9999, `from` not after `to` (which defaults to now), and at most METRICS_RETENTION_DAYS apart (the counters keep no more); anything else is a 400 `invalid_request` saying which. HEAD requests are not answers: only responses with a body (and a recId) are counted, and an item of POST /v1/score counts as shown unless it is marked filteredOut.",
    security: [{ bearer: [] }],
    request: { query: MetricsQuery },
    responses: { 200: { description: 'report', ...json(MetricsReport) }, ...errors({ notFound: 'no experiment has that name' }) },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const now = Date.now();
    // a mistyped experiment name is a 404, not an empty report that reads as "no data yet"
    if (q.experiment !== undefined) await getExperiment(c.var.ctx.experiments, q.experiment);
    const report = await metricsReport(
      { metrics: c.var.ctx.metrics, experiments: () => listExperiments(c.var.ctx.experiments) },
      {
        ...timeRange(q, c.var.ctx.config.metrics.retentionDays, now),
        ...(q.placement !== undefined ? { placement: q.placement === '-' ? '' : q.placement } : {}),
        ...(q.experiment !== undefined ? { experiment: q.experiment } : {}),
        groupBy: q.groupBy ?? 'variant',
      },
      now,
    );
    // the filter as asked ("-": answers with no placement, which the groups show as null)
    return c.json({ ...report, placement: q.placement ?? null, currency: c.var.ctx.config.metrics.revenueCurrency }, 200);
  },
);

insights.openapi(
  createRoute({
    method: 'get',
    path: '/admin/traffic',
    summary: 'Requests, 4xx/5xx and latency percentiles per hour and per route',
    description:
      "Latency is what the Worker observes from a request's start to its response: time waiting on storage, models and Durable Objects. Deployed, Workers' clock does not advance during pure CPU work, so CPU time between waits is not in it; network time to the client never is. Requests are counted under their route pattern, including those refused before the route ran (a 401 for a missing token, a 413); `unmatched` holds requests for paths no route has. One row per hour of the range: `from` and `to` must be times that exist between 2000 and 9999, `from` not after `to` (which defaults to now), and at most METRICS_RETENTION_DAYS apart, else a 400 `invalid_request` saying which.",
    security: [{ bearer: [] }],
    request: { query: TrafficQuery },
    responses: { 200: { description: 'traffic', ...json(TrafficReport) }, ...errors() },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const now = Date.now();
    return c.json(await trafficReport(c.var.ctx.metrics, timeRange(q, c.var.ctx.config.metrics.retentionDays, now), now), 200);
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
  async (c) => c.json(await overview(c.var.ctx.overviewDeps()), 200),
);
