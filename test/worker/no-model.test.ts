/** With the bundled model switched off and nothing activated, the API says how to get a model. */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';
import { getJson } from './fixtures';

describe('no model loaded yet', () => {
  const app = createApp();
  const noBundled = { ...env, SERVE_BUNDLED_MODEL: 'false' };

  it('answers 503 with instructions on every scoring endpoint', async () => {
    for (const [path, init] of [
      ['/v1/users/17850/recommendations', undefined],
      ['/v1/items/85123A/similar', undefined],
      ['/v1/model', undefined],
      ['/v1/recommendations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"items":["85123A"]}' }],
    ] as const) {
      const res = await app.request(path, init, noBundled);
      expect(res.status).toBe(503);
      const body = await getJson(res);
      expect(body.error.code).toBe('no_model');
      expect(body.error.message).toMatch(/npm run publish/);
    }
  });

  it('refuses a k out of range as a 400 on every list endpoint before it needs a model', async () => {
    const gets = [
      '/v1/users/17850/recommendations',
      '/v1/items/85123A/similar',
      '/v1/items/85123A/bought-together',
      '/v1/popular',
      '/v1/trending',
      '/v1/users/17850/recent',
    ];
    for (const path of gets)
      for (const k of ['101', '0']) {
        const res = await app.request(`${path}?k=${k}`, undefined, noBundled);
        expect(res.status, `${path}?k=${k}`).toBe(400);
        expect((await getJson(res)).error.code).toBe('k_out_of_range');
      }
    const basket = await app.request(
      '/v1/recommendations',
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"items":["85123A"],"k":101}' },
      noBundled,
    );
    expect((await getJson(basket)).error.code).toBe('k_out_of_range');
  });

  it('still lets operators set up placements before the first model, naming the ids nothing knows yet', async () => {
    const res = await app.request(
      '/admin/placements/launch',
      {
        method: 'PUT',
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ pins: [{ itemId: 'LAUNCH-1', position: 1 }] }),
      },
      noBundled,
    );
    expect(res.status).toBe(200);
    expect(await getJson(res)).toMatchObject({ name: 'launch', unknownItems: ['LAUNCH-1'] });
  });

  it('still takes a catalogue upload before the first model, and still asks new items for a title', async () => {
    const upload = (items: unknown[]) =>
      app.request(
        '/v1/items',
        {
          method: 'PUT',
          headers: { authorization: `Bearer ${env.API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ items }),
        },
        noBundled,
      );
    const ok = await upload([{ id: 'FIRST-1', title: 'First product', price: 2 }]);
    expect(ok.status).toBe(200);
    expect(await getJson(ok)).toMatchObject({ created: 1 });
    const untitled = await upload([{ id: 'FIRST-2', price: 3 }]);
    expect(untitled.status).toBe(400);
    expect((await getJson(untitled)).error.message).toMatch(/items\.0\.title: FIRST-2 is a new item \(no model serves yet/);
  });

  it('still reports health, with no model', async () => {
    const res = await app.request('/healthz', undefined, noBundled);
    expect(res.status).toBe(200);
    expect(await getJson(res)).toEqual({ status: 'ok', model: null });
  });
});
