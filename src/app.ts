/**
 * The Hono application: one request context per request (config, models, dependencies), routes
 * mounted with app.route(), one error handler with a stable JSON shape, and the OpenAPI document
 * generated from the schemas the routes validate with.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import type { Config } from './config';
import { type AppEnv, requestContext } from './context';
import { AppError, type ErrorCode, errorBody } from './errors';
import { PAGE_CSP } from './pages/assets';
import { dashboard } from './pages/dashboard';
import { demo } from './pages/demo';
import { renderDocs } from './pages/docs';
import { admin } from './routes/admin';
import { requireBearer } from './routes/auth';
import { events } from './routes/events';
import { insights } from './routes/insights';
import { items } from './routes/items';
import { health, model } from './routes/model';
import { recommendations } from './routes/recommendations';
import { type LimitName, NoQuery } from './schemas';

/** Largest accepted request body; bigger ones get 413 before any parsing. */
export const MAX_BODY_BYTES = 64 * 1024;

type Issue = { code?: string; path?: PropertyKey[]; message?: string; keys?: string[]; errors?: Issue[][] };

/**
 * The issue to report for a union that matched no branch (a single event or a batch): the
 * branch the client evidently meant — the one that did not fail on unknown or missing top-level
 * fields — so a bad event says what is wrong with it, not just "Invalid input".
 */
function meantBranch(union: Issue): Issue {
  const branches = union.errors ?? [];
  const shapeOnly = (b: Issue[]) =>
    b.some(
      (i) => i.code === 'unrecognized_keys' || (i.path?.length === 1 && i.code === 'invalid_type' && i.message?.includes('undefined')),
    );
  const meant = branches.find((b) => !shapeOnly(b)) ?? branches.find((b) => !b.some((i) => i.code === 'unrecognized_keys')) ?? branches[0];
  return meant?.[0] ?? union;
}

/** Turns the first schema-validation issue into the service's error. */
function validationError(first: Issue | undefined): AppError {
  const issue = first?.code === 'invalid_union' ? meantBranch(first) : first;
  const where = issue?.path?.length ? `${issue.path.join('.')}: ` : '';
  const message = issue?.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys?.join(', ')}` : issue?.message;
  const code: ErrorCode = issue?.path?.[0] === 'k' ? 'k_out_of_range' : 'invalid_request';
  return new AppError(code, `${where}${message ?? 'invalid request'}`);
}

/**
 * The OpenAPI document as this deployment enforces it: every bound marked `x-limit` in the
 * schemas (a hard ceiling there) becomes the configured value, and the mark is removed.
 */
function withConfiguredLimits(doc: unknown, config: Config): unknown {
  if (Array.isArray(doc)) return doc.map((d) => withConfiguredLimits(d, config));
  if (!doc || typeof doc !== 'object') return doc;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) if (k !== 'x-limit') out[k] = withConfiguredLimits(v, config);
  const name = (doc as Record<string, unknown>)['x-limit'] as LimitName | undefined;
  if (name) {
    const limits: Record<LimitName, number> = {
      maxK: config.maxK,
      maxBasketItems: config.maxBasketItems,
      maxCandidates: config.maxCandidates,
      maxEventsPerBatch: config.maxEventsPerBatch,
      maxCatalogBatch: config.catalog.maxBatch,
    };
    if (out.type === 'array') out.maxItems = limits[name];
    else out.maximum = limits[name];
  }
  return out;
}

/** Methods that have a route for `path`, for a 405's Allow header (HEAD goes with GET). */
function allowedMethods(routes: readonly { method: string; path: string }[], path: string): string[] {
  const allowed = new Set<string>();
  for (const r of routes) {
    if (r.method === 'ALL' || r.path.includes('*')) continue;
    const pattern = new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\/:[^/]+/g, '/[^/]+')}/?$`);
    if (pattern.test(path)) allowed.add(r.method);
  }
  if (allowed.has('GET')) allowed.add('HEAD');
  return [...allowed].sort();
}

