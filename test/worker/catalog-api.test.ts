/**
 * The API's edges around the catalogue, placements and request limits: lists that must not be
 * empty, the single-placement read, item ids a URL path cannot name, the title refusals that say
 * what happened, price parameters as precise as the prices stored, one k error, baskets as big as
 * real customers' and the fields' documentation telling what the server does.
 */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';
import { configFrom } from '../../src/config';
import { catalogClient } from '../../src/storage/catalog-store';
import { getJson } from './fixtures';

const KEY = { authorization: 'Bearer test-api-key', 'content-type': 'application/json' };
const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };

const put = (items: unknown[]) => SELF.fetch('http://x/v1/items', { method: 'PUT', headers: KEY, body: JSON.stringify({ items }) });
const post = (path: string, body: unknown) => SELF.fetch(`http://x${path}`, { method: 'POST', headers: KEY, body: JSON.stringify(body) });
const putPlacement = (name: string, body: unknown) =>
  SELF.fetch(`http://x/admin/placements/${name}`, { method: 'PUT', headers: ADMIN, body: JSON.stringify(body) });

async function expectError(res: Response, status: number, code: string, message?: RegExp | string) {
  const body = await getJson(res);
  expect(res.status, JSON.stringify(body)).toBe(status);
  expect(body.error.code).toBe(code);
  if (typeof message === 'string') expect(body.error.message).toBe(message);
  else if (message) expect(body.error.message).toMatch(message);
  return body.error.message as string;
}

type Doc = {
  paths: Record<string, Record<string, { parameters?: { name: string; in: string; schema: Record<string, unknown> }[] }>>;
  components: { schemas: Record<string, { properties: Record<string, Record<string, unknown>> }> };
};
const openapi = async () => getJson<Doc>(await SELF.fetch('http://x/openapi.json'));

describe('lists that make no sense empty', () => {
  it('refuse an empty category list in a request filter, naming the field, and keep an empty exclude harmless', async () => {
    await expectError(
      await post('/v1/recommendations', { items: ['85123A'], filter: { category: [] } }),
      400,
      'invalid_request',
      /^filter\.category: /,
    );
    await expectError(
      await post('/v1/score', { items: ['85123A'], candidates: ['22423'], filter: { category: [] } }),
      400,
      'invalid_request',
      /^filter\.category: /,
    );
    const fine = await post('/v1/recommendations', { items: ['85123A'], filter: { exclude: [] } });
    expect(fine.status).toBe(200);
    expect((await getJson(fine)).items.length).toBeGreaterThan(0);
  });

  it('refuse a placement whose default filter has an empty category list, and store nothing', async () => {
    await expectError(await putPlacement('empty-cats', { filter: { category: [] } }), 400, 'invalid_request', /^filter\.category: /);
    const list = await getJson(await SELF.fetch('http://x/admin/placements', { headers: ADMIN }));
    expect(list.placements.map((p: { name: string }) => p.name)).not.toContain('empty-cats');
  });

  it('say so in the document (minItems 1)', async () => {
    const category = (await openapi()).components.schemas.Filter.properties.category as { anyOf: Record<string, unknown>[] };
    const array = category.anyOf.find((s) => s.type === 'array');
    expect(array).toMatchObject({ minItems: 1, maxItems: 20 });
  });
});

describe('GET /admin/placements/{name}', () => {
  it('answers one placement as the listing shows it, to operators only, and 404 for an unknown name', async () => {
    expect((await putPlacement('one-shelf', { description: 'one', filter: { category: 'lanterns' }, fallback: 'new' })).status).toBe(200);
    const res = await SELF.fetch('http://x/admin/placements/one-shelf', { headers: ADMIN });
    expect(res.status).toBe(200);
    const one = await getJson(res);
    const list = await getJson(await SELF.fetch('http://x/admin/placements', { headers: ADMIN }));
    expect(one).toEqual(list.placements.find((p: { name: string }) => p.name === 'one-shelf'));
    expect(one).toMatchObject({ name: 'one-shelf', description: 'one', filter: { category: 'lanterns' }, fallback: 'new' });
    expect(one.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    await expectError(await SELF.fetch('http://x/admin/placements/one-shelf'), 401, 'unauthorized');
    await expectError(
      await SELF.fetch('http://x/admin/placements/one-shelf', { headers: { authorization: 'Bearer test-api-key' } }),
      401,
      'unauthorized',
    );
    await expectError(
      await SELF.fetch('http://x/admin/placements/never-defined', { headers: ADMIN }),
      404,
      'placement_not_found',
      /never-defined/,
    );
    await expectError(await SELF.fetch('http://x/admin/placements/Bad%20Name', { headers: ADMIN }), 400, 'invalid_request');
    await expectError(await SELF.fetch('http://x/admin/placements/one-shelf?x=1', { headers: ADMIN }), 400, 'invalid_request');
    // deleted: gone for this read too
    expect((await SELF.fetch('http://x/admin/placements/one-shelf', { method: 'DELETE', headers: ADMIN })).status).toBe(200);
    await expectError(await SELF.fetch('http://x/admin/placements/one-shelf', { headers: ADMIN }), 404, 'placement_not_found');
  });

  it('is in the document, with the listing element as its answer', async () => {
    const doc = (await openapi()) as unknown as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: { 'application/json': { schema: unknown } } }> }>>;
    };
    const op = doc.paths['/admin/placements/{name}'].get;
    expect(op).toBeDefined();
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '401', '404']));
    expect(op.responses['200'].content?.['application/json'].schema).toEqual({ $ref: '#/components/schemas/Placement' });
  });
});

