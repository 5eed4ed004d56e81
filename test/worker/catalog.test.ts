/**
 * The live catalogue: batches upserted all-or-nothing, items read as served, stock and deletion
 * applied to every answer at once, filters applied inside scoring, new products sellable before
 * the next training, and every isolate's copy current within the documented bound. Against the
 * bundled Online Retail model and the real local Durable Object, R2 and KV.
 */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { LiveCatalog } from '../../src/models/live-catalog';
import { type CatalogRecord, catalogClient } from '../../src/storage/catalog-store';
import { getJson, newIsolateCatalog } from './fixtures';

const KEY = { authorization: 'Bearer test-api-key', 'content-type': 'application/json' };
type Item = {
  id: string;
  title: string;
  score: number;
  position: number;
  category?: string;
  price?: number;
  available?: boolean;
  new?: true;
  filteredOut?: string;
};
type Rec = { model: string; source: string; items: Item[]; placement?: Record<string, unknown> };

const put = (items: unknown[]) => SELF.fetch('http://x/v1/items', { method: 'PUT', headers: KEY, body: JSON.stringify({ items }) });
const get = async <T = Rec>(path: string) => getJson<T>(await SELF.fetch(`http://x${path}`));
const post = async (path: string, body: unknown) =>
  getJson<Rec>(await SELF.fetch(`http://x${path}`, { method: 'POST', headers: KEY, body: JSON.stringify(body) }));
const ids = (r: Rec) => r.items.map((i) => i.id);

/** Every list an item could appear in, for a customer, a basket and a related item. */
async function everyAnswer(extra = ''): Promise<string[]> {
  const lists = await Promise.all([
    get(`/v1/users/17850/recommendations?k=100${extra}`),
    post('/v1/recommendations', { items: ['85123A', '21733'], k: 100, ...(extra ? { filter: { includeUnavailable: true } } : {}) }),
    get(`/v1/items/85123A/similar?k=100${extra}`),
    get(`/v1/popular?k=100${extra}`),
    get(`/v1/users/new-visitor/recommendations?k=100${extra}`),
    get<{ items: { id: string }[] }>(`/v1/items?limit=100&q=heart${extra}`),
  ]);
  return lists.flatMap((l) => l.items.map((i) => i.id));
}

