/** Model information and health. */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../context';
import { Health, ModelInfo, NoQuery } from '../schemas';
import { describeModel } from '../services/model-info';
import { errors, json } from './responses';

export const model = new OpenAPIHono<AppEnv>();

model.openapi(
  createRoute({
    method: 'get',
    path: '/model',
    summary: 'The active model: version, training time, dims, item count, metrics, refresh status',
    request: { query: NoQuery },
    responses: { 200: { description: 'active model', ...json(ModelInfo) }, ...errors({ model: true }) },
  }),
  async (c) => {
    const { ctx } = c.var;
    return c.json(await describeModel(ctx.modelInfoDeps()), 200);
  },
);

export const health = new OpenAPIHono<AppEnv>();

health.openapi(
  createRoute({
    method: 'get',
    path: '/healthz',
    summary: 'Liveness, with the model version this isolate serves',
    request: { query: NoQuery },
    responses: { 200: { description: 'ok', ...json(Health) }, 400: errors()[400] },
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
