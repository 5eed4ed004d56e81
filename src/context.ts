/**
 * The composition root: builds, from the Worker's environment, the plain dependency objects that
 * services take — once per request for HTTP (a Hono middleware puts a typed RequestContext in
 * `c.var.ctx`), once per run for the cron. Routes read the context; services never see Hono.
 *
 * The context also records which model version answered, and the middleware sets the
 * `x-model-version` header from it once, after the handler.
 *
 * Experiments: a route that answers enters the request's subject (a user, or an anonymous
 * session) into the running experiment for the placement it asks for (`enter`) before it reads a
 * model; from then on `activeModel`/`userFor` give the variant's version, so one answer never mixes
 * versions. A variant whose version cannot be loaded (its files gone from the bucket) is answered by
 * the active model instead (models/registry.ts): the answer keeps its variant and names the version
 * that served it. `answer` stamps the answer with a recId (and the variant) — and, for a signed-in
 * user, the keyed hash of their id, so that only their events count for it — and the middleware has
 * the request and the answer counted after the response (`waitUntil`): no answer waits on a counter.
 */
import { FILES } from '@edge-recs/core/manifest';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { type Config, configFrom } from './config';
import { AppError } from './errors';
import { bundledSource } from './models/bundled';
import { LiveCatalog } from './models/live-catalog';
import type { ServingModel } from './models/model';
import { bindRegistry, type Models, registry } from './models/registry';
import type { Answer, Recommendation } from './schemas';
import { currentPrice, inCatalog } from './services/catalog';
import type { EventDeps } from './services/events';
import { assignmentPoint, listExperiments, runningFor, type Subject, variantAt } from './services/experiments';
import type { ForgetDeps } from './services/forget';
import type { OverviewDeps } from './services/insights';
import { type ItemFilter, placementRules } from './services/merchandising';
import type { ModelInfoDeps } from './services/model-info';
import type { RefreshDeps } from './services/refresh';
import { type Shelf, shelfFor } from './services/shelf';
import { type ResolvedUser, resolveUser, type UserDeps } from './services/users';
import { type CatalogClient, catalogClient } from './storage/catalog-store';
import { erasureQueue } from './storage/erasure-jobs';
import { cachedExperiments, type ExperimentStoreClient, experimentStore } from './storage/experiments';
import { type HistoryStore, historyStore } from './storage/history';
import { identify, type UserIdentity } from './storage/identity';
import { type AnswerRecord, type MetricsClient, metricsClient } from './storage/metrics';
import { originFrom } from './storage/origin';
import { type TrendingClient, trendingClient } from './storage/trending';
import type { UserStore } from './storage/user-records';

export interface RequestContext {
  readonly config: Config;
  readonly models: Models;
  readonly users: UserDeps;
  /** the keyed hash of a user id (storage/identity.ts) */
  identify(userId: string): Promise<UserIdentity>;
  /** the active model, loaded once per request (models.active() is the same) */
  activeModel(): Promise<ServingModel>;
  /** the active model, or null while none serves (catalogue and placement writes need none) */
  activeModelIfAny(): Promise<ServingModel | null>;
  /** the model and user vector that serve `userId` (services/users.ts resolveUser) */
  userFor(userId: string): Promise<ResolvedUser>;
  eventDeps(): EventDeps;
  forgetDeps(): ForgetDeps;
  refreshDeps(): RefreshDeps;
  overviewDeps(): OverviewDeps;
  modelInfoDeps(): ModelInfoDeps;
  /** time-decayed popularity from live events */
  readonly trending: TrendingClient;
  /** the user histories (Durable Objects) */
  readonly history: HistoryStore;
  /** the catalogue store (writes go here) */
  readonly catalogStore: CatalogClient;
  /** this isolate's copy of the live catalogue, fresh within CATALOG_MAX_STALE_SECONDS */
  catalog(): Promise<LiveCatalog>;
  /**
   * The shelf an answer is built on: the model, the catalogue as it sees it, the request's
   * filter over the named placement's (AppError not_found for an unknown placement).
   */
  shelf(model: ServingModel, filter?: ItemFilter, placement?: string): Promise<Shelf>;
  /** the version that answered (the x-model-version header), set by activeModel/userFor */
  servedVersion: string | undefined;
  /** attribution and traffic counters */
  readonly metrics: MetricsClient;
  /** the experiments' single writer (starts, stops, and admin reads that must see them at once) */
  readonly experiments: ExperimentStoreClient;
  /**
   * Enters `subject` into the running experiment for `placement` (if any; none without a
   * subject), before any model is read. Returns the placement whose rules apply: the variant's,
   * else the one asked for. With a `userId`, the answer is the signed-in user's: only their
   * events are attributed to it.
   */
  enter(who: { userId?: string; sessionId?: string }, placement: string | undefined): Promise<string | undefined>;
  /** the experiment and variant the request is in, once entered */
  readonly assignment: { experiment: string; variant: string; modelVersion?: string } | null;
  /** stamps an answer with its recId (and experiment and variant) and has it counted after the response */
  answer(answer: Answer): Recommendation;
  /** what this request answered, for the counters */
  readonly served: AnswerRecord | null;
}

