/** Model information and health. */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../context';
import { errorResponses, Health, ModelInfo } from '../schemas';
import { describeModel } from '../services/model-info';

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
    return c.json(await describeModel({ models: ctx.models, kv: c.env.RECS_KV }), 200);
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
