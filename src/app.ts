/**
 * The Hono application: one request context per request (config, models, dependencies), routes
 * mounted with app.route(), one error handler with a stable JSON shape, and the OpenAPI document
 * generated from the schemas the routes validate with.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
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
import { kMessage, type LimitName, NoQuery } from './schemas';

/** Largest accepted request body; bigger ones get 413 before any parsing. */
export const MAX_BODY_BYTES = 64 * 1024;

type Issue = {
  code?: string;
  path?: PropertyKey[];
  message?: string;
  keys?: string[];
  expected?: string;
  origin?: string;
  maximum?: number | bigint;
  errors?: Issue[][];
  input?: unknown;
};

const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/**
 * The issue to report for a union that matched no branch (a single event or a batch, a value of
 * several types, a parameter given once or repeated), with the union's own path in front of the
 * branch's: the branch the client evidently meant — one whose type matched and that did not fail
 * on unknown or missing top-level fields — so a bad event says what is wrong with it, not just
 * "Invalid input". When every branch failed on the type itself, the issue lists the types.
 */
function meantBranch(union: Issue): Issue {
  const branches = union.errors ?? [];
  const typeOnly = (b: Issue[]) => b.length > 0 && b.every((i) => i.code === 'invalid_type' && !i.path?.length);
  const shapeOnly = (b: Issue[]) =>
    b.some(
      (i) => i.code === 'unrecognized_keys' || (i.path?.length === 1 && i.code === 'invalid_type' && i.message?.includes('undefined')),
    );
  if (branches.length && branches.every(typeOnly)) {
    const expected = [...new Set(branches.flatMap((b) => b.map((i) => i.expected).filter(Boolean)))];
    const list = expected.length > 1 ? `${expected.slice(0, -1).join(', ')} or ${expected.at(-1)}` : (expected[0] ?? 'another type');
    const received = /received (\w+)/.exec(branches[0][0].message ?? '')?.[1] ?? kind(union.input);
    return { ...union, code: 'invalid_type', message: `expected ${list}, received ${received}` };
  }
  const meant =
    branches.find((b) => !typeOnly(b) && !shapeOnly(b)) ??
    branches.find((b) => !typeOnly(b) && !b.some((i) => i.code === 'unrecognized_keys')) ??
    branches.find((b) => !typeOnly(b)) ??
    branches[0];
  const first = meant?.[0];
  if (!first) return union;
  const issue = { ...first, path: [...(union.path ?? []), ...(first.path ?? [])] };
  return issue.code === 'invalid_union' ? meantBranch(issue) : issue;
}

/**
 * The configured limit on a request's top-level list, by field (the schemas hold only a hard
 * ceiling above it; the routes check the configured limit — unless the ceiling fails first).
 */
function listLimit(field: PropertyKey | undefined, method: string, path: string, config: Config): number | undefined {
  const name = field === 'items' && method === 'PUT' && path === '/v1/items' ? 'maxCatalogBatch' : LIST_LIMITS[String(field)];
  return name && configuredLimit(name, config);
}

/** The configured limit of each list field a body may carry (`items` of PUT /v1/items: the catalogue batch). */
const LIST_LIMITS: Partial<Record<string, LimitName>> = {
  events: 'maxEventsPerBatch',
  candidates: 'maxCandidates',
  items: 'maxBasketItems',
  weights: 'maxBasketItems',
};

/** The deployment's value of a limit the schemas mark with `x-limit` (the one table of them). */
function configuredLimit(name: LimitName, config: Config): number {
  const limits: Record<LimitName, number> = {
    maxK: config.maxK,
    maxBasketItems: config.maxBasketItems,
    maxCandidates: config.maxCandidates,
    maxEventsPerBatch: config.maxEventsPerBatch,
    maxCatalogBatch: config.catalog.maxBatch,
  };
  return limits[name];
}

/** Turns the first schema-validation issue into the service's error. */
function validationError(first: Issue | undefined, request?: { method: string; path: string; config: Config }): AppError {
  const issue = first?.code === 'invalid_union' ? meantBranch(first) : first;
  // a list over the schema's ceiling is over the configured limit too: the same error as just above it
  if (issue?.code === 'too_big' && issue.origin === 'array' && issue.path?.length === 1 && request) {
    const limit = listLimit(issue.path[0], request.method, request.path, request.config);
    if (limit !== undefined)
      return new AppError('too_many_items', `${String(issue.path[0])} has more than ${issue.maximum} entries; the limit is ${limit}`);
  }
  // every k that is not a whole number from 1 to MAX_K, malformed or out of range, in a query or a
  // body: one code and one message, the one the route gives for k above MAX_K (routes/limits.ts)
  if (issue?.path?.length === 1 && issue.path[0] === 'k' && request) return new AppError('k_out_of_range', kMessage(request.config.maxK));
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
    if (out.type === 'array') out.maxItems = configuredLimit(name, config);
    else out.maximum = configuredLimit(name, config);
  }
  return out;
}

