/**
 * A placement's rules on every list, where they meet each other and the list's own rules: the
 * diversity cap still fills k from new products, a pin never brings back what the list itself
 * leaves out and pins at one position keep their order, search matches what it shows, new
 * products join personalised and session lists, boosts rank the whole trending list, and an
 * attribute boost matches by type. Against the bundled Online Retail model and the real local
 * Durable Objects, R2 and KV.
 */
import { SELF } from 'cloudflare:test';
import { ItemIds } from '@edge-recs/core/item-ids';
import { describe, expect, it } from 'vitest';
import { CatalogBinding } from '../../src/models/live-catalog';
import { type BoostRule, buildPlan, CompiledFilter, compileRecordBoosts } from '../../src/services/merchandising';
import type { CatalogRecord } from '../../src/storage/catalog-store';
import { getJson } from './fixtures';

const KEY = { authorization: 'Bearer test-api-key', 'content-type': 'application/json' };
const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
type Item = {
  id: string;
  title: string;
  score: number;
  position: number;
  category?: string;
  pinned?: true;
  boosted?: true;
  new?: true;
  exploration?: true;
  because?: { id: string }[];
};
type Rec = { source: string; items: Item[] };

const putItems = async (items: unknown[]) => {
  const res = await SELF.fetch('http://x/v1/items', { method: 'PUT', headers: KEY, body: JSON.stringify({ items }) });
  expect(res.status, await res.clone().text()).toBe(200);
};
const putPlacement = async (name: string, body: unknown) => {
  const res = await SELF.fetch(`http://x/admin/placements/${name}`, { method: 'PUT', headers: ADMIN, body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBe(200);
};
const get = async (path: string) => getJson<Rec>(await SELF.fetch(`http://x${path}`));
const post = async (path: string, body: unknown) =>
  getJson<Rec>(await SELF.fetch(`http://x${path}`, { method: 'POST', headers: KEY, body: JSON.stringify(body) }));
const ids = (r: Rec) => r.items.map((i) => i.id);
const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('a diversity cap over new products', () => {
  it('fills k from the newest products when the newest share a category (fallback "new", popular)', async () => {
    // older products without a category, then newer ones all in one category
    await putItems(Array.from({ length: 25 }, (_, j) => ({ id: `NC-${j}`, title: `PLAIN NEW THING ${j}` })));
    await tick();
    await putItems(Array.from({ length: 15 }, (_, j) => ({ id: `NF-${j}`, title: `FLOOD NEW THING ${j}`, category: 'flood' })));
    await putPlacement('pn', { fallback: 'new', diversity: { maxPerCategory: 1 } });
    for (const k of [10, 20]) {
      const body = await get(`/v1/users/nobody/recommendations?k=${k}&placement=pn`);
      expect(body.source).toBe('new');
      expect(body.items, `k=${k}`).toHaveLength(k);
      expect(body.items.every((i) => i.new)).toBe(true);
      expect(body.items.filter((i) => i.category === 'flood')).toHaveLength(1);
      expect(new Set(ids(body)).size).toBe(k);
    }
    // popular: a new product at every fourth place, as many as without the cap
    await putPlacement('pp', { diversity: { maxPerCategory: 2 } });
    const popular = await get('/v1/popular?k=20&placement=pp');
    expect(popular.items).toHaveLength(20);
    expect(popular.items.filter((i) => i.new).map((i) => i.position)).toEqual([4, 8, 12, 16, 20]);
    expect(popular.items.filter((i) => i.category === 'flood')).toHaveLength(2);
    const counts = new Map<string, number>();
    for (const i of popular.items) if (i.category) counts.set(i.category, (counts.get(i.category) ?? 0) + 1);
    expect(Math.max(0, ...counts.values())).toBeLessThanOrEqual(2);
  });
});

describe('pins', () => {
  it('never bring back an item the list itself leaves out: its own item, the basket, the history', async () => {
    await putPlacement('p4', { pins: [{ itemId: '22784', position: 1 }] });
    for (const list of ['similar', 'bought-together']) {
      const own = await get(`/v1/items/22784/${list}?k=5&placement=p4`);
      expect(ids(own), list).not.toContain('22784');
      expect(own.items.length, list).toBeGreaterThan(0);
      // on another item's list the pin applies
      expect((await get(`/v1/items/85123A/${list}?k=5&placement=p4`)).items[0], list).toMatchObject({ id: '22784', pinned: true });
    }
    // a basket item, while the basket's items are excluded (the default)
    await putPlacement('p-basket', { pins: [{ itemId: '85123A', position: 1 }] });
    const basket = await post('/v1/recommendations', { items: ['85123A'], k: 5, placement: 'p-basket' });
    expect(ids(basket)).not.toContain('85123A');
    expect(basket.items).toHaveLength(5);
    const kept = await post('/v1/recommendations', { items: ['85123A'], k: 5, placement: 'p-basket', excludeGiven: false });
    expect(kept.items[0]).toMatchObject({ id: '85123A', pinned: true });
    // a basket of new products only: the same
    await putItems([{ id: 'PIN-NEW', title: 'PINNED NEW LANTERN', category: 'pin-lanterns' }]);
    await putPlacement('p-new-basket', { pins: [{ itemId: 'PIN-NEW', position: 1 }] });
    expect(ids(await post('/v1/recommendations', { items: ['PIN-NEW'], k: 5, placement: 'p-new-basket' }))).not.toContain('PIN-NEW');
    // a purchase, while purchases are excluded (the default)
    const explained = await get('/v1/users/17850/recommendations?k=5&explain=true');
    const bought = explained.items.flatMap((i) => i.because ?? []).map((b) => b.id)[0];
    expect(bought).toBeDefined();
    await putPlacement('p-history', { pins: [{ itemId: bought, position: 1 }] });
    const mine = await get('/v1/users/17850/recommendations?k=5&placement=p-history');
    expect(ids(mine)).not.toContain(bought);
    expect(mine.items).toHaveLength(5);
    const again = await get('/v1/users/17850/recommendations?k=5&placement=p-history&excludePurchased=false');
    expect(again.items[0]).toMatchObject({ id: bought, pinned: true });
  });

  it('at the same position follow each other in the order given', async () => {
    await putPlacement('p-same', {
      pins: [
        { itemId: '22720', position: 2 },
        { itemId: '21212', position: 2 },
        { itemId: '84879', position: 2 },
      ],
    });
    for (const path of [
      '/v1/popular?k=6&placement=p-same',
      '/v1/users/17850/recommendations?k=6&placement=p-same&excludePurchased=false',
    ]) {
      const body = await get(path);
      expect(
        body.items.filter((i) => i.pinned).map((i) => [i.id, i.position]),
        path,
      ).toEqual([
        ['22720', 2],
        ['21212', 3],
        ['84879', 4],
      ]);
      expect(body.items, path).toHaveLength(6);
    }
  });
});

describe('title search', () => {
  it('matches the title as served, the catalogue’s over the model’s, and an item’s categories', async () => {
    const search = async (q: string) =>
      getJson<{ items: { id: string; title: string }[] }>(await SELF.fetch(`http://x/v1/items?q=${encodeURIComponent(q)}&limit=50`));
    const before = (await search('pack of 72')).items.find((i) => i.id === '21212');
    expect(before).toBeDefined();
    await putItems([{ id: '21212', title: 'ZEBRA STRIPED CUPCAKE CASES' }]);
    expect((await search('zebra')).items).toEqual([expect.objectContaining({ id: '21212', title: 'ZEBRA STRIPED CUPCAKE CASES' })]);
    expect((await search('pack of 72')).items.map((i) => i.id)).not.toContain('21212');
    // a category matches for an item the model knows as for a new one
    await putItems([
      { id: '22423', category: 'cakestandia' },
      { id: 'CAKESTAND-NEW', title: 'TIERED STAND', category: 'cakestandia' },
    ]);
    expect((await search('cakestandia')).items.map((i) => i.id).sort()).toEqual(['22423', 'CAKESTAND-NEW']);
    // and a pin is placed when its served title matches
    await putPlacement('p-zebra', { pins: [{ itemId: '21212', position: 1 }] });
    const pinned = await getJson<{ items: { id: string; pinned?: true }[] }>(
      await SELF.fetch('http://x/v1/items?q=zebra&placement=p-zebra'),
    );
    expect(pinned.items).toEqual([expect.objectContaining({ id: '21212', pinned: true })]);
    const old = await getJson<{ items: { id: string }[] }>(await SELF.fetch('http://x/v1/items?q=pack%20of%2072&placement=p-zebra'));
    expect(old.items.map((i) => i.id)).not.toContain('21212');
  });
});

describe('new products in personalised and session lists', () => {
  it('fill the places the known items leave empty when they pass the filter', async () => {
    await putItems([{ id: 'SOLO-1', title: 'SOLO THING', category: 'solo' }]);
    expect(ids(await get('/v1/popular?category=solo'))).toEqual(['SOLO-1']);
    const mine = await get('/v1/users/17850/recommendations?category=solo');
    expect(ids(mine)).toEqual(['SOLO-1']);
    expect(mine.items[0].new).toBe(true);
    const session = await post('/v1/recommendations', { items: ['85123A'], k: 5, filter: { category: ['solo'] } });
    expect(ids(session)).toEqual(['SOLO-1']);
    // after the known items that pass, never before them
    await putItems([{ id: '85099B', category: 'solo' }]);
    const both = await get('/v1/users/17850/recommendations?category=solo&excludePurchased=false');
    expect(ids(both)).toEqual(['85099B', 'SOLO-1']);
  });

  it('rank a new product an add boost lifts by its boosted score among the known ones', async () => {
    await putItems([{ id: 'NL-0', title: 'NEW LAMP ZERO', category: 'lamps-new' }]);
    await putPlacement('pb', { boosts: [{ match: { ids: ['NL-0', '22720'] }, add: 100 }] });
    const popular = await get('/v1/popular?k=10&placement=pb');
    expect(ids(popular).slice(0, 2).sort()).toEqual(['22720', 'NL-0']);
    for (const [what, body] of [
      ['personalised', await get('/v1/users/17850/recommendations?k=10&placement=pb')],
      ['session', await post('/v1/recommendations', { items: ['85123A'], k: 10, placement: 'pb' })],
    ] as const) {
      const top = body.items.slice(0, 2);
      expect(top.map((i) => i.id).sort(), what).toEqual(['22720', 'NL-0']);
      const lamp = body.items.find((i) => i.id === 'NL-0');
      expect(lamp, what).toMatchObject({ new: true, boosted: true });
      expect(lamp?.score, what).toBeCloseTo(100, 6);
      // best first, the new product included
      const scores = body.items.map((i) => i.score);
      expect(scores, what).toEqual([...scores].sort((a, b) => b - a));
    }
    // without the placement it is not lifted
    expect(ids(await get('/v1/users/17850/recommendations?k=10'))).not.toContain('NL-0');
  });
});

describe('trending under a boost', () => {
  it('ranks a boosted popular item by its boosted score among the trending ones, whatever k', async () => {
    const events = ['22423', '47566'].flatMap((itemId) =>
      ['a', 'b', 'c'].map((u) => ({ userId: `pt-${itemId}-${u}`, itemId, type: 'view' })),
    );
    const posted = await SELF.fetch('http://x/v1/events', { method: 'POST', headers: KEY, body: JSON.stringify({ events }) });
    expect(posted.status).toBe(200);
    const plain = await get('/v1/trending?k=8');
    const trendingIds = plain.items.filter((i) => i.score > 0).map((i) => i.id);
    expect(trendingIds.sort()).toEqual(['22423', '47566']);
    expect(ids(plain).indexOf('85099B')).not.toBe(0);
    await putPlacement('pt', { boosts: [{ match: { ids: ['85099B'] }, add: 50 }] });
    const boosted = await get('/v1/trending?k=8&placement=pt');
    expect(boosted.items).toHaveLength(8);
    expect(boosted.items[0]).toMatchObject({ id: '85099B', boosted: true, score: 50 });
    // then the trending items, then the rest of the fill (score 0, below every trending item)
    expect(
      boosted.items
        .slice(1, 3)
        .map((i) => i.id)
        .sort(),
    ).toEqual(['22423', '47566']);
    for (const i of boosted.items.slice(1, 3)) expect(i.score).toBeGreaterThan(0);
    for (const i of boosted.items.slice(3)) expect(i.score).toBe(0);
    // a smaller k is the top of a larger one
    expect(ids(await get('/v1/trending?k=1&placement=pt'))).toEqual(['85099B']);
    expect(ids(await get('/v1/trending?k=3&placement=pt'))).toEqual(ids(boosted).slice(0, 3));
  });
});

describe('attribute boosts', () => {
  const settings = { syncSeconds: 5, maxStaleSeconds: 20, newItemSeconds: 3600, maxNewItems: 100, facetAttributes: ['eco', 'size'] };
  const record = (id: string, attributes: CatalogRecord['attributes']): CatalogRecord => ({
    id,
    title: id,
    attributes,
    createdAt: Date.now(),
    updatedAt: Date.now(),
  });
  const boost = (value: string | number | boolean): BoostRule[] => [{ match: { attribute: { name: 'eco', value } }, add: 1 }];

  it('match a new product by the attribute’s type and value', () => {
    const binding = new CatalogBinding(new ItemIds(ItemIds.encode(['M-1']), 1), settings);
    const yes = record('N-BOOL', { eco: true });
    const text = record('N-TEXT', { eco: 'true' });
    const one = record('N-ONE', { eco: 1 });
    const textOne = record('N-TEXT-ONE', { eco: '1' });
    for (const r of [yes, text, one, textOne]) binding.apply(r);
    const onTrue = compileRecordBoosts(binding, boost(true));
    expect(onTrue?.(yes)).toEqual({ multiply: 1, add: 1 });
    expect(onTrue?.(text)).toBeNull();
    const onText = compileRecordBoosts(binding, boost('true'));
    expect(onText?.(text)).toEqual({ multiply: 1, add: 1 });
    expect(onText?.(yes)).toBeNull();
    const onOne = compileRecordBoosts(binding, boost(1));
    expect(onOne?.(one)).toEqual({ multiply: 1, add: 1 });
    expect(onOne?.(textOne)).toBeNull();
  });

  it('match a product the model knows by the attribute’s type and value', () => {
    const binding = new CatalogBinding(new ItemIds(ItemIds.encode(['M-BOOL', 'M-TEXT']), 2), settings);
    binding.apply(record('M-BOOL', { eco: true }));
    binding.apply(record('M-TEXT', { eco: 'true' }));
    const plan = buildPlan(new CompiledFilter(binding, {}), boost(true));
    expect(plan).not.toBeNull();
    const add = (i: number) => plan?.transforms[2 * (plan?.classes[i] ?? 0) + 1];
    expect(add(0)).toBe(1);
    expect(add(1)).toBe(0);
  });
});

describe('new products past their promotion window', () => {
  const settings = { syncSeconds: 5, maxStaleSeconds: 20, newItemSeconds: 3600, maxNewItems: 100, facetAttributes: [] };
  const at = (id: string, agoMs: number, titled = true): CatalogRecord => ({
    id,
    ...(titled ? { title: id } : {}),
    category: 'solo',
    createdAt: Date.now() - agoMs,
    updatedAt: Date.now() - agoMs,
  });

  it('stay sellable (held, newest first) while only the young ones count as new; a record without a title is no product', () => {
    const binding = new CatalogBinding(new ItemIds(ItemIds.encode(['M-1']), 1), settings);
    binding.apply(at('OLD', 2 * 3600_000));
    binding.apply(at('OLDER', 3 * 3600_000));
    binding.apply(at('YOUNG', 60_000));
    binding.apply(at('NAMELESS', 60_000, false));
    const now = Date.now();
    expect(binding.heldNewItems(now, 'fresh').map((r) => r.id)).toEqual(['YOUNG']);
    expect(binding.heldNewItems(now, 'aged').map((r) => r.id)).toEqual(['OLD', 'OLDER']);
    expect(binding.heldNewItems(now, 'all').map((r) => r.id)).toEqual(['YOUNG', 'OLD', 'OLDER']);
  });
});

describe('a placement stored before empty category lists were refused', () => {
  it('reads category [] as any category, as leaving it out does, instead of leaving every list empty', () => {
    const settings = { syncSeconds: 5, maxStaleSeconds: 20, newItemSeconds: 3600, maxNewItems: 100, facetAttributes: [] };
    const binding = new CatalogBinding(new ItemIds(ItemIds.encode(['M-1', 'M-2']), 2), settings);
    binding.apply({ id: 'M-1', title: 'Lamp', category: 'home', createdAt: 1, updatedAt: 1 });
    const legacy = new CompiledFilter(binding, { categories: [] });
    expect([legacy.whyNot(0), legacy.whyNot(1)]).toEqual([null, null]);
    expect(legacy.recordWhyNot({ id: 'N-1', category: 'garden' })).toBeNull();
    // a list that names a category still restricts
    const home = new CompiledFilter(binding, { categories: ['home'] });
    expect([home.whyNot(0), home.whyNot(1)]).toEqual([null, 'category']);
  });
});

describe('a diversity cap over a shelf whose top shares one category', () => {
  it('still fills k with known items, however many of the best share the category', async () => {
    // the 80 most popular and the 80 most similar to 22423 (more than any fixed candidate window) become one category
    const top = (await get('/v1/popular?k=80')).items.filter((i) => !i.new).map((i) => i.id);
    const near = ids(await get('/v1/items/22423/similar?k=80'));
    const mono = [...new Set([...top, ...near])];
    for (let j = 0; j < mono.length; j += 100) await putItems(mono.slice(j, j + 100).map((id) => ({ id, category: 'mono-shelf' })));
    await putPlacement('one-each', { diversity: { maxPerCategory: 2 } });
    for (const path of ['/v1/popular?k=10&placement=one-each', '/v1/items/22423/similar?k=10&placement=one-each']) {
      const body = await get(path);
      expect(body.items, path).toHaveLength(10);
      expect(body.items.filter((i) => i.category === 'mono-shelf').length, path).toBeLessThanOrEqual(2);
      // new products keep their every-fourth place on popular shelves; the rest are known items, not a fill of new ones
      expect(body.items.filter((i) => !i.new).length, path).toBeGreaterThanOrEqual(7);
    }
  });
});

describe('fallback "new" on a shelf no new product is on yet', () => {
  it('answers the known items that pass, after the new ones, instead of an empty list', async () => {
    const known = ['22086', '22910', '85123A'];
    await putItems(known.map((id) => ({ id, category: 'only-known-shelf' })));
    await putPlacement('new-first', { fallback: 'new', filter: { category: 'only-known-shelf' } });
    const stranger = await get('/v1/users/nobody-at-all/recommendations?k=5&placement=new-first');
    expect(stranger.source).toBe('new');
    expect(ids(stranger).sort()).toEqual([...known].sort());
    const basket = await post('/v1/recommendations', { items: ['NOT-AN-ITEM-ANYWHERE'], k: 5, placement: 'new-first' });
    expect(ids(basket).sort()).toEqual([...known].sort());
    // a new product on the shelf comes first
    await putItems([{ id: 'NEW-ON-SHELF', title: 'SHELF NEWCOMER', category: 'only-known-shelf' }]);
    const after = await get('/v1/users/nobody-at-all/recommendations?k=5&placement=new-first');
    expect(ids(after)[0]).toBe('NEW-ON-SHELF');
    expect(ids(after).slice(1).sort()).toEqual([...known].sort());
  });
});

describe("a shopper's new products", () => {
  it('are left out of their list like the rest of their history: not as fill, not pinned back in', async () => {
    await putItems([
      { id: 'HIST-NEW-PAN', title: 'COPPER PAN', category: 'cookware-shelf' },
      { id: 'HIST-NEW-LID', title: 'COPPER LID', category: 'cookware-shelf' },
    ]);
    const res = await SELF.fetch('http://x/v1/events', {
      method: 'POST',
      headers: KEY,
      body: JSON.stringify({ events: [{ userId: '17850', itemId: 'HIST-NEW-PAN', type: 'purchase' }] }),
    });
    expect(res.status).toBe(200);
    const shelf = await get('/v1/users/17850/recommendations?k=5&category=cookware-shelf');
    expect(ids(shelf)).toEqual(['HIST-NEW-LID']);
    // with excludePurchased=false it may be shown again
    expect(ids(await get('/v1/users/17850/recommendations?k=5&category=cookware-shelf&excludePurchased=false')).sort()).toEqual([
      'HIST-NEW-LID',
      'HIST-NEW-PAN',
    ]);
    await putPlacement('pin-bought', { pins: [{ itemId: 'HIST-NEW-PAN', position: 1 }] });
    const pinned = await get('/v1/users/17850/recommendations?k=5&placement=pin-bought');
    expect(ids(pinned)).not.toContain('HIST-NEW-PAN');
    // another shopper gets the pin
    expect(ids(await get('/v1/users/someone-else/recommendations?k=5&placement=pin-bought'))[0]).toBe('HIST-NEW-PAN');
  });
});

describe('exploration slots on a short list', () => {
  it('take at most half of it, so what the list is about still shows', async () => {
    await putItems([
      { id: 'EXPLORE-SHORT-1', title: 'FRESH THING ONE' },
      { id: 'EXPLORE-SHORT-2', title: 'FRESH THING TWO' },
    ]);
    await putPlacement('explore-short', { explorationSlots: 3 });
    const count = async (k: number) =>
      (await get(`/v1/users/17850/recommendations?k=${k}&placement=explore-short`)).items.filter((i) => i.exploration).length;
    expect(await count(1)).toBe(0);
    expect(await count(2)).toBe(1);
    expect(await count(10)).toBe(3);
  });
});

describe('a shopper whose history holds only new products', () => {
  it('does not get them back in the fallback list, while a stranger does', async () => {
    await putItems([{ id: 'ONLY-NEW-BOUGHT', title: 'BRAND NEW GADGET' }]);
    const res = await SELF.fetch('http://x/v1/events', {
      method: 'POST',
      headers: KEY,
      body: JSON.stringify({ events: [{ userId: 'only-new-shopper', itemId: 'ONLY-NEW-BOUGHT', type: 'purchase' }] }),
    });
    expect(res.status).toBe(200);
    expect(ids(await get('/v1/users/a-stranger/recommendations?k=10'))).toContain('ONLY-NEW-BOUGHT');
    const mine = await get('/v1/users/only-new-shopper/recommendations?k=10');
    expect(mine.source).toBe('popular');
    expect(mine.items).toHaveLength(10);
    expect(ids(mine)).not.toContain('ONLY-NEW-BOUGHT');
    expect(ids(await get('/v1/users/only-new-shopper/recommendations?k=10&excludePurchased=false'))).toContain('ONLY-NEW-BOUGHT');
  });
});