describe('item ids', () => {
  it('refuse exactly "." and ".." (a URL path cannot name them), naming the item index, wherever an item id goes', async () => {
    for (const id of ['.', '..']) {
      await expectError(
        await put([
          { id: 'DOTS-OK', title: 'fine' },
          { id, title: 'Dots' },
        ]),
        400,
        'invalid_request',
        /^items\.1\.id: item id must not be "\." or "\.\."/,
      );
      await expectError(await post('/v1/recommendations', { items: ['85123A', id] }), 400, 'invalid_request', /^items\.1\.id|^items\.1: /);
      await expectError(
        await post('/v1/score', { userId: '17850', candidates: ['22423', id] }),
        400,
        'invalid_request',
        /^candidates\.1: /,
      );
      await expectError(
        await post('/v1/events', { userId: 'dots-user', itemId: id, type: 'view' }),
        400,
        'invalid_request',
        /^itemId: item id must not be/,
      );
      await expectError(
        await putPlacement('dots', { pins: [{ itemId: id, position: 1 }] }),
        400,
        'invalid_request',
        /^pins\.0\.itemId: item id must not be/,
      );
      await expectError(await SELF.fetch(`http://x/v1/popular?exclude=${id}`), 400, 'invalid_request', /^exclude: /);
    }
    // nothing was created; other ids with dots are ordinary
    expect(
      (
        await put([
          { id: '...', title: 'Ellipsis' },
          { id: '.hidden', title: 'Hidden' },
        ])
      ).status,
    ).toBe(200);
    expect((await getJson(await SELF.fetch('http://x/v1/items/...'))).title).toBe('Ellipsis');
    expect((await SELF.fetch('http://x/v1/items/.hidden', { method: 'DELETE', headers: KEY })).status).toBe(200);
  });

  it('and user ids refuse them too: such a shopper could send events but never be read or forgotten', async () => {
    for (const userId of ['.', '..']) {
      await expectError(
        await post('/v1/events', { userId, itemId: '85123A', type: 'view' }),
        400,
        'invalid_request',
        /userId must not be "\." or "\.\."/,
      );
      await expectError(await post('/v1/score', { userId, candidates: ['22423'] }), 400, 'invalid_request', /userId must not be/);
      await expectError(await post('/v1/recommendations', { userId, items: ['85123A'] }), 400, 'invalid_request', /userId must not be/);
    }
    // a dotted id that is not a whole path segment is an ordinary user
    expect((await post('/v1/events', { userId: '...', itemId: '85123A', type: 'view' })).status).toBe(200);
    expect((await getJson(await SELF.fetch('http://x/v1/users/.../history'))).items.length).toBeGreaterThan(0);
  });

  it('say so in the document', async () => {
    const id = (await openapi()).components.schemas.CatalogItemInput.properties.id;
    expect(id.description).toMatch(/"\."/);
    expect(id.description).toMatch(/"\.\."/);
    expect(id.not).toEqual({ enum: ['.', '..'] });
  });
});