export function createApp() {
  const defaultHook = (result: { success: boolean; error?: { issues: unknown[] } }) => {
    if (!result.success) throw validationError(result.error?.issues[0] as Issue | undefined);
  };
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  app.use(requestContext());
  // browsers on the shop's own origins (CORS_ALLOWED_ORIGINS; none by default) may call the API
  app.use('/v1/*', async (c, next) => {
    const allowed = c.var.ctx.config.corsAllowedOrigins;
    if (allowed.length === 0) return next();
    return cors({
      origin: (origin) => (allowed.includes('*') || allowed.includes(origin) ? origin : null),
      allowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
      allowHeaders: ['authorization', 'content-type'],
      exposeHeaders: ['x-model-version', 'location'],
      maxAge: 600,
    })(c, next);
  });
  // bodies are small, except a catalogue batch (PUT /v1/items has its own, configured limit)
  const smallBodies = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new AppError('payload_too_large', `request body exceeds ${MAX_BODY_BYTES} bytes`);
    },
  });
  app.use('/v1/*', (c, next) => (c.req.method === 'PUT' && c.req.path === '/v1/items' ? next() : smallBodies(c, next)));
  app.use('/admin/*', smallBodies);
  // Reads are public unless REQUIRE_API_KEY_FOR_READS = "true"; writes always need the key.
  const readGuard = requireBearer('apiKey');
  app.use('/v1/*', async (c, next) => (c.var.ctx.config.requireApiKeyForReads ? readGuard(c, next) : next()));

  const v1 = new OpenAPIHono<AppEnv>({ defaultHook });
  v1.route('/', recommendations);
  v1.route('/', items);
  v1.route('/', model);
  v1.route('/', events);
  app.route('/v1', v1);
  app.route('/', health);
  // The dashboard page (GET /admin, exactly) before the admin routers: their `/admin/*` bearer
  // middleware matches `/admin` too, and the page — which holds no data — must open without a
  // token (the operator types it into the page). A handler that answers ends the chain, so the
  // middleware registered after it never runs for this one route; every data route keeps it.
  app.route('/', dashboard);
  app.route('/', admin);
  app.route('/', insights);
  app.route('/', demo);

  const docConfig = {
    openapi: '3.1.0',
    info: {
      title: 'Edge recommendation API',
      version: '1',
      description: 'Personalised product recommendations scored at the edge (iALS factors, onnxruntime-web).',
    },
  };
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  let generated: unknown;
  const document = (config: Config) => {
    generated ??= app.getOpenAPI31Document(docConfig);
    return withConfiguredLimits(generated, config);
  };
  // like every route, these take no parameters they do not know (none at all)
  const noQuery: MiddlewareHandler<AppEnv> = async (c, next) => {
    const checked = NoQuery.safeParse(c.req.query());
    if (!checked.success) throw validationError(checked.error.issues[0] as Issue);
    await next();
  };
  app.get('/openapi.json', noQuery, (c) => c.json(document(c.var.ctx.config) as object));
  app.get('/docs', noQuery, (c) => {
    c.header('content-security-policy', PAGE_CSP);
    c.header('x-content-type-options', 'nosniff');
    return c.html(renderDocs(document(c.var.ctx.config) as never));
  });

  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    const allowed = allowedMethods(app.routes, path);
    // a route of this method matched but found nothing (an unknown asset): that is a 404
    if (allowed.length && !allowed.includes(c.req.method)) {
      c.header('allow', allowed.join(', '));
      return c.json(errorBody('method_not_allowed', `${c.req.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`), 405);
    }
    return c.json(errorBody('not_found', `no route for ${c.req.method} ${path}`), 404);
  });

  app.onError((err, c) => {
    if (err instanceof AppError) {
      if (err.status >= 500) console.error(`${err.code}: ${err.message}`);
      return c.json(errorBody(err.code, err.message), err.status);
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      const message = err.message || 'bad request';
      const code: ErrorCode = /json/i.test(message)
        ? 'malformed_json'
        : status === 413
          ? 'payload_too_large'
          : status === 415
            ? 'unsupported_media_type'
            : 'invalid_request';
      if (status >= 500) console.error(err);
      return c.json(errorBody(code, message), status as 400);
    }
    console.error(err);
    return c.json(errorBody('internal', 'internal error'), 500);
  });
  return app;
}