describe('catalogue writes', () => {
  it("serves the model's own price as the decimal it was trained from, in the item page as in lists", async () => {
    const page = await get<{ price: number }>('/v1/items/85123A');
    // the artifact stores prices as float32: 2.95 there reads back as 2.950000047683716
    expect(page.price).toBe(2.95);
    const list = await get<{ items: { id: string; price?: number }[] }>('/v1/popular?k=50');
    const listed = list.items.find((i) => i.id === '85123A');
    if (listed) expect(listed.price).toBe(page.price);
  });

  it('upserts a batch, keeps fields left out, clears fields set to null, and serves the merged record', async () => {
    let res = await put([
      {
        id: '85123A',
        title: 'White hanging heart (new photo)',
        category: 'candles',
        categories: ['home'],
        price: 2.55,
        currency: 'GBP',
        imageUrl: 'https://img.example/85123A.jpg',
      },
      { id: '21733', category: 'candles', price: 2.95 },
    ]);
    expect(res.status).toBe(200);
    expect(await getJson(res)).toMatchObject({ created: 2, updated: 0 });
    res = await put([{ id: '85123A', price: 2.75, imageUrl: null }]);
    expect(await getJson(res)).toMatchObject({ created: 0, updated: 1 });
    const item = await get<Record<string, unknown>>('/v1/items/85123A');
    expect(item).toMatchObject({
      id: '85123A',
      title: 'White hanging heart (new photo)',
      category: 'candles',
      categories: ['candles', 'home'],
      price: 2.75,
      currency: 'GBP',
      available: true,
      inModel: true,
    });
    expect(item).not.toHaveProperty('imageUrl');
    expect(item.popularity).toBeGreaterThan(0);
    // an item only the model knows is served from the model
    expect(await get<Record<string, unknown>>('/v1/items/22423')).toMatchObject({
      title: 'REGENCY CAKESTAND 3 TIER',
      inModel: true,
      available: true,
    });
    // and answers carry the catalogue's fields
    const session = await post('/v1/recommendations', { items: ['71053'], k: 100 });
    const heart = session.items.find((i) => i.id === '85123A');
    expect(heart).toMatchObject({ title: 'White hanging heart (new photo)', category: 'candles', price: 2.75 });
  });

  it('refuses a bad batch as a whole, naming the item, and applies nothing of it', async () => {
    const before = await get<Record<string, unknown>>('/v1/items/22423');
    const bad: [unknown[], RegExp][] = [
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', colour: 'red' },
        ],
        /items\.1.*unknown field\(s\): colour/,
      ],
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', price: -1 },
        ],
        /items\.1\.price: price must not be negative/,
      ],
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', price: '1e999' },
        ],
        /items\.1\.price/,
      ],
      [[{ id: '22423', title: 'ok' }, { id: 'x'.repeat(257) }], /items\.1\.id/],
      [[{ id: '22423', title: 'ok' }, { id: 'é'.repeat(129) }], /items\.1\.id: item id must be at most 256 bytes/],
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', imageUrl: 'javascript:alert(1)' },
        ],
        /items\.1\.imageUrl/,
      ],
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', currency: 'pounds' },
        ],
        /items\.1\.currency/,
      ],
      [Array.from({ length: 1001 }, (_, i) => ({ id: `bulk-${i}` })), /1001 items; the limit is 1000/],
      // a price update for an id nobody knows (a typo, or a new product without its name)
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22423-TYPO', price: 2 },
        ],
        /items\.1\.title: 22423-TYPO is a new item .* needs a title/,
      ],
      // an attribute value of none of its types, or null (nulls clear whole fields, not values)
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', attributes: { brand: [1] } },
        ],
        /items\.1\.attributes\.brand: expected string, number or boolean, received array/,
      ],
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', attributes: { brand: null } },
        ],
        /items\.1\.attributes\.brand: .*received null/,
      ],
      // a blank title or category, and an attribute name JavaScript objects cannot hold
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', title: '   ' },
        ],
        /items\.1\.title: title must not be blank/,
      ],
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', categories: ['a', ' '] },
        ],
        /items\.1\.categories\.1: category must not be blank/,
      ],
      // a control character a page would show as garbage, and a category no filter could name exactly
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', title: 'a\u0000b' },
        ],
        /items\.1\.title: title must not contain control characters/,
      ],
      // half an emoji: no valid JSON text could carry it back to a strict client
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', title: 'BROKEN \ud83d TITLE' },
        ],
        /items\.1\.title: title must not contain control characters or unpaired surrogates/,
      ],
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', category: ' Kitchen ' },
        ],
        /items\.1\.category: category must not start or end with a space/,
      ],
      [
        [
          { id: '22423', title: 'ok' },
          { id: '22424', attributes: JSON.parse('{"__proto__": "x"}') },
        ],
        /items\.1\.attributes.*__proto__/,
      ],
      // a new item created and its title cleared in the same batch
      [
        [
          { id: 'NEW-CLEARED', title: 'Lamp' },
          { id: 'NEW-CLEARED', title: null },
        ],
        /items\.1\.title: NEW-CLEARED is a new item .* needs a title/,
      ],
    ];
    for (const [items, why] of bad) {
      // JSON.stringify writes 1e999 as null: send the literal the way a client's JSON would carry it
      const body = JSON.stringify({ items }).replace('"price":"1e999"', '"price":1e999');
      const res = await SELF.fetch('http://x/v1/items', { method: 'PUT', headers: KEY, body });
      expect(res.status, JSON.stringify(items).slice(0, 80)).toBe(400);
      expect((await getJson(res)).error.message).toMatch(why);
    }
    expect(await get<Record<string, unknown>>('/v1/items/22423')).toEqual(before);
    expect((await SELF.fetch('http://x/v1/items/bulk-0')).status).toBe(404);
    expect((await SELF.fetch('http://x/v1/items/22423-TYPO')).status).toBe(404);
    // without a title is fine for what already has one: a model item, or a catalogue item
    expect((await put([{ id: 'NEW-TITLED', title: 'A new lamp' }])).status).toBe(200);
    expect(
      (
        await put([
          { id: '22424', price: 3 },
          { id: 'NEW-TITLED', price: 9 },
        ])
      ).status,
    ).toBe(200);
    expect(await get<{ title: string; price: number }>('/v1/items/NEW-TITLED')).toMatchObject({ title: 'A new lamp', price: 9 });
    // a new item only the catalogue knows keeps its title: clearing it is refused, as creating it without one
    const cleared = await put([{ id: 'NEW-TITLED', title: null }]);
    expect(cleared.status).toBe(400);
    expect((await getJson(cleared)).error.message).toMatch(/items\.0\.title: NEW-TITLED is a new item/);
    expect(await get<{ title: string }>('/v1/items/NEW-TITLED')).toMatchObject({ title: 'A new lamp' });
    // a batch may create an item and update it again
    expect(
      (
        await put([
          { id: 'NEW-TWICE', title: 'Vase' },
          { id: 'NEW-TWICE', price: 4 },
        ])
      ).status,
    ).toBe(200);
    expect(await get<{ title: string; price: number }>('/v1/items/NEW-TWICE')).toMatchObject({ title: 'Vase', price: 4 });
    // and writes need the API key
    expect(
      (
        await SELF.fetch('http://x/v1/items', {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: '{"items":[{"id":"a"}]}',
        })
      ).status,
    ).toBe(401);
  });

  it('takes a batch bigger than the 64 KiB other bodies are limited to', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({
      id: `big-${i}`,
      title: `A bulk item number ${i} with a long descriptive title`,
      category: 'bulk',
      price: i,
    }));
    expect(JSON.stringify({ items }).length).toBeGreaterThan(64 * 1024);
    const res = await put(items);
    expect(res.status).toBe(200);
    expect((await getJson(res)).created).toBe(1000);
  });
});

