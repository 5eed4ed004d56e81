/**
 * Client mistakes always get a 4xx with {"error":{"code","message"}} — never a 500 — and the
 * no-model state is a 503 that says how to publish a model.
 */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { getJson } from './fixtures';

const postJson = (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  SELF.fetch(`http://x${path}`, { method: 'POST', headers, body });

async function expectError(res: Response, status: number, code: string, messagePart?: RegExp) {
  expect(res.status).toBe(status);
  const body = await getJson(res);
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  if (messagePart) expect(body.error.message).toMatch(messagePart);
}

describe('bad input is a clear 4xx', () => {
  it('rejects a path that is not valid percent-encoding, and still finds ids whose encoding is valid', async () => {
    for (const path of ['/v1/items/%FF', '/v1/items/%E0%A4%A/similar', '/v1/users/50%/recommendations'])
      await expectError(await SELF.fetch(`http://x${path}`), 400, 'invalid_request', /percent-encoding/);
    await expectError(await SELF.fetch('http://x/v1/items/50%25off'), 404, 'item_not_found');
    expect((await SELF.fetch(`http://x/v1/items/${encodeURIComponent('22423')}/similar?k=2`)).status).toBe(200);
  });

  it('rejects malformed JSON', async () => {
    await expectError(await postJson('/v1/recommendations', '{"items": ["85123A",'), 400, 'malformed_json');
  });

  it('rejects a body that is not JSON with 415', async () => {
    await expectError(
      await postJson('/v1/recommendations', 'items=85123A', { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      'unsupported_media_type',
    );
  });

  it('answers 400 to a request without the body its route needs, and changes nothing (a placement is not wiped)', async () => {
    const admin = { authorization: 'Bearer test-admin-token' };
    const put = (init: RequestInit) => SELF.fetch('http://x/admin/placements/keep-me', { method: 'PUT', ...init });
    expect((await put({ headers: { ...admin, 'content-type': 'application/json' }, body: '{"fallback":"new"}' })).status).toBe(200);
    await expectError(await put({ headers: admin }), 400, 'invalid_request', /needs a JSON body/);
    const list = await getJson<{ placements: { name: string; fallback?: string }[] }>(
      await SELF.fetch('http://x/admin/placements', { headers: admin }),
    );
    expect(list.placements.find((p) => p.name === 'keep-me')?.fallback).toBe('new');
    for (const [method, path] of [
      ['POST', '/v1/events'],
      ['POST', '/v1/recommendations'],
      ['POST', '/v1/score'],
      ['PUT', '/v1/items'],
    ])
      await expectError(
        await SELF.fetch(`http://x${path}`, { method, headers: { authorization: 'Bearer test-api-key' } }),
        400,
        'invalid_request',
        /needs a JSON body/,
      );
  });

  it('rejects unknown fields', async () => {
    await expectError(
      await postJson('/v1/recommendations', JSON.stringify({ items: ['85123A'], colour: 'red' })),
      400,
      'invalid_request',
      /unknown field.*colour/,
    );
  });

  it('rejects wrong types', async () => {
    await expectError(await postJson('/v1/recommendations', JSON.stringify({ items: '85123A' })), 400, 'invalid_request', /items/);
    await expectError(await postJson('/v1/recommendations', JSON.stringify({ items: [123] })), 400, 'invalid_request');
    await expectError(await postJson('/v1/recommendations', JSON.stringify([1, 2])), 400, 'invalid_request');
  });

  it('rejects k out of range, naming the limit', async () => {
    for (const k of ['0', '-3', '101', '2.5', 'abc', '1e9']) {
      await expectError(await SELF.fetch(`http://x/v1/users/17850/recommendations?k=${k}`), 400, 'k_out_of_range');
    }
    await expectError(await postJson('/v1/recommendations', JSON.stringify({ items: ['85123A'], k: 101 })), 400, 'k_out_of_range', /100/);
    await expectError(await SELF.fetch('http://x/v1/items/85123A/similar?k=0'), 400, 'k_out_of_range');
  });

  it('rejects unknown query parameters and bad booleans', async () => {
    await expectError(await SELF.fetch('http://x/v1/users/17850/recommendations?kk=3'), 400, 'invalid_request');
    await expectError(await SELF.fetch('http://x/v1/users/17850/recommendations?excludePurchased=maybe'), 400, 'invalid_request');
    // the document and its page take none either
    await expectError(await SELF.fetch('http://x/openapi.json?x=1'), 400, 'invalid_request');
    await expectError(await SELF.fetch('http://x/docs?x=1'), 400, 'invalid_request');
    expect((await SELF.fetch('http://x/openapi.json')).status).toBe(200);
  });

  it('rejects a query parameter without a name, or not valid percent-encoding, even where the route takes no query', async () => {
    for (const query of ['=1', '=', 'k=3&=x', 'q=%FF', 'category=%E2%82', 'q=50%'])
      await expectError(await SELF.fetch(`http://x/v1/items?${query}`), 400, 'invalid_request', /query parameter/);
    await expectError(await SELF.fetch('http://x/healthz?=1'), 400, 'invalid_request', /has no name/);
    // and a refused write changes nothing: the user deleted only without the stray parameter
    const sent = await postJson('/v1/events', JSON.stringify({ userId: 'stray-q', itemId: '85123A', type: 'view' }), {
      authorization: 'Bearer test-api-key',
      'content-type': 'application/json',
    });
    expect(sent.status).toBe(200);
    await expectError(
      await SELF.fetch('http://x/v1/users/stray-q?=1', { method: 'DELETE', headers: { authorization: 'Bearer test-api-key' } }),
      400,
      'invalid_request',
    );
    expect((await (await SELF.fetch('http://x/v1/users/stray-q/recent')).json<{ items: unknown[] }>()).items.length).toBe(1);
    // what is valid still is: an empty pair, a plus for a space, an encoded percent sign
    expect((await SELF.fetch('http://x/v1/items?q=cake+stand&&limit=2')).status).toBe(200);
    expect((await SELF.fetch('http://x/v1/items?q=50%25')).status).toBe(200);
  });

  it('states the event batch limit in the document as the server enforces it', async () => {
    const doc = await (await SELF.fetch('http://x/openapi.json')).json<{ components: { schemas: Record<string, unknown> } }>();
    const request = JSON.stringify(doc.components.schemas.EventsRequest);
    expect(request).toMatch(new RegExp(`"maxItems":${env.MAX_EVENTS_PER_BATCH ?? 100}\\b`));
    const events = Array.from({ length: Number(env.MAX_EVENTS_PER_BATCH ?? 100) + 1 }, () => ({
      userId: 'u',
      itemId: '22423',
      type: 'view',
    }));
    const res = await SELF.fetch('http://x/v1/events', {
      method: 'POST',
      headers: { authorization: 'Bearer test-api-key', 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    await expectError(res, 400, 'too_many_items');
  });

  it('rejects an empty basket', async () => {
    await expectError(await postJson('/v1/recommendations', JSON.stringify({ items: [] })), 400, 'empty_basket');
    await expectError(await postJson('/v1/score', JSON.stringify({ items: [], candidates: ['85123A'] })), 400, 'empty_basket');
  });

  it('rejects too many items with the limit in the message', async () => {
    const items = Array.from({ length: 1001 }, (_, i) => `X${i}`);
    await expectError(await postJson('/v1/recommendations', JSON.stringify({ items })), 400, 'too_many_items', /limit is 1000/);
    const candidates = Array.from({ length: 1001 }, (_, i) => `C${i}`);
    await expectError(await postJson('/v1/score', JSON.stringify({ userId: '17850', candidates })), 400, 'too_many_items', /limit is 1000/);
  });

  it('answers too_many_items, with the configured limit, also beyond the schema ceiling above it', async () => {
    const key = { authorization: 'Bearer test-api-key' };
    const basket = Array.from({ length: 2001 }, (_, i) => `X${i}`);
    await expectError(await postJson('/v1/recommendations', JSON.stringify({ items: basket })), 400, 'too_many_items', /limit is 1000$/);
    const events = Array.from({ length: 1001 }, (_, i) => ({ userId: 'u', itemId: `I${i}`, type: 'view' }));
    await expectError(
      await postJson('/v1/events', JSON.stringify({ events }), { ...key, 'content-type': 'application/json' }),
      400,
      'too_many_items',
      /limit is 100$/,
    );
    const catalog = Array.from({ length: 5001 }, (_, i) => ({ id: `b${i}` }));
    const put = await SELF.fetch('http://x/v1/items', {
      method: 'PUT',
      headers: { ...key, 'content-type': 'application/json' },
      body: JSON.stringify({ items: catalog }),
    });
    await expectError(put, 400, 'too_many_items', /limit is 1000$/);
  });

  it('rejects oversized bodies with 413 before parsing them', async () => {
    const res = await postJson('/v1/recommendations', JSON.stringify({ items: ['A'.repeat(70_000)] }));
    await expectError(res, 413, 'payload_too_large');
  });

  it('rejects a weights list that does not match the items', async () => {
    await expectError(
      await postJson('/v1/recommendations', JSON.stringify({ items: ['85123A', '71053'], weights: [1] })),
      400,
      'invalid_request',
      /weights/,
    );
  });

  it('requires exactly one of userId or items when scoring', async () => {
    await expectError(await postJson('/v1/score', JSON.stringify({ candidates: ['85123A'] })), 400, 'invalid_request', /exactly one/);
    await expectError(
      await postJson('/v1/score', JSON.stringify({ userId: '1', items: ['85123A'], candidates: ['85123A'] })),
      400,
      'invalid_request',
      /exactly one/,
    );
    await expectError(await postJson('/v1/score', JSON.stringify({ userId: '1', candidates: [] })), 400, 'invalid_request');
  });

  it('answers 404 for an unknown item in similar', async () => {
    await expectError(await SELF.fetch('http://x/v1/items/NOT-A-PRODUCT/similar'), 404, 'item_not_found', /NOT-A-PRODUCT/);
  });

  it('rejects ids with spaces or control characters', async () => {
    await expectError(await SELF.fetch('http://x/v1/users/a%20b/recommendations'), 400, 'invalid_request');
    await expectError(await SELF.fetch(`http://x/v1/users/${'x'.repeat(200)}/recommendations`), 400, 'invalid_request');
    // a control character at either end of an item id, or inside it
    for (const id of ['22698%00', '%0022698', '%0722698', '226%0198', '22698%7F'])
      await expectError(await SELF.fetch(`http://x/v1/items/${id}/similar`), 400, 'invalid_request', /control characters/);
  });

  it('rejects item ids that are not well-formed UTF-16 (a lone surrogate) in a body', async () => {
    const res = await SELF.fetch('http://x/v1/recommendations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"items": ["a\\ud800b"]}',
    });
    await expectError(res, 400, 'invalid_request', /items\.0/);
  });

  it('answers 404 for an asset it does not have, also one named like a property every object has', async () => {
    for (const name of ['nope.js', 'constructor', '__proto__', 'toString', 'hasOwnProperty'])
      await expectError(await SELF.fetch(`http://x/assets/${name}`), 404, 'not_found');
  });

  it('answers a wrong method with 405 before asking for a token: the method is wrong whoever sends it', async () => {
    for (const [method, path, allow] of [
      ['PATCH', '/v1/events', 'POST'],
      ['GET', '/v1/events', 'POST'],
      ['POST', '/v1/erasures/abc', 'GET, HEAD'],
      ['PATCH', '/admin/placements/home', 'DELETE, GET, HEAD, PUT'],
      ['GET', '/admin/refresh/now', undefined],
    ] as const) {
      const res = await SELF.fetch(`http://x${path}`, { method });
      if (allow === undefined) {
        await expectError(res, 404, 'not_found');
        continue;
      }
      expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
      await expectError(res, 405, 'method_not_allowed');
    }
    // the right method still needs the token
    await expectError(await SELF.fetch('http://x/v1/events', { method: 'POST', body: '{}' }), 401, 'unauthorized');
  });

  it('answers unknown routes with the same error shape, and a wrong method with 405 and Allow', async () => {
    await expectError(await SELF.fetch('http://x/v1/nothing-here'), 404, 'not_found');
    const wrong = await SELF.fetch('http://x/v1/recommendations');
    expect(wrong.headers.get('allow')).toBe('POST');
    await expectError(wrong, 405, 'method_not_allowed');
  });

  it('refuses a body sent to a route that takes none, rather than acting while ignoring it', async () => {
    const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
    const before = await getJson(await SELF.fetch('http://x/v1/model'));
    await expectError(
      await SELF.fetch('http://x/admin/rollback', { method: 'POST', headers: ADMIN, body: '{"to":"v1"}' }),
      400,
      'invalid_request',
      /POST \/admin\/rollback takes no request body/,
    );
    await expectError(
      await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: ADMIN, body: '{"force":true}' }),
      400,
      'invalid_request',
    );
    expect((await getJson(await SELF.fetch('http://x/v1/model'))).version).toBe(before.version);
    // an oversized body on such a route is the same 400 (the document lists no 413 there)
    await expectError(await SELF.fetch('http://x/v1/model', { method: 'POST', body: 'x'.repeat(70_000) }), 405, 'method_not_allowed');
    const big = await SELF.fetch('http://x/admin/rollback', { method: 'POST', headers: ADMIN, body: 'x'.repeat(70_000) });
    await expectError(big, 400, 'invalid_request', /takes no request body/);
  });

  it('takes force as any flag of the API (true/false or 1/0), and nothing else', async () => {
    const ADMIN = { authorization: 'Bearer test-admin-token' };
    expect((await SELF.fetch('http://x/admin/refresh?force=1', { method: 'POST', headers: ADMIN })).status).toBe(200);
    await expectError(await SELF.fetch('http://x/admin/refresh?force=yes', { method: 'POST', headers: ADMIN }), 400, 'invalid_request');
  });

  it('answers a path with a trailing slash as the router does: 404 whatever the method', async () => {
    await expectError(await SELF.fetch('http://x/v1/model/'), 404, 'not_found');
    const del = await SELF.fetch('http://x/v1/model/', { method: 'DELETE' });
    expect(del.headers.get('allow')).toBeNull();
    await expectError(del, 404, 'not_found');
  });
});
