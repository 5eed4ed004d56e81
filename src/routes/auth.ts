/**
 * Bearer-token checks for admin and write endpoints. Tokens are compared in constant time over
 * their SHA-256 digests, so neither the content nor the length of the secret leaks through timing.
 */
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { AppEnv } from '../context';
import { AppError } from '../errors';

async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));
}

export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < da.length; i++) diff |= da[i] ^ db[i];
  return diff === 0;
}

function presented(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return m?.[1].trim();
}

/**
 * Requires `Authorization: Bearer <secret>` where the secret is the named Worker secret.
 * An unset secret locks the endpoint (503 would leak configuration; 401 says what to send).
 * A request no route of its method answers passes through untouched: there is nothing to guard,
 * and the app's not-found handler answers it (405 with Allow for a known path, else 404) —
 * a wrong method is a 405 whoever sends it, and a CORS preflight is not refused for its token.
 */
export function requireBearer(secret: 'adminToken' | 'apiKey'): MiddlewareHandler<AppEnv> {
  const name = secret === 'adminToken' ? 'ADMIN_TOKEN' : 'API_KEY';
  return async (c, next) => {
    if (!matchedRoutes(c).some((r) => r.method !== 'ALL')) return next();
    const expected = c.var.ctx.config.secrets[secret];
    const given = presented(c.req.header('authorization'));
    if (!expected || !given || !(await constantTimeEqual(given, expected))) {
      c.header('www-authenticate', 'Bearer');
      throw new AppError('unauthorized', `missing or wrong credentials: send Authorization: Bearer <token> (the ${name} secret)`);
    }
    await next();
  };
}