export type AppEnv = { Bindings: Env; Variables: { ctx: RequestContext } };

/** One copy of the live catalogue per isolate (its client and settings come with each request). */
let liveCatalog: LiveCatalog | undefined;

function storageOf(env: Env) {
  return { kv: env.RECS_KV, bucket: env.MODELS };
}

function modelsOf(env: Env, config: Config): Models {
  return bindRegistry(registry, { ...storageOf(env), config, bundled: bundledSource });
}

/** What a refresh run needs (`fetchImpl`: tests stub the HTTPS origin's fetch). */
export function refreshDeps(env: Env, fetchImpl?: typeof fetch): RefreshDeps {
  const config = configFrom(env);
  return refreshDepsOf(env, config, modelsOf(env, config), fetchImpl);
}

function refreshDepsOf(env: Env, config: Config, models: Models, fetchImpl?: typeof fetch): RefreshDeps {
  return { ...storageOf(env), origin: originFrom(config.origin, storageOf(env), fetchImpl), config, models };
}

export function createRequestContext(env: Env, defer: (p: Promise<unknown>) => void): RequestContext {
  const config = configFrom(env);
  const bound = modelsOf(env, config);
  let active: Promise<ServingModel> | undefined;
  let assignment: RequestContext['assignment'] = null;
  let slot = '';
  /** the keyed hash of the signed-in user the request answers (entered with a userId), if any */
  let shownTo: string | undefined;
  let served: AnswerRecord | null = null;
  // the active model (or the experiment variant's) is loaded once per request, and whatever
  // answers records its version
  const models: Models = {
    ...bound,
    async active() {
      active ??= assignment?.modelVersion !== undefined ? bound.variant(assignment.modelVersion) : bound.active();
      const model = await active;
      ctx.servedVersion = model.version;
      return model;
    },
  };
  const metrics = metricsClient(env.METRICS, config.metrics.shards, config.metrics);
  /** the running experiment for `placement` and the subject's variant in it, if any */
  const assign = async (subject: Subject, placement: string | undefined) => {
    const experiment = runningFor(await cachedExperiments(env.RECS_KV, config.experimentsCacheSeconds, defer), placement);
    if (!experiment) return null;
    const variant = variantAt(experiment.variants, await assignmentPoint(config.secrets.userIdSecret, experiment.name, subject));
    return { experiment, variant, modelVersion: variant.modelVersion };
  };
  const store: UserStore = { kv: env.RECS_KV, ttlSeconds: config.userEmbeddingTtlSeconds, cacheSeconds: config.userCacheSeconds, defer };
  const history: HistoryStore = historyStore(env.USER_HISTORY, config.userEmbeddingTtlSeconds);
  const users: UserDeps = { models, store, history, pinnedVersion: () => assignment?.modelVersion };
  // one keyed hash per user id and request (entering the experiment, the answer's owner, the user's vector)
  const identities = new Map<string, Promise<UserIdentity>>();
  const identifyUser = (userId: string) => {
    let found = identities.get(userId);
    if (!found) {
      found = identify(config.secrets.userIdSecret, userId);
      identities.set(userId, found);
    }
    return found;
  };
  const catalogStore = catalogClient(env.CATALOG, env.MODELS);
  const experiments = experimentStore(env.EXPERIMENTS);
  const ctx: RequestContext = {
    config,
    models,
    users,
    identify: identifyUser,
    servedVersion: undefined,
    activeModel: () => models.active(),
    activeModelIfAny: () =>
      models.active().catch((err) => {
        if (err instanceof AppError && err.code === 'no_model') return null;
        throw err;
      }),
    async userFor(userId) {
      const found = await resolveUser(users, await identifyUser(userId));
      ctx.servedVersion = found.model.version;
      return found;
    },
    metrics,
    experiments,
    get assignment() {
      return assignment;
    },
    get served() {
      return served;
    },
    async enter(who, placement) {
      // the placement asked for must exist whatever the variant: a mistyped name is a 404 for every
      // shopper, never served (and counted under that name) for those a variant gives its own
      if (placement !== undefined) placementOr404(await ctx.catalog(), placement);
      slot = placement ?? '';
      // an answer to a signed-in shopper counts only their events (storage/metrics.ts)
      if (who.userId !== undefined) shownTo = (await identifyUser(who.userId)).key;
      // a signed-in shopper is assigned by their user id, an anonymous visitor by their session
      const subject: Subject | null =
        who.userId !== undefined
          ? { kind: 'user', id: who.userId }
          : who.sessionId !== undefined
            ? { kind: 'session', id: who.sessionId }
            : null;
      if (!subject) return placement;
      const found = await assign(subject, placement);
      if (!found) return placement;
      const { experiment, variant } = found;
      assignment = {
        experiment: experiment.name,
        variant: variant.name,
        ...(variant.modelVersion !== undefined ? { modelVersion: variant.modelVersion } : {}),
      };
      if (variant.placement === undefined) return placement;
      // A variant's placement deleted while its experiment runs (the DELETE refuses that, but can
      // race the start): the answer keeps the placement asked for, if any, rather than a 404 about a
      // placement the request never named.
      return (await ctx.catalog()).placement(variant.placement) ? variant.placement : placement;
    },
    answer(a) {
      const recId = metrics.newRecId();
      served = {
        recId,
        at: Date.now(),
        placement: slot,
        version: a.model,
        experiment: assignment?.experiment ?? '',
        variant: assignment?.variant ?? '',
        // shown: what the client is told to show (POST /v1/score marks candidates its filter leaves out)
        items: a.items.filter((i) => !i.filteredOut).map((i) => i.id),
        ...(shownTo !== undefined ? { user: shownTo } : {}),
      };
      return { ...a, recId, ...(assignment ? { experiment: assignment.experiment, variant: assignment.variant } : {}) };
    },
    eventDeps: () => ({
      ...users,
      bucket: env.MODELS,
      identify: identifyUser,
      eventWeights: config.eventWeights,
      maxEventsPerBatch: config.maxEventsPerBatch,
      exportWindowSeconds: config.exportWindowSeconds,
      trending: ctx.trending,
      inCatalog: async (itemId) => inCatalog(await ctx.catalog(), itemId),
      metrics,
      modelFor: async (userId) => {
        const variant = await assign({ kind: 'user', id: userId }, undefined);
        return variant?.modelVersion !== undefined ? bound.variant(variant.modelVersion) : bound.active();
      },
      priceOf: async (itemId) => currentPrice(await ctx.catalog(), await models.active(), itemId),
      revenueCurrency: config.metrics.revenueCurrency,
    }),
    forgetDeps: () => ({ kv: env.RECS_KV, history, models, erasures: erasureQueue(env.ERASURE_JOBS), trending: ctx.trending }),
    // the request's own registry binding (not the experiment-pinned `models`: a refresh acts on what is active)
    refreshDeps: () => refreshDepsOf(env, config, bound),
    overviewDeps: () => ({
      kv: env.RECS_KV,
      bucket: env.MODELS,
      bundledManifest: async () => {
        const bytes = await (await bundledSource()).get(FILES.manifest);
        return bytes ? JSON.parse(new TextDecoder().decode(bytes)) : null;
      },
      experiments: () => listExperiments(experiments),
    }),
    modelInfoDeps: () => ({ models, kv: env.RECS_KV }),
    catalogStore,
    trending: trendingClient(env.TRENDING, config.trending),
    history,
    async catalog() {
      liveCatalog = (liveCatalog ?? new LiveCatalog(catalogStore, config.catalog)).use(catalogStore, config.catalog);
      await liveCatalog.ensureFresh(defer);
      return liveCatalog;
    },
    async shelf(model, filter, placementName) {
      const view = await ctx.catalog();
      const placement = placementName !== undefined ? placementRules(placementOr404(view, placementName)) : undefined;
      return shelfFor(model, view, filter, placement);
    },
  };
  return ctx;
}

