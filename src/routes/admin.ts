/** Operator endpoints: refresh now, roll back. Bearer ADMIN_TOKEN (a Worker secret). */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { requireBearer } from '../auth';
import { ApiError } from '../errors';
import type { AppEnv } from '../context';
import { ErrorResponse } from '../schemas';
import { refreshDeps } from '../refresh/scheduled';
import { refreshModel, rollback } from '../refresh/refresh';

export const admin = new OpenAPIHono<AppEnv>();
admin.use('/admin/*', requireBearer<AppEnv>('ADMIN_TOKEN'));

const RefreshResult = z
  .object({
    at: z.string(),
    outcome: z.enum(['activated', 'unchanged', 'rejected', 'staging', 'failed']),
    version: z.string().nullable(),
    reason: z.string().nullable(),
    ops: z.number().optional(),
  })
  .openapi('RefreshResult');

const RefreshQuery = z.object({ force: z.enum(['true', 'false']).optional().openapi({ description: 're-verify a version rejected before' }) }).strict();

admin.openapi(
  createRoute({
    method: 'post',
    path: '/admin/refresh',
    summary: 'Run a model refresh now (same as the cron)',
    security: [{ bearer: [] }],
    request: { query: RefreshQuery },
    responses: {
      200: { description: 'refresh outcome', content: { 'application/json': { schema: RefreshResult } } },
      401: { description: 'missing or wrong token', content: { 'application/json': { schema: ErrorResponse } } },
    },
  }),
  async (c) => {
    const status = await refreshModel(refreshDeps(c.env), { force: c.req.valid('query').force === 'true' });
    return c.json(status, 200);
  },
);

admin.openapi(
  createRoute({
    method: 'post',
    path: '/admin/rollback',
    summary: 'Switch back to the previous good version',
    security: [{ bearer: [] }],
    responses: {
      200: { description: 'now active', content: { 'application/json': { schema: z.object({ version: z.string(), previous: z.array(z.string()) }) } } },
      401: { description: 'missing or wrong token', content: { 'application/json': { schema: ErrorResponse } } },
      409: { description: 'nothing to roll back to', content: { 'application/json': { schema: ErrorResponse } } },
    },
  }),
  async (c) => {
    const result = await rollback(refreshDeps(c.env));
    if (!result) throw new ApiError(409, 'invalid_request', 'there is no previous version to roll back to');
    return c.json({ version: result.version, previous: result.previous }, 200);
  },
);