describe('stock and deletion apply to every answer at once', () => {
  it('leaves an out-of-stock item out of every list unless asked, and marks it in scores', async () => {
    const target = (await get('/v1/users/17850/recommendations?k=1')).items[0].id;
    expect(await everyAnswer()).toContain(target);
    await put([{ id: target, available: false }]);
    expect(await everyAnswer()).not.toContain(target);
    expect((await get('/v1/users/17850/recommendations?k=100&includeUnavailable=true')).items.map((i) => i.id)).toContain(target);
    const scores = await post('/v1/score', { userId: '17850', candidates: [target, '22423'] });
    expect(scores.items[0]).toMatchObject({ id: target, available: false, filteredOut: 'unavailable' });
    expect(scores.items[1].filteredOut).toBeUndefined();
    await put([{ id: target, available: true }]);
    expect((await get('/v1/users/17850/recommendations?k=1')).items[0].id).toBe(target);
  });

  it('removes a deleted item from every answer, even with includeUnavailable', async () => {
    const target = (await get('/v1/items/85123A/similar?k=1')).items[0].id;
    const res = await SELF.fetch(`http://x/v1/items/${target}`, { method: 'DELETE', headers: KEY });
    expect(res.status).toBe(200);
    expect(await everyAnswer()).not.toContain(target);
    expect(await everyAnswer('&includeUnavailable=true')).not.toContain(target);
    expect((await SELF.fetch(`http://x/v1/items/${target}`)).status).toBe(404);
    // and the lists hanging off its page are gone with it
    for (const related of ['similar', 'bought-together']) {
      const gone = await SELF.fetch(`http://x/v1/items/${target}/${related}`);
      expect(gone.status, related).toBe(404);
      expect((await getJson(gone)).error.message).toMatch(/was deleted/);
    }
    expect((await post('/v1/score', { items: ['85123A'], candidates: [target] })).items[0].filteredOut).toBe('deleted');
    expect((await SELF.fetch('http://x/v1/items/NOT-AN-ITEM', { method: 'DELETE', headers: KEY })).status).toBe(404);
    // deleting it again is a 404, as reading it is, and takes no change number
    const seq = (await getJson<{ seq: number }>(await put([{ id: '22424', price: 3 }]))).seq;
    const again = await SELF.fetch(`http://x/v1/items/${target}`, { method: 'DELETE', headers: KEY });
    expect(again.status).toBe(404);
    expect((await getJson(again)).error.message).toMatch(/already deleted/);
    expect((await getJson<{ seq: number }>(await put([{ id: '22424', price: 3 }]))).seq).toBe(seq + 1);
    // a deleted item comes back when it is upserted again
    await put([{ id: target, title: 'Back in the range' }]);
    expect(await everyAnswer()).toContain(target);
  });
});

