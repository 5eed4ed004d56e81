/**
 * The composition root: builds, from the Worker's environment, the plain dependency objects that
 * services take — once per request for HTTP (a Hono middleware puts a typed RequestContext in
 * `c.var.ctx`), once per run for the cron. Routes read the context; services never see Hono.
 *
 * The context also records which model version answered, and the middleware sets the
 * `x-model-version` header from it once, after the handler.
 */
import type { MiddlewareHandler } from 'hono';
import { type Config, configFrom } from './config';
import { AppError } from './errors';
import { bundledSource } from './models/bundled';
import { LiveCatalog } from './models/live-catalog';
import type { ServingModel } from './models/model';
import { bindRegistry, type Models, registry } from './models/registry';
import type { EventDeps } from './services/events';
import type { ForgetDeps } from './services/forget';
import { type ItemFilter, type Placement, placementRules } from './services/merchandising';
import type { RefreshDeps } from './services/refresh';
import { type Shelf, shelfFor } from './services/shelf';
import { resolveUser, type UserDeps, type UserRecord } from './services/users';
import { type CatalogClient, catalogClient } from './storage/catalog-store';
import { erasureQueue } from './storage/erasure-jobs';
import { type HistoryStore, historyStore } from './storage/history';
import { identify, type UserIdentity } from './storage/identity';
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
  /** the model and user vector that serve `userId` (services/users.ts resolveUser) */
  userFor(userId: string): Promise<{ model: ServingModel; user: UserRecord | null }>;
  eventDeps(): EventDeps;
  forgetDeps(): ForgetDeps;
  refreshDeps(): RefreshDeps;
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
  return { ...storageOf(env), origin: originFrom(config.origin, storageOf(env), fetchImpl), config, models: modelsOf(env, config) };
}

export function createRequestContext(env: Env, defer: (p: Promise<unknown>) => void): RequestContext {
  const config = configFrom(env);
  const bound = modelsOf(env, config);
  let active: Promise<ServingModel> | undefined;
  // the active model is loaded once per request, and whatever answers records its version
  const models: Models = {
    ...bound,
    async active() {
      active ??= bound.active();
      const model = await active;
      ctx.servedVersion = model.version;
      return model;
    },
  };
  const store: UserStore = { kv: env.RECS_KV, ttlSeconds: config.userEmbeddingTtlSeconds, cacheSeconds: config.userCacheSeconds, defer };
  const history: HistoryStore = historyStore(env.USER_HISTORY, config.userEmbeddingTtlSeconds);
  const users: UserDeps = { models, store, history };
  const identifyUser = (userId: string) => identify(config.secrets.userIdSecret, userId);
  const store_ = catalogClient(env.CATALOG, env.MODELS);
  const ctx: RequestContext = {
    config,
    models,
    users,
    identify: identifyUser,
    servedVersion: undefined,
    activeModel: () => models.active(),
    async userFor(userId) {
      const found = await resolveUser(users, await identifyUser(userId));
      ctx.servedVersion = found.model.version;
      return found;
    },
    eventDeps: () => ({
      ...users,
      bucket: env.MODELS,
      identify: identifyUser,
      eventWeights: config.eventWeights,
      maxEventsPerBatch: config.maxEventsPerBatch,
      exportWindowSeconds: config.exportWindowSeconds,
      trending: ctx.trending,
      inCatalog: async (itemId) => {
        const r = await (await ctx.catalog()).record(itemId);
        return r !== null && !r.deleted;
      },
    }),
    forgetDeps: () => ({ kv: env.RECS_KV, history, models, erasures: erasureQueue(env.ERASURE_JOBS) }),
    refreshDeps: () => refreshDeps(env),
    catalogStore: store_,
    trending: trendingClient(env.TRENDING, config.trending),
    history,
    async catalog() {
      liveCatalog = (liveCatalog ?? new LiveCatalog(store_, config.catalog)).use(store_, config.catalog);
      await liveCatalog.ensureFresh(defer);
      return liveCatalog;
    },
    async shelf(model, filter, placementName) {
      const view = await ctx.catalog();
      let placement: Placement | undefined;
      if (placementName !== undefined) {
        const record = view.placement(placementName);
        if (!record)
          throw new AppError(
            'placement_not_found',
            `no placement is named ${placementName} (PUT /admin/placements/${placementName} defines one)`,
          );
        placement = placementRules(record);
      }
      return shelfFor(model, view, filter, placement);
    },
  };
  return ctx;
}

/** Puts the RequestContext in `c.var.ctx`, and sets `x-model-version` once the handler ran. */
export function requestContext(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const ctx = createRequestContext(c.env, (p) => {
      try {
        c.executionCtx.waitUntil(p);
      } catch {
        void p; // no execution context (app.request in unit tests): let it run unawaited
      }
    });
    c.set('ctx', ctx);
    await next();
    if (ctx.servedVersion) c.header('x-model-version', ctx.servedVersion);
  };
}