describe('a title-less upsert that is refused', () => {
  it('says the title of an item only the catalogue knows cannot be cleared', async () => {
    expect((await put([{ id: 'DUP', title: 'Duplicate lamp' }])).status).toBe(200);
    const message = await expectError(await put([{ id: 'DUP', title: null }]), 400, 'invalid_request', /^items\.0\.title: /);
    expect(message).not.toMatch(/neither|does not know it/);
    expect(message).toMatch(/only the catalogue knows/);
    expect(message).toMatch(/cannot be cleared|cannot clear/);
    expect((await getJson(await SELF.fetch('http://x/v1/items/DUP'))).title).toBe('Duplicate lamp');
  });

  it('says a deleted item needs its title again', async () => {
    expect((await put([{ id: 'GONE-LAMP', title: 'Gone lamp', price: 3 }])).status).toBe(200);
    expect((await SELF.fetch('http://x/v1/items/GONE-LAMP', { method: 'DELETE', headers: KEY })).status).toBe(200);
    const message = await expectError(await put([{ id: 'GONE-LAMP', price: 4 }]), 400, 'invalid_request', /^items\.0\.title: /);
    expect(message).not.toMatch(/neither|does not know it/);
    expect(message).toMatch(/was deleted/);
    expect(message).toMatch(/title again/);
    // with its title it comes back
    expect((await put([{ id: 'GONE-LAMP', title: 'Back lamp' }])).status).toBe(200);
    expect((await getJson(await SELF.fetch('http://x/v1/items/GONE-LAMP'))).title).toBe('Back lamp');
  });

  it('says a catalogue record without a title (written while a model knew the id) needs one', async () => {
    // as the store holds an item created without a title by a model that no longer serves
    await catalogClient(env.CATALOG, env.MODELS).upsert([{ id: 'UNTITLED-OLD', price: 2 }], Date.now());
    const message = await expectError(await put([{ id: 'UNTITLED-OLD', price: 3 }]), 400, 'invalid_request', /^items\.0\.title: /);
    expect(message).not.toMatch(/neither|is a new item/);
    expect(message).toMatch(/has no title in the catalogue/);
    expect((await put([{ id: 'UNTITLED-OLD', title: 'Named at last', price: 3 }])).status).toBe(200);
  });

  it('still says an id nobody knows is a new item that needs a title', async () => {
    await expectError(
      await put([{ id: 'NOBODY-KNOWS', price: 1 }]),
      400,
      'invalid_request',
      /^items\.0\.title: NOBODY-KNOWS is a new item \(neither model .* nor the catalogue knows it\), so it needs a title$/,
    );
  });
});

describe('price parameters', () => {
  it('take plain decimals as precise as stored prices, and still no exponent or hex', async () => {
    expect((await put([{ id: 'TINY-PRICE', title: 'Tiny', price: 1e-7, category: 'tiny-things' }])).status).toBe(200);
    const res = await SELF.fetch('http://x/v1/popular?category=tiny-things&minPrice=0.0000001&maxPrice=0.00000010');
    expect(res.status).toBe(200);
    expect((await getJson(res)).items.map((i: { id: string }) => i.id)).toEqual(['TINY-PRICE']);
    const above = await getJson(await SELF.fetch('http://x/v1/popular?category=tiny-things&minPrice=0.00000011'));
    expect(above.items).toEqual([]);
    for (const bad of ['1e-7', '0x10', '-1', '.5', '1.', '1,5', `0.${'1'.repeat(40)}`])
      await expectError(await SELF.fetch(`http://x/v1/popular?minPrice=${encodeURIComponent(bad)}`), 400, 'invalid_request', /^minPrice: /);
  });

  it('state their pattern in the document', async () => {
    const params = (await openapi()).paths['/v1/popular'].get.parameters ?? [];
    for (const name of ['minPrice', 'maxPrice']) {
      const schema = params.find((p) => p.name === name)?.schema ?? {};
      expect(schema.pattern, name).toBeDefined();
      const pattern = new RegExp(schema.pattern as string);
      expect(pattern.test('0.0000001')).toBe(true);
      expect(pattern.test('12.5')).toBe(true);
      expect(pattern.test('1e-7')).toBe(false);
    }
  });
});

describe('k', () => {
  it('answers every k out of range or malformed with k_out_of_range and one message, in a query as in a body', async () => {
    const message = 'k must be between 1 and 100';
    for (const k of ['0', '-3', '101', '1001', '2.5', 'abc', '1e9', '']) {
      await expectError(await SELF.fetch(`http://x/v1/users/17850/recommendations?k=${k}`), 400, 'k_out_of_range', message);
      await expectError(await SELF.fetch(`http://x/v1/popular?k=${k}`), 400, 'k_out_of_range', message);
    }
    for (const k of [0, -3, 101, 1001, 2.5, true, '5', null])
      await expectError(await post('/v1/recommendations', { items: ['85123A'], k }), 400, 'k_out_of_range', message);
  });
});