describe('filters inside scoring', () => {
  it('restricts every list to a category or several, and to a price band', async () => {
    const mugs = ['22423', '47566', '85099B', '84879', '22720'];
    await put(mugs.map((id, i) => ({ id, category: i % 2 ? 'kitchen' : 'party', price: 1 + i })));
    const party = await get('/v1/users/17850/recommendations?k=10&category=party&excludePurchased=false');
    // fewer than k pass: only those, never filler
    expect(ids(party).sort()).toEqual(['22423', '22720', '85099B']);
    for (const i of party.items) expect(i.category).toBe('party');
    const both = await get('/v1/users/17850/recommendations?k=10&category=party&category=kitchen&excludePurchased=false');
    expect(ids(both).sort()).toEqual([...mugs].sort());
    const band = await post('/v1/recommendations', {
      items: ['71053'],
      k: 10,
      filter: { category: ['party', 'kitchen'], minPrice: 2, maxPrice: 4 },
    });
    expect(band.items.map((i) => i.price).sort()).toEqual([2, 3, 4]);
    const popular = await get('/v1/popular?k=3&category=kitchen');
    expect(popular.items.every((i) => i.category === 'kitchen')).toBe(true);
    const search = await get<{ items: { id: string; category?: string }[] }>('/v1/items?q=cake&category=party');
    expect(search.items.map((i) => i.id)).toContain('22423');
    for (const i of search.items) expect(i.category).toBe('party');
  });

  it('still returns k items when a filter leaves few of the catalogue, and excludes ids', async () => {
    const cheap = await get('/v1/users/17850/recommendations?k=20&maxPrice=500&category=bulk');
    // the 1,000 bulk items are not in the model: none passes a model-scored list
    expect(cheap.items.filter((i) => !i.new)).toEqual([]);
    const excluded = await get('/v1/items/85123A/similar?k=5&exclude=21733&exclude=22804');
    expect(ids(excluded)).not.toContain('21733');
    expect(ids(excluded)).not.toContain('22804');
    expect(excluded.items.length).toBe(5);
  });

  it('rejects bad filter values with a 400', async () => {
    for (const q of ['minPrice=-1', 'maxPrice=abc', 'minPrice=1e3', 'includeUnavailable=maybe', `category=${'c'.repeat(101)}`]) {
      expect((await SELF.fetch(`http://x/v1/users/17850/recommendations?${q}`)).status, q).toBe(400);
    }
    const res = await SELF.fetch('http://x/v1/recommendations', {
      method: 'POST',
      headers: KEY,
      body: JSON.stringify({ items: ['85123A'], filter: { minPrice: 5, maxPrice: 1 } }),
    });
    expect((await getJson(res)).error.message).toMatch(/minPrice must not exceed maxPrice/);
    // the same band in a query string is the same 400, not an empty list
    for (const path of ['/v1/users/17850/recommendations', '/v1/popular', '/v1/items/85123A/similar']) {
      const got = await SELF.fetch(`http://x${path}?minPrice=5&maxPrice=1`);
      expect(got.status, path).toBe(400);
      expect((await getJson(got)).error).toMatchObject({
        code: 'invalid_request',
        message: expect.stringMatching(/minPrice must not exceed/),
      });
    }
  });
});

