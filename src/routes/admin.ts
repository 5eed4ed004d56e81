/** Operator endpoints: refresh now, roll back. Bearer ADMIN_TOKEN (a Worker secret). */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../context';
import { AppError } from '../errors';
import {
  BoolParam,
  NoQuery,
  PlacementInput,
  PlacementPath,
  PlacementView,
  PlacementWritten,
  RefreshReport,
  type StoredPlacement,
} from '../schemas';
import { deletePlacement, getPlacement, listPlacements, putPlacement } from '../services/catalog';
import { checkPlacementUnused } from '../services/experiments';
import { lastRefresh, refreshModel, rollback } from '../services/refresh';
import { requireBearer } from './auth';
import { errors, json } from './responses';

export const admin = new OpenAPIHono<AppEnv>();
admin.use('/admin/*', requireBearer('adminToken'));

const RefreshQuery = z
  .object({ force: BoolParam.optional().openapi({ description: 're-verify a version rejected before (true/false or 1/0)' }) })
  .strict();

admin.openapi(
  createRoute({
    method: 'post',
    path: '/admin/refresh',
    summary: 'Run a model refresh now (same as the cron)',
    security: [{ bearer: [] }],
    request: { query: RefreshQuery },
    responses: {
      200: { description: 'refresh outcome, with operator detail', ...json(RefreshReport) },
      ...errors(),
    },
  }),
  async (c) => {
    const status = await refreshModel(c.var.ctx.refreshDeps(), { force: c.req.valid('query').force === true });
    return c.json(status, 200);
  },
);

admin.openapi(
  createRoute({
    method: 'get',
    path: '/admin/refresh',
    summary: "The last refresh run in full (operator detail), and the active version's damaged files with why",
    security: [{ bearer: [] }],
    request: { query: NoQuery },
    responses: {
      200: {
        description: 'last run (null before the first) and damage record',
        ...json(
          z.object({
            last: z.union([RefreshReport, z.null()]),
            damaged: z.record(z.string(), z.object({ reason: z.string(), at: z.string() })),
          }),
        ),
      },
      ...errors(),
    },
  }),
  async (c) => c.json(await lastRefresh(c.var.ctx.refreshDeps()), 200),
);

admin.openapi(
  createRoute({
    method: 'post',
    path: '/admin/rollback',
    summary: 'Switch back to the previous good version',
    description:
      'The newest kept previous version that loads becomes active (one that cannot, its files deleted or damaged since, is passed over and listed in `skipped`); with none, the bundled model serves again (unless SERVE_BUNDLED_MODEL is "false"). The version rolled back from is not re-activated by the cron.',
    security: [{ bearer: [] }],
    request: { query: NoQuery },
    responses: {
      200: {
        description: 'now active',
        ...json(
          z.object({
            version: z.string(),
            previous: z.array(z.string()),
            skipped: z
              .array(z.object({ version: z.string(), reason: z.string() }))
              .optional()
              .openapi({
                description: 'kept versions passed over because they cannot be loaded (files deleted or damaged since); no longer kept',
              }),
          }),
        ),
      },
      ...errors({ conflict: 'there is no previous version to roll back to' }),
    },
  }),
  async (c) => {
    const { to, skipped } = await rollback(c.var.ctx.refreshDeps());
    if (!to)
      throw new AppError(
        'nothing_to_roll_back',
        `there is no previous version to roll back to${skipped.length ? ` that can be loaded (${skipped.map((x) => `${x.version}: ${x.reason}`).join('; ')})` : ''}`,
      );
    return c.json({ version: to.version, previous: to.previous, ...(skipped.length ? { skipped } : {}) }, 200);
  },
);

const placementView = (p: StoredPlacement) => ({ ...p, updatedAt: new Date(p.updatedAt).toISOString() });

const placementDeps = async (ctx: AppEnv['Variables']['ctx']) => ({
  store: ctx.catalogStore,
  live: await ctx.catalog(),
  maxBatch: ctx.config.catalog.maxBatch,
  facetAttributes: ctx.config.catalog.facetAttributes,
});

admin.openapi(
  createRoute({
    method: 'put',
    path: '/admin/placements/{name}',
    summary: 'Define or replace a placement: default filter, boosts, pins, diversity cap, fallback, exploration slots',
    description:
      'Applied with ?placement=name (GET) or "placement": "name" (POST). Takes effect at once in this location and within CATALOG_MAX_STALE_SECONDS everywhere, without a deploy.',
    security: [{ bearer: [] }],
    request: { params: PlacementPath, query: NoQuery, body: { required: true, ...json(PlacementInput) } },
    responses: { 200: { description: 'stored', ...json(PlacementWritten) }, ...errors({ body: true }) },
  }),
  async (c) => {
    const { ctx } = c.var;
    // placements may be set up before any model serves: then only the catalogue says what exists
    const { placement, unknownItems } = await putPlacement(
      await placementDeps(ctx),
      await ctx.activeModelIfAny(),
      c.req.valid('param').name,
      c.req.valid('json'),
      Date.now(),
    );
    return c.json({ ...placementView(placement), ...(unknownItems.length ? { unknownItems } : {}) }, 200);
  },
);

admin.openapi(
  createRoute({
    method: 'get',
    path: '/admin/placements',
    summary: 'Every placement',
    security: [{ bearer: [] }],
    request: { query: NoQuery },
    responses: { 200: { description: 'placements by name', ...json(z.object({ placements: z.array(PlacementView) })) }, ...errors() },
  }),
  async (c) => c.json({ placements: (await listPlacements(await placementDeps(c.var.ctx))).map(placementView) }, 200),
);

admin.openapi(
  createRoute({
    method: 'get',
    path: '/admin/placements/{name}',
    summary: 'One placement, as the listing shows it',
    security: [{ bearer: [] }],
    request: { params: PlacementPath, query: NoQuery },
    responses: { 200: { description: 'the placement', ...json(PlacementView) }, ...errors({ notFound: 'no such placement' }) },
  }),
  async (c) => c.json(placementView(await getPlacement(await placementDeps(c.var.ctx), c.req.valid('param').name)), 200),
);

admin.openapi(
  createRoute({
    method: 'delete',
    path: '/admin/placements/{name}',
    summary: 'Delete a placement (requests naming it then get a 404)',
    description:
      'A placement a running experiment uses — as its scope, or as the rules of a variant — is not deleted: 409 `placement_in_use` names the experiment; stop it first.',
    security: [{ bearer: [] }],
    request: { params: PlacementPath, query: NoQuery },
    responses: {
      200: { description: 'deleted', ...json(z.object({ name: z.string(), deleted: z.literal(true) })) },
      ...errors({
        notFound: 'no such placement',
        conflict: 'placement_in_use: a running experiment uses the placement (the message names it); stop the experiment first',
      }),
    },
  }),
  async (c) => {
    const { name } = c.req.valid('param');
    await checkPlacementUnused(c.var.ctx.experiments, name);
    await deletePlacement(await placementDeps(c.var.ctx), name);
    return c.json({ name, deleted: true as const }, 200);
  },
);