describe('baskets', () => {
  it('take MAX_BASKET_ITEMS = 1000 items by default (the limit in the document too), and the configured limit up to 2000', async () => {
    expect(configFrom(env).maxBasketItems).toBe(1000);
    const basket = (n: number) => Array.from({ length: n }, (_, i) => (i === 0 ? '85123A' : `B${i}`));
    const big = await post('/v1/recommendations', { items: basket(1000), weights: Array(1000).fill(1), k: 5 });
    expect(big.status).toBe(200);
    expect((await getJson(big)).items.length).toBe(5);
    expect((await post('/v1/score', { items: basket(1000), candidates: ['22423'] })).status).toBe(200);
    await expectError(await post('/v1/recommendations', { items: basket(1001) }), 400, 'too_many_items', /limit is 1000$/);
    await expectError(await post('/v1/recommendations', { items: basket(2001) }), 400, 'too_many_items', /limit is 1000$/);
    await expectError(
      await post('/v1/recommendations', { items: basket(2), weights: Array(2001).fill(1) }),
      400,
      'too_many_items',
      /^weights .*limit is 1000$/,
    );
    const doc = await openapi();
    expect(doc.components.schemas.BasketRequest.properties.items.maxItems).toBe(1000);
    expect(doc.components.schemas.BasketRequest.properties.weights.maxItems).toBe(1000);
    expect(doc.components.schemas.ScoreRequest.properties.items.maxItems).toBe(1000);

    // a deployment may allow up to 2000 (its document says so), not more
    const app = createApp();
    const wide = { ...env, MAX_BASKET_ITEMS: '2000' };
    const res = await app.request(
      '/v1/recommendations',
      { method: 'POST', headers: KEY, body: JSON.stringify({ items: basket(2000), weights: Array(2000).fill(0.5), k: 3 }) },
      wide,
    );
    expect(res.status).toBe(200);
    const wideDoc = await getJson<Doc>(await app.request('/openapi.json', undefined, wide));
    expect(wideDoc.components.schemas.BasketRequest.properties.items.maxItems).toBe(2000);
    await expectError(
      await app.request('/v1/recommendations', { method: 'POST', headers: KEY, body: JSON.stringify({ items: basket(2001) }) }, wide),
      400,
      'too_many_items',
      /limit is 2000$/,
    );
    expect(() => configFrom({ ...env, MAX_BASKET_ITEMS: '2001' })).toThrow(/MAX_BASKET_ITEMS/);
  });
});

describe('the documentation of the fields', () => {
  it('says when popularity is null in an item view and 0 in search results — and the server does so', async () => {
    const doc = await openapi();
    expect(doc.components.schemas.ItemView.properties.popularity.description).toMatch(/null .*(new|does not know)/);
    expect(doc.components.schemas.CatalogItem.properties.popularity.description).toMatch(/0 .*(new|does not know)/);
    expect((await put([{ id: 'POP-NEW-ITEM', title: 'Zanzibar popularity lamp' }])).status).toBe(200);
    expect((await getJson(await SELF.fetch('http://x/v1/items/POP-NEW-ITEM'))).popularity).toBeNull();
    const found = await getJson(await SELF.fetch('http://x/v1/items?q=zanzibar'));
    expect(found.items.find((i: { id: string }) => i.id === 'POP-NEW-ITEM')?.popularity).toBe(0);
    expect(typeof (await getJson(await SELF.fetch('http://x/v1/items/85123A'))).popularity).toBe('number');
  });

  it('says what clearing category does: category is the first of the categories, and clearing it shows the next', async () => {
    const doc = await openapi();
    const input = doc.components.schemas.CatalogItemInput.properties;
    expect(input.category.description).toMatch(/first/);
    expect(input.category.description).toMatch(/null/);
    expect(doc.components.schemas.ItemView.properties.category.description).toMatch(/first of `categories`/);
    expect((await put([{ id: 'CAT-CLEAR', title: 'Lamp', category: 'lamps', categories: ['lighting', 'home'] }])).status).toBe(200);
    expect(await getJson(await SELF.fetch('http://x/v1/items/CAT-CLEAR'))).toMatchObject({
      category: 'lamps',
      categories: ['lamps', 'lighting', 'home'],
    });
    expect((await put([{ id: 'CAT-CLEAR', category: null }])).status).toBe(200);
    expect(await getJson(await SELF.fetch('http://x/v1/items/CAT-CLEAR'))).toMatchObject({
      category: 'lighting',
      categories: ['lighting', 'home'],
    });
    // the lamps shelf no longer lists it; the lighting one does
    const shelf = async (c: string) =>
      (await getJson(await SELF.fetch(`http://x/v1/popular?category=${c}&k=100`))).items.map((i: { id: string }) => i.id);
    expect(await shelf('lamps')).not.toContain('CAT-CLEAR');
    expect(await shelf('lighting')).toContain('CAT-CLEAR');
    expect((await put([{ id: 'CAT-CLEAR', categories: null }])).status).toBe(200);
    const none = await getJson(await SELF.fetch('http://x/v1/items/CAT-CLEAR'));
    expect(none.category).toBeUndefined();
    expect(none.categories).toBeUndefined();
  });
});
