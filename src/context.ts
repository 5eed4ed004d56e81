/** Builds the plain dependency objects that serving functions take, from a Hono context. */
import type { Context } from 'hono';
import { configFrom, type Config } from './config';
import { bundledSource } from './serving/bundled';
import { registry, type RegistryDeps } from './serving/registry';
import type { ServingModel } from './serving/model';
import type { UserStoreDeps } from './serving/users';
import { identify, type UserIdentity } from './events/identity';
import { resolveUser, type HistoryDeps } from './events/personalize';

export type AppEnv = { Bindings: Env };

export function config(c: Context<AppEnv>): Config {
  return configFrom(c.env);
}

export function registryDeps(env: Env): RegistryDeps {
  return { kv: env.RECS_KV, bucket: env.MODELS, config: configFrom(env), bundled: bundledSource };
}

export function activeModel(c: Context<AppEnv>): Promise<ServingModel> {
  return registry.active(registryDeps(c.env));
}

export function defer(c: Context<AppEnv>): (p: Promise<unknown>) => void {
  return (p) => {
    try {
      c.executionCtx.waitUntil(p);
    } catch {
      void p; // no execution context (app.request in unit tests): let it run unawaited
    }
  };
}

export function userStore(c: Context<AppEnv>): UserStoreDeps {
  const cfg = config(c);
  return { kv: c.env.RECS_KV, ttlSeconds: cfg.userEmbeddingTtlSeconds, cacheSeconds: cfg.userCacheSeconds, defer: defer(c) };
}

export function identity(c: Context<AppEnv>, userId: string): Promise<UserIdentity> {
  return identify(c.env.USER_ID_SECRET, userId);
}

export function historyStub(env: Env, userKey: string) {
  return env.USER_HISTORY.get(env.USER_HISTORY.idFromName(userKey));
}

export function historyDeps(env: Env): HistoryDeps {
  const ttl = configFrom(env).userEmbeddingTtlSeconds;
  return {
    get: (userKey) => historyStub(env, userKey).history(),
    storeEmbedding: async (userKey, kvKey, revision, value) => {
      await historyStub(env, userKey).storeEmbedding(kvKey, revision, value, ttl);
    },
  };
}

/** The model and user record that serve `userId` in this request (see resolveUser). */
export async function userFor(c: Context<AppEnv>, userId: string) {
  return resolveUser(registryDeps(c.env), userStore(c), historyDeps(c.env), await identity(c, userId));
}
