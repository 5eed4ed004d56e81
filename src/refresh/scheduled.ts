/** Cron trigger: one refresh run per invocation (see refresh.ts). */
import { configFrom } from '../config';
import { refreshModel } from './refresh';

export function refreshDeps(env: Env) {
  return {
    kv: env.RECS_KV,
    bucket: env.MODELS,
    config: configFrom(env),
    keepVersions: Math.max(1, Number(env.KEEP_PREVIOUS_VERSIONS) || 2),
  };
}

export const scheduled: ExportedHandlerScheduledHandler<Env> = async (_controller, env, ctx) => {
  ctx.waitUntil(refreshModel(refreshDeps(env)));
};