describe('new products before the next training', () => {
  it('shows an item the model does not know in category and popular fallbacks, similar items and its own page', async () => {
    await put([
      { id: 'NEW-HEART-1', title: 'PINK HANGING HEART T-LIGHT HOLDER DELUXE', category: 'candles', price: 3.5 },
      { id: 'NEW-MUG-1', title: 'ENAMEL MUG SPOTTY', category: 'mugs', price: 4 },
    ]);
    expect(await get<Record<string, unknown>>('/v1/items/NEW-HEART-1')).toMatchObject({
      inModel: false,
      popularity: null,
      available: true,
    });
    const popular = await get('/v1/users/someone-new/recommendations?k=8');
    expect(popular.items.find((i) => i.id === 'NEW-HEART-1' || i.id === 'NEW-MUG-1')).toMatchObject({ new: true });
    const shelf = await get('/v1/popular?k=5&category=mugs');
    expect(ids(shelf)).toEqual(['NEW-MUG-1']);
    // a short list (k below 4 leaves no "every fourth place") still shows the new item after the known ones
    await put([
      { id: '22784', category: 'lanterns' },
      { id: 'NEW-LANTERN-1', title: 'BRASS GARDEN LANTERN', category: 'lanterns' },
    ]);
    expect(ids(await get('/v1/popular?k=3&category=lanterns'))).toEqual(['22784', 'NEW-LANTERN-1']);
    // related to the hanging heart it resembles, by content
    expect(ids(await get('/v1/items/85123A/similar?k=20'))).toContain('NEW-HEART-1');
    const own = await get('/v1/items/NEW-HEART-1/similar?k=5');
    expect(own.items[0].title).toMatch(/heart/i);
    // events for it are accepted (they reach the exports the next training learns from)
    const ev = await SELF.fetch('http://x/v1/events', {
      method: 'POST',
      headers: KEY,
      body: JSON.stringify({ userId: 'early-adopter', itemId: 'NEW-HEART-1', type: 'purchase' }),
    });
    const body = await getJson(ev);
    expect(body, JSON.stringify(body)).toMatchObject({ accepted: 1, rejected: [] });
  });
  it('answers a basket of only new products by what their titles and categories relate to, not by bestsellers alone', async () => {
    await put([
      { id: 'NEW-LANTERN-2', title: 'ANTIQUE SILVER T-LIGHT LANTERN', category: 'lanterns' },
      { id: 'NEW-LANTERN-3', title: 'MOROCCAN TEA GLASS LANTERN', category: 'lanterns' },
    ]);
    const basket = await post('/v1/recommendations', { items: ['NEW-LANTERN-2'], k: 10 });
    expect(basket.source).toBe('session');
    // the other new lantern (same category) and the model's t-light/lantern items come first
    const top = basket.items.slice(0, 5);
    expect(ids(basket)).toContain('NEW-LANTERN-3');
    expect(top.filter((i) => /LANTERN|T-LIGHT/i.test(i.title) || i.category === 'lanterns').length).toBeGreaterThanOrEqual(3);
    // the basket's own item is not recommended back, and the list is full (popular fills the rest)
    expect(ids(basket)).not.toContain('NEW-LANTERN-2');
    expect(basket.items).toHaveLength(10);
    expect(basket.items.map((i) => i.position)).toEqual(Array.from({ length: 10 }, (_, j) => j + 1));
    // the bestseller list for the same request without the basket differs
    expect(ids(basket)).not.toEqual(ids(await get('/v1/popular?k=10')));
    // filters still hold: a price cap the new lanterns (no price) and the rest must pass
    const capped = await post('/v1/recommendations', { items: ['NEW-LANTERN-2'], k: 10, filter: { maxPrice: 1 } });
    expect(capped.items.length).toBeGreaterThan(0);
    expect(capped.items.every((i) => i.price !== undefined && i.price <= 1)).toBe(true);
    // a placement's boost lifts a related item as in any other list
    const lower = basket.items.find((i, j) => j >= 4 && !i.new) as Item;
    await SELF.fetch('http://x/admin/placements/lantern-push', {
      method: 'PUT',
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ boosts: [{ match: { ids: [lower.id] }, add: 10 }] }),
    });
    const pushed = await post('/v1/recommendations', { items: ['NEW-LANTERN-2'], k: 10, placement: 'lantern-push' });
    expect(pushed.items[0]).toMatchObject({ id: lower.id, boosted: true });
    // asked to keep the basket's own items, the basket item is the closest match to itself
    const kept = await post('/v1/recommendations', { items: ['NEW-LANTERN-2'], k: 10, excludeGiven: false });
    expect(ids(kept)[0]).toBe('NEW-LANTERN-2');
    // an id nobody knows is still only reported, and the answer falls back to popular
    const unknown = await post('/v1/recommendations', { items: ['NOBODY-KNOWS'], k: 5 });
    expect(unknown.source).toBe('popular');
  });
});