/** Methods that have a route for `path`, for a 405's Allow header (HEAD goes with GET). */
function allowedMethods(routes: readonly { method: string; path: string }[], path: string): string[] {
  const allowed = new Set<string>();
  for (const r of routes) {
    if (r.method === 'ALL' || r.path.includes('*')) continue;
    // no trailing slash: the router does not take one either (`/v1/model/` is a 404, not a 405)
    const pattern = new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\/:[^/]+/g, '/[^/]+')}$`);
    if (pattern.test(path)) allowed.add(r.method);
  }
  if (allowed.has('GET')) allowed.add('HEAD');
  return [...allowed].sort();
}

/** A documented operation as method + path pattern, and what it says about a request body and credentials. */
interface BodyRule {
  method: string;
  pattern: RegExp;
  body: 'none' | 'optional' | 'required';
  /** the token the operation needs (its `security`), checked before its body is judged */
  token: 'adminToken' | 'apiKey' | null;
}

/** Each documented operation, with whether it takes a JSON body and whether it must have one. */
function bodyRules(definitions: readonly unknown[]): BodyRule[] {
  const out: BodyRule[] = [];
  for (const d of definitions as {
    type?: string;
    route?: { method: string; path: string; security?: unknown[]; request?: { body?: { required?: boolean } } };
  }[]) {
    if (d.type !== 'route' || !d.route) continue;
    const body = d.route.request?.body;
    const path = d.route.path.replace(/[.+?^$()|[\]\\]/g, '\\$&').replace(/\{[^/}]+\}/g, '[^/]+');
    out.push({
      method: d.route.method.toUpperCase(),
      pattern: new RegExp(`^${path}$`),
      body: !body ? 'none' : body.required ? 'required' : 'optional',
      token: d.route.security?.length ? (d.route.path.startsWith('/admin') ? 'adminToken' : 'apiKey') : null,
    });
  }
  return out;
}

/** Whether a request carries a body (a length above 0, or one sent in chunks). */
function hasBody(c: Context<AppEnv>): boolean {
  const length = c.req.header('content-length');
  return (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined;
}

export function createApp() {
  const defaultHook = (result: { success: boolean; error?: { issues: unknown[] } }, c: Context<AppEnv>) => {
    if (!result.success)
      throw validationError(result.error?.issues[0] as Issue | undefined, {
        method: c.req.method,
        path: c.req.path,
        config: c.var.ctx.config,
      });
  };
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  app.use(requestContext());
  // browsers on the shop's own origins (CORS_ALLOWED_ORIGINS; none by default) may call the API —
  // first, so every answer they get, the refusals of the checks below included, is readable
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
  // a path that is not valid percent-encoding (%FF, a lone %) names nothing: the router would keep
  // it raw and look the literal text up as an id, answering 404 for a client's encoding mistake
  // — and the same of the query string, where a parameter without a name (`?=1`) is refused like
  // an unknown one rather than silently ignored
  app.use(async (c, next) => {
    const url = new URL(c.req.url);
    const raw = url.pathname;
    if (raw.includes('%'))
      try {
        decodeURIComponent(raw);
      } catch {
        throw new AppError(
          'invalid_request',
          'the path is not valid percent-encoding (UTF-8 bytes as %XX); encode ids with encodeURIComponent',
        );
      }
    for (const part of url.search.slice(1).split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      if (eq === 0) throw new AppError('invalid_request', `query parameter "${part.slice(0, 64)}" has no name`);
      try {
        decodeURIComponent(part.replace(/\+/g, ' '));
      } catch {
        throw new AppError(
          'invalid_request',
          `query parameter ${part.slice(0, eq < 0 ? undefined : eq).slice(0, 64)} is not valid percent-encoding (UTF-8 bytes as %XX); encode values with encodeURIComponent`,
        );
      }
    }
    return next();
  });
  // A route whose JSON body is required gets a 400 for a request with none: the validator would
  // otherwise read a missing body as {} — for PUT /admin/placements/{name}, a placement with no
  // rules, silently replacing the stored one. (A body of another type is a 415 from the validator.)
  // And a route that takes no body refuses one rather than act while ignoring it
  // (`POST /admin/rollback {"to": "v1"}` would roll back to whatever is newest).
  let rules: ReturnType<typeof bodyRules> | undefined;
  const ruleFor = (c: Context<AppEnv>) => {
    rules ??= bodyRules(app.openAPIRegistry.definitions);
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
    return rules.find((r) => r.method === method && r.pattern.test(c.req.path));
  };
  app.use(async (c, next) => {
    const path = c.req.path;
    const rule = ruleFor(c);
    let problem: AppError | undefined;
    if (rule?.body === 'none' && hasBody(c))
      problem = new AppError('invalid_request', `${c.req.method} ${path} takes no request body; send it without one`);
    if (rule?.body === 'required' && !c.req.header('content-type'))
      problem = new AppError('invalid_request', `${c.req.method} ${path} needs a JSON body (content-type: application/json)`);
    if (!problem) return next();
    // credentials first, as the route itself would: a request without them learns nothing about its body
    const refuse = async () => {
      throw problem;
    };
    return rule?.token ? requireBearer(rule.token)(c, refuse) : refuse();
  });
  // bodies are small, except a catalogue batch (PUT /v1/items has its own, configured limit)
  const smallBodies = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new AppError('payload_too_large', `request body exceeds ${MAX_BODY_BYTES} bytes`);
    },
  });
  // only where a body is taken: elsewhere a body is a 400 (above), and a wrong method a 405 (below)
  const takesBody = (c: Context<AppEnv>) => (ruleFor(c)?.body ?? 'none') !== 'none';
  app.use('/v1/*', (c, next) => (takesBody(c) && !(c.req.method === 'PUT' && c.req.path === '/v1/items') ? smallBodies(c, next) : next()));
  app.use('/admin/*', (c, next) => (takesBody(c) ? smallBodies(c, next) : next()));
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