/** The placement stored under `name`, or placement_not_found. */
function placementOr404(view: LiveCatalog, name: string) {
  const record = view.placement(name);
  if (!record) throw new AppError('placement_not_found', `no placement is named ${name} (PUT /admin/placements/${name} defines one)`);
  return record;
}

/** Puts the RequestContext in `c.var.ctx`, and sets `x-model-version` once the handler ran. */
export function requestContext(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const defer = (p: Promise<unknown>) => {
      try {
        c.executionCtx.waitUntil(p);
      } catch {
        void p; // no execution context (app.request in unit tests): let it run unawaited
      }
    };
    const ctx = createRequestContext(c.env, defer);
    c.set('ctx', ctx);
    const started = Date.now();
    try {
      await next();
      if (ctx.servedVersion) c.header('x-model-version', ctx.servedVersion);
    } finally {
      // Deployed, the clock advances only across I/O, so this is the time spent waiting on storage,
      // models and other objects, not the CPU time between: see the README on latency.
      // counted after the response, in a batch per isolate (storage/metrics.ts)
      // the route that answered; when a middleware answered first (a 401 of the bearer check, a
      // 413), the route the request was for: the first handler of a method after that middleware
      const routes = matchedRoutes(c);
      const route = routes.slice(c.req.routeIndex).find((r) => r.method !== 'ALL');
      const request = {
        route: route ? `${route.method} ${route.path}` : 'unmatched',
        status: c.res.status,
        latencyMs: Date.now() - started,
        at: started,
      };
      // a HEAD answer has no body: nobody is shown its items or gets its recId
      const served = c.res.status < 300 && c.req.method !== 'HEAD' ? ctx.served : null;
      defer(ctx.metrics.record(request, served));
    }
  };
}
