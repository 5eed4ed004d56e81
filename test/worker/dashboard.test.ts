/**
 * The operator dashboard's page: GET /admin opens without a token (it is a form and an empty frame,
 * no data), while every data route under /admin/ still answers 401 without the admin token; the page
 * runs only its own bundled script and stylesheet under the strict CSP.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { getJson } from './fixtures';

const ADMIN = { authorization: 'Bearer test-admin-token' };

describe('GET /admin (the dashboard page)', () => {
  it('answers 200 HTML without a token, while the data routes it reads answer 401 without one', async () => {
    const page = await SELF.fetch('http://x/admin');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain('<form id="token-form"');
    expect(html).toContain('<input id="token" type="password"');

    for (const path of ['/admin/overview', '/admin/traffic', '/admin/metrics?groupBy=placement', '/admin/experiments']) {
      const res = await SELF.fetch(`http://x${path}`);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect((await getJson(res)).error.code, path).toBe('unauthorized');
    }
    // "/admin/" is no route: neither the page nor data
    expect((await getJson(await SELF.fetch('http://x/admin/'))).error.code).toBe('not_found');
    // a wrong token is refused the same way (what the page shows its error message for)
    const wrong = await SELF.fetch('http://x/admin/overview', { headers: { authorization: 'Bearer not-the-token' } });
    expect(wrong.status).toBe(401);
    // and the right one reads the overview
    const right = await SELF.fetch('http://x/admin/overview', { headers: ADMIN });
    expect(right.status).toBe(200);
    expect(Object.keys(await getJson(right)).sort()).toEqual(['experiments', 'refreshLog', 'versions']);
  });

  it('holds no data and no secret: the same bytes with and without a token, and no admin token in them', async () => {
    const anonymous = await (await SELF.fetch('http://x/admin')).text();
    const withToken = await (await SELF.fetch('http://x/admin', { headers: ADMIN })).text();
    expect(withToken).toBe(anonymous);
    expect(anonymous).not.toContain('test-admin-token');
  });

  it('runs under the strict CSP with only its own script and stylesheet: no inline script or style, nothing external', async () => {
    const res = await SELF.fetch('http://x/admin');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    // every script has a src under /assets/, there is no <style> element and no style attribute
    expect([...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual(['<script type="module" src="/assets/dashboard.js">']);
    expect(html).not.toMatch(/<style\b/);
    expect(html).not.toMatch(/\sstyle=/);
    expect(html).not.toMatch(/\son[a-z]+=/);
    expect(html).not.toMatch(/https?:\/\//);

    const script = await SELF.fetch('http://x/assets/dashboard.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    const js = await script.text();
    // the bundled page script (with Chart.js in it) calls the admin routes
    expect(js).toContain('/admin/overview');
    expect(js).toContain('/admin/traffic');
    expect(js.length).toBeGreaterThan(100_000);
    const css = await SELF.fetch('http://x/assets/dashboard.css');
    expect(css.headers.get('content-type')).toMatch(/text\/css/);
  });

  it('opens only for GET: another method on /admin is a 405, with or without the token', async () => {
    for (const headers of [{}, { authorization: 'Bearer test-admin-token' }] as Record<string, string>[]) {
      const post = await SELF.fetch('http://x/admin', { method: 'POST', headers });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
    }
  });
});
