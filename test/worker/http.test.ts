/**
 * What browsers see: CORS for the shop's own origins only (CORS_ALLOWED_ORIGINS, none by default)
 * with a correct preflight, and the HTML pages under a strict Content-Security-Policy.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';

const app = createApp();
const shop = { ...env, CORS_ALLOWED_ORIGINS: 'https://shop.example, https://www.shop.example' };
const preflight = (origin: string, e: Env) =>
  app.request(
    '/v1/recommendations',
    { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } },
    e,
  );

describe('CORS', () => {
  it('lets no other origin in by default', async () => {
    const res = await app.request('/v1/model', { headers: { origin: 'https://shop.example' } }, env);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight('https://shop.example', env)).headers.get('access-control-allow-origin')).toBeNull();
  });

  it("answers a configured origin's preflight and requests, and exposes the model version", async () => {
    const pre = await preflight('https://shop.example', shop);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')).toContain('content-type');
    const res = await app.request('/v1/model', { headers: { origin: 'https://www.shop.example' } }, shop);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://www.shop.example');
    expect(res.headers.get('access-control-expose-headers')).toContain('x-model-version');
  });

  it('lets the configured origin read every refusal too, those of the checks before any route included', async () => {
    const origin = 'https://shop.example';
    const refusals: [string, RequestInit, number][] = [
      ['/v1/items/%FF', {}, 400], // not percent-encoding
      ['/v1/events', { method: 'POST', body: '{}' }, 401], // no content type and no credentials
      ['/v1/events', { method: 'POST', headers: { authorization: 'Bearer test-api-key' } }, 400], // no body
      ['/v1/users/u-cors', { method: 'DELETE', headers: { authorization: 'Bearer test-api-key', 'content-length': '2' }, body: '{}' }, 400], // a body where none is taken
      ['/v1/popular?k=0', {}, 400],
      ['/v1/nowhere', {}, 404],
    ];
    for (const [path, init, status] of refusals) {
      const res = await app.request(path, { ...init, headers: { ...(init.headers as Record<string, string>), origin } }, shop);
      expect(res.status, path).toBe(status);
      expect(res.headers.get('access-control-allow-origin'), `${init.method ?? 'GET'} ${path}`).toBe(origin);
    }
  });

  it('refuses origins that are not configured', async () => {
    expect((await preflight('https://evil.example', shop)).headers.get('access-control-allow-origin')).toBeNull();
    const res = await app.request('/v1/model', { headers: { origin: 'https://evil.example' } }, shop);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('pages', () => {
  it('serve the docs and the demo with a CSP that allows only their own scripts and forbids framing', async () => {
    for (const path of ['/', '/docs']) {
      const res = await app.request(path, undefined, env);
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });
});