describe("every isolate's copy", () => {
  it('sees another isolate’s write after its next sync, and never answers from a copy older than the bound', async () => {
    const client = catalogClient(env.CATALOG, env.MODELS);
    const settings = { syncSeconds: 5, maxStaleSeconds: 20, newItemSeconds: 3600, maxNewItems: 100, facetAttributes: [] };
    const other = new LiveCatalog(client, settings);
    const later: Promise<unknown>[] = [];
    const t0 = Date.now();
    await other.ensureFresh((p) => later.push(p), t0);
    await put([{ id: '22720', title: 'Renamed elsewhere' }]);
    // within the sync interval the other copy answers from what it has…
    await other.ensureFresh((p) => later.push(p), t0 + 1000);
    expect((await other.record('22720'))?.title).not.toBe('Renamed elsewhere');
    // …after it, it refreshes in the background…
    await other.ensureFresh((p) => later.push(p), t0 + 6000);
    await Promise.all(later);
    expect((await other.record('22720'))?.title).toBe('Renamed elsewhere');
    // …and past the bound it waits for the refresh before answering
    await put([{ id: '22720', title: 'Renamed again' }]);
    await other.ensureFresh(() => expect.fail('must not defer past the bound'), Date.now() + 21_000);
    expect((await other.record('22720'))?.title).toBe('Renamed again');
  });

  it('starts from a snapshot in R2 plus the changes after it', async () => {
    const stub = env.CATALOG.get(env.CATALOG.idFromName('catalog'));
    const snap = await stub.writeSnapshot();
    expect(snap.items).toBeGreaterThan(1000);
    await put([{ id: '22423', title: 'After the snapshot' }]);
    const fresh = newIsolateCatalog();
    await fresh.ensureFresh(() => {});
    expect((await fresh.record('big-7'))?.title).toMatch(/bulk item number 7/); // from a snapshot part
    expect((await fresh.record('22423'))?.title).toBe('After the snapshot'); // from the changes since
    expect((await fresh.record('NEVER'))?.title).toBeUndefined();
  });
});

describe('a 100,000-item catalogue', () => {
  it('loads in batches of 1,000, snapshots within the per-invocation limits, and reaches another isolate at its next sync', async () => {
    const client = catalogClient(env.CATALOG, env.MODELS);
    const stub = env.CATALOG.get(env.CATALOG.idFromName('catalog'));
    const records: CatalogRecord[] = [];
    for (let b = 0; b < 100; b++) {
      const batch = Array.from({ length: 1000 }, (_, i) => ({
        id: `sku-${b * 1000 + i}`,
        title: `Product ${b * 1000 + i}`,
        category: (b * 1000 + i) % 20 === 0 ? 'rare' : 'common',
        price: (b * 1000 + i) % 100,
      }));
      const res = await client.upsert(batch, Date.now());
      if (res.refused) expect.fail(`refused ${res.refused.id}`);
      expect(res.created + res.updated).toBe(1000);
      if (b === 0) records.push(...res.records);
    }
    const status = await client.status();
    const snap = await stub.writeSnapshot();
    expect(snap.items).toBeGreaterThanOrEqual(100_000);
    // one R2 write per part, a manifest and a listing: far below 1,000 operations
    expect(snap.parts).toBeLessThanOrEqual(128);
    expect(snap.seq).toBe(status.seq);
    // 10,000 updates (ten batches of 1,000: ten Durable Object requests) are seen by another isolate's next sync
    const copy = newIsolateCatalog(100_000);
    await copy.ensureFresh(() => {});
    for (let b = 0; b < 10; b++)
      await client.upsert(
        Array.from({ length: 1000 }, (_, i) => ({ id: `sku-${b * 1000 + i}`, available: false })),
        Date.now(),
      );
    await copy.sync();
    expect((await copy.record('sku-9999'))?.available).toBe(false);
    expect((await copy.record('sku-10000'))?.available).toBeUndefined();
    expect(records[0].seq).toBeGreaterThan(0);
  }, 120_000);
});
