/** Cron trigger: one model refresh run and the compaction of closed event-export windows. */
import { configFrom } from './config';
import { refreshDeps } from './context';
import { refreshModel } from './services/refresh';
import { compactExports } from './storage/exports';

export const scheduled: ExportedHandlerScheduledHandler<Env> = async (controller, env, ctx) => {
  const config = configFrom(env);
  ctx.waitUntil(refreshModel(refreshDeps(env)));
  ctx.waitUntil(
    compactExports(env.MODELS, env.RECS_KV, config.exportWindowSeconds, controller.scheduledTime, { opsBudget: config.exportOpsPerRun }),
  );
};
