/** Cron trigger: one model refresh run (refresh.ts) and the compaction of closed event-export windows. */
import { configFrom } from '../config';
import { httpOrigin, r2Origin } from './origin';
import { refreshModel, type RefreshDeps } from './refresh';
import { compactExports } from '../events/exports';
import { registry } from '../serving/registry';

const ETAG_PREFIX = 'origin:etag:';

export function refreshDeps(env: Env, fetchImpl?: typeof fetch): RefreshDeps {
  const int = (v: string | undefined, d: number) => (Number.isInteger(Number(v)) && Number(v) > 0 ? Number(v) : d);
  const origin = env.ORIGIN_URL
    ? httpOrigin(env.ORIGIN_URL, {
        fetch: fetchImpl,
        timeoutMs: int(env.ORIGIN_TIMEOUT_MS, 10_000),
        attempts: int(env.ORIGIN_ATTEMPTS, 3),
        backoffMs: int(env.ORIGIN_BACKOFF_MS, 500),
        token: env.ORIGIN_TOKEN,
        etags: {
          get: (key) => env.RECS_KV.get(ETAG_PREFIX + key, 'json'),
          put: (key, v) => env.RECS_KV.put(ETAG_PREFIX + key, JSON.stringify(v)),
        },
      })
    : r2Origin(env.MODELS);
  return {
    kv: env.RECS_KV,
    bucket: env.MODELS,
    origin,
    config: configFrom(env),
    keepVersions: int(env.KEEP_PREVIOUS_VERSIONS, 2),
    opsPerRun: int(env.REFRESH_OPS_PER_RUN, 800),
    models: registry,
  };
}

export const scheduled: ExportedHandlerScheduledHandler<Env> = async (controller, env, ctx) => {
  ctx.waitUntil(refreshModel(refreshDeps(env)));
  ctx.waitUntil(compactExports(env.MODELS, env.RECS_KV, Number(env.EXPORT_WINDOW_SECONDS) || 3600, controller.scheduledTime));
};
