/** Model information and health. */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../context';
import { errorResponses, Health, ModelInfo } from '../schemas';
import { readLastRefresh } from '../storage/refresh-state';

export const model = new OpenAPIHono<AppEnv>();

model.openapi(
  createRoute({
    method: 'get',
    path: '/model',
    summary: 'The active model: version, training time, dims, item count, metrics, refresh status',
    responses: { 200: { description: 'active model', content: { 'application/json': { schema: ModelInfo } } }, ...errorResponses },
  }),
  async (c) => {
    const { ctx } = c.var;
    const m = await ctx.activeModel();
    const [pointer, lastRefresh] = await Promise.all([ctx.models.pointer(), readLastRefresh(c.env.RECS_KV)]);
    const man = m.manifest;
    return c.json(
      {
        version: m.version,
        source: m.source.kind === 'bundled' ? ('bundled' as const) : ('origin' as const),
        trainedAt: man.createdAt,
        dims: man.dims,
        itemCount: man.itemCount,
        userCount: man.userCount,
        scoring: m.scorer.kind,
        modelBytes: m.memoryBytes,
        algorithm: man.trainer.algorithm,
        hyperparameters: man.trainer.hyperparameters,
        data: { source: man.data.source, sha256: man.data.sha256, users: man.data.users, items: man.data.items, interactions: man.data.interactions },
        metrics: man.metrics,
        previousVersions: pointer?.previous ?? [],
        lastRefresh,
      },
      200,
    );
  },
);

export const health = new OpenAPIHono<AppEnv>();

health.openapi(
  createRoute({
    method: 'get',
    path: '/healthz',
    summary: 'Liveness, with the model version this isolate serves',
    responses: { 200: { description: 'ok', content: { 'application/json': { schema: Health } } } },
  }),
  async (c) => {
    let version: string | null = null;
    try {
      version = (await c.var.ctx.activeModel()).version;
    } catch {
      version = null;
    }
    return c.json({ status: 'ok' as const, model: version }, 200);
  },
);
