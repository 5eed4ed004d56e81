/**
 * The Hono application: one request context per request (config, models, dependencies), routes
 * mounted with app.route(), one error handler with a stable JSON shape, and the OpenAPI document
 * generated from the schemas the routes validate with.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { type AppEnv, requestContext } from './context';
import { AppError, type ErrorCode, errorBody } from './errors';
import { demo } from './pages/demo';
import { renderDocs } from './pages/docs';
import { admin } from './routes/admin';
import { requireBearer } from './routes/auth';
import { events } from './routes/events';
import { items } from './routes/items';
import { health, model } from './routes/model';
import { recommendations } from './routes/recommendations';

/** Largest accepted request body; bigger ones get 413 before any parsing. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Turns the first schema-validation issue into the service's error. */
function validationError(issue: { code?: string; path?: PropertyKey[]; message?: string; keys?: string[] } | undefined): AppError {
  const where = issue?.path?.length ? `${issue.path.join('.')}: ` : '';
  const message = issue?.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys?.join(', ')}` : issue?.message;
  const code: ErrorCode = issue?.path?.[0] === 'k' ? 'k_out_of_range' : 'invalid_request';
  return new AppError(code, `${where}${message ?? 'invalid request'}`);
}

export function createApp() {
  const defaultHook = (result: { success: boolean; error?: { issues: unknown[] } }) => {
    if (!result.success) throw validationError(result.error?.issues[0] as Parameters<typeof validationError>[0]);
  };
  const app = new OpenAPIHono<AppEnv>({ defaultHook });

  app.use(requestContext());
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new AppError('payload_too_large', `request body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
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
  app.route('/', admin);
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
  app.doc31('/openapi.json', docConfig);
  app.get('/docs', (c) => c.html(renderDocs(app.getOpenAPI31Document(docConfig) as never)));

  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404));

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
