/**
 * Merchandising placements: named rule sets stored at the edge and edited without a deploy —
 * a default filter, boosts (with an end time), pins, a diversity cap, the fallback for unknown
 * users and exploration slots for new products — applied with ?placement= / "placement", and
 * reported in the answer.
 */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { getJson, newIsolateCatalog } from './fixtures';

const KEY = { authorization: 'Bearer test-api-key', 'content-type': 'application/json' };
const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
type Item = {
  id: string;
  score: number;
  position: number;
  category?: string;
  pinned?: true;
  boosted?: true;
  exploration?: true;
  new?: true;
};
type Rec = {
  source: string;
  items: Item[];
  placement?: { name: string; boosts: number; pins: number; exploration: number; maxPerCategory?: number };
};

const putItems = (items: unknown[]) => SELF.fetch('http://x/v1/items', { method: 'PUT', headers: KEY, body: JSON.stringify({ items }) });
const putPlacement = (name: string, body: unknown, headers: Record<string, string> = ADMIN) =>
  SELF.fetch(`http://x/admin/placements/${name}`, { method: 'PUT', headers, body: JSON.stringify(body) });
const recs = async (q: string) => getJson<Rec>(await SELF.fetch(`http://x/v1/users/17850/recommendations?${q}`));
const ids = (r: Rec) => r.items.map((i) => i.id);

describe('placements', () => {
  it('are defined, listed and deleted by operators only', async () => {
    expect((await putPlacement('home', { fallback: 'popular' }, KEY)).status).toBe(401);
    const res = await putPlacement('home', { description: 'front page', fallback: 'popular' });
    expect(res.status).toBe(200);
    expect(await getJson(res)).toMatchObject({ name: 'home', description: 'front page', fallback: 'popular' });
    const list = await getJson(await SELF.fetch('http://x/admin/placements', { headers: ADMIN }));
    expect(list.placements.map((p: { name: string }) => p.name)).toContain('home');
    expect((await SELF.fetch('http://x/admin/placements/home', { method: 'DELETE', headers: ADMIN })).status).toBe(200);
    expect((await SELF.fetch('http://x/admin/placements/home', { method: 'DELETE', headers: ADMIN })).status).toBe(404);
    const unknown = await SELF.fetch('http://x/v1/users/17850/recommendations?placement=home');
    expect(unknown.status).toBe(404);
    expect((await getJson(unknown)).error.code).toBe('placement_not_found');
  });

  it('refuse invalid rules', async () => {
    for (const body of [
      { boosts: [{ match: { category: 'x' } }] }, // neither multiply nor add
      { boosts: [{ match: { attribute: { name: 'brand', value: 'Acme' } }, add: 1 }] }, // brand is not a declared facet
      { pins: [{ itemId: '22423', position: 0 }] },
      {
        pins: [
          { itemId: '22423', position: 1 },
          { itemId: '22423', position: 3 },
        ],
      }, // the same item twice
      { diversity: { maxPerCategory: 0 } },
      { boosts: Array.from({ length: 8 }, () => ({ match: { category: 'x' }, add: 1 })) },
      { boosts: [{ match: { category: 'x' }, add: 1, startsAt: '2030-01-02T00:00:00Z', endsAt: '2030-01-01T00:00:00Z' }] },
      { colour: 'red' },
    ]) {
      const res = await putPlacement('bad', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((await SELF.fetch('http://x/admin/placements/Bad Name', { method: 'PUT', headers: ADMIN, body: '{}' })).status).toBe(400);
  });

  it('boost items of a category up the list, until the campaign ends', async () => {
    const base = await recs('k=30');
    const low = base.items.slice(-3).map((i) => i.id);
    await putItems(low.map((id) => ({ id, category: 'campaign' })));
    await putPlacement('campaign', {
      boosts: [{ match: { category: 'campaign' }, add: 10, endsAt: new Date(Date.now() + 3600_000).toISOString() }],
    });
    const boosted = await recs('k=30&placement=campaign');
    expect(ids(boosted).slice(0, 3).sort()).toEqual([...low].sort());
    for (const i of boosted.items.slice(0, 3)) expect(i.boosted).toBe(true);
    expect(boosted.placement).toMatchObject({ name: 'campaign', boosts: 1 });
    // the same campaign after its end time: no boost
    await putPlacement('campaign', {
      boosts: [{ match: { category: 'campaign' }, add: 10, endsAt: new Date(Date.now() - 1000).toISOString() }],
    });
    const over = await recs('k=30&placement=campaign');
    expect(ids(over)).toEqual(ids(base));
    expect(over.placement?.boosts).toBe(0);
  });

  it('boost popular lists too, lifting an item from beyond the first k', async () => {
    const popular = async (q: string) => getJson<Rec>(await SELF.fetch(`http://x/v1/popular?${q}`));
    const deep = (await popular('k=60')).items[55].id;
    await putPlacement('popular-push', { boosts: [{ match: { ids: [deep] }, add: 1 }] });
    const boosted = await popular('k=10&placement=popular-push');
    expect(boosted.items[0]).toMatchObject({ id: deep, boosted: true });
    expect(ids(boosted).slice(1)).toEqual(ids(await popular('k=9')));
  });

  it('multiply boosts by id, and apply to session answers too', async () => {
    const session = (placement?: string) =>
      SELF.fetch('http://x/v1/recommendations', {
        method: 'POST',
        headers: KEY,
        body: JSON.stringify({ items: ['85123A'], k: 20, ...(placement ? { placement } : {}) }),
      }).then((r) => getJson<Rec>(r));
    const base = await session();
    const tenth = base.items[9].id;
    await putPlacement('pick', { boosts: [{ match: { ids: [tenth] }, multiply: 5 }] });
    const after = await session('pick');
    expect(after.items.findIndex((i) => i.id === tenth)).toBeLessThan(9);
  });

  it('pin an item at a position while it is available', async () => {
    await putPlacement('pinned', { pins: [{ itemId: '22423', position: 2 }] });
    const list = await recs('k=5&placement=pinned');
    expect(list.items[1]).toMatchObject({ id: '22423', position: 2, pinned: true });
    expect(ids(list).filter((id) => id === '22423')).toHaveLength(1);
    await putItems([{ id: '22423', available: false }]);
    expect(ids(await recs('k=5&placement=pinned'))).not.toContain('22423');
    await putItems([{ id: '22423', available: true }]);
  });

  it('say which pinned or boosted ids nobody knows, store them all the same, and pin them once they exist', async () => {
    const res = await putPlacement('typo', {
      pins: [
        { itemId: '22423', position: 1 },
        { itemId: 'COMING-SOON-1', position: 2 },
      ],
      boosts: [{ match: { ids: ['85123A', 'NO-SUCH-ITEM'] }, add: 1 }],
    });
    expect(res.status).toBe(200);
    const body = await getJson(res);
    expect(body.unknownItems).toEqual(['COMING-SOON-1', 'NO-SUCH-ITEM']);
    expect(body.pins).toHaveLength(2);
    expect(ids(await recs('k=5&placement=typo'))).not.toContain('COMING-SOON-1');
    // the product arrives in the catalogue: the stored pin now applies, and a new PUT names nothing unknown
    await putItems([{ id: 'COMING-SOON-1', title: 'Advent calendar', price: 4 }]);
    const now = await recs('k=5&placement=typo');
    expect(now.items[1]).toMatchObject({ id: 'COMING-SOON-1', pinned: true });
    const again = await getJson(await putPlacement('typo', { pins: [{ itemId: 'COMING-SOON-1', position: 2 }] }));
    expect(again.unknownItems).toBeUndefined();
  });

  it('never pin an item the request filters out: excluded, outside the price band or the category', async () => {
    await putItems([{ id: '22423', category: 'cakes', price: 12.75 }]);
    await putPlacement('pinned-filtered', { pins: [{ itemId: '22423', position: 1 }] });
    expect(ids(await recs('k=5&placement=pinned-filtered'))[0]).toBe('22423');
    expect(ids(await recs('k=5&placement=pinned-filtered&exclude=22423'))).not.toContain('22423');
    const cheap = await recs('k=5&placement=pinned-filtered&maxPrice=5');
    expect(ids(cheap)).not.toContain('22423');
    expect(cheap.items).toHaveLength(5);
    expect(ids(await recs('k=5&placement=pinned-filtered&category=lanterns'))).not.toContain('22423');
    const basket = await getJson<Rec>(
      await SELF.fetch('http://x/v1/recommendations', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ items: ['85123A'], k: 5, placement: 'pinned-filtered', filter: { category: ['lanterns'] } }),
      }),
    );
    expect(ids(basket)).not.toContain('22423');
  });

  it('cap the items per category', async () => {
    const base = await recs('k=10');
    // give the first six the same category: at most two of them may stay
    await putItems(base.items.slice(0, 6).map((i) => ({ id: i.id, category: 'same' })));
    await putPlacement('diverse', { diversity: { maxPerCategory: 2 } });
    const list = await recs('k=10&placement=diverse');
    expect(list.items.length).toBe(10);
    expect(list.items.filter((i) => i.category === 'same').length).toBe(2);
    expect(list.placement?.maxPerCategory).toBe(2);
  });

  it('apply their default filter, which a request can override', async () => {
    await putItems([
      { id: '47566', category: 'party' },
      { id: '22720', category: 'kitchen' },
    ]);
    await putPlacement('party-shelf', { filter: { category: 'party' } });
    const shelf = await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=5&placement=party-shelf'));
    expect(shelf.items.every((i) => i.category === 'party')).toBe(true);
    const overridden = await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=5&placement=party-shelf&category=kitchen'));
    expect(ids(overridden)).toEqual(['22720']);
  });

  it('give unknown users the newest products, and known users new products in exploration slots', async () => {
    await putItems([
      { id: 'FRESH-1', title: 'HAND WARMER NEW DESIGN', category: 'warmers' },
      { id: 'FRESH-2', title: 'PAPER CHAIN KIT NEW', category: 'christmas' },
    ]);
    await putPlacement('launch', { fallback: 'new', explorationSlots: 2 });
    const stranger = await getJson<Rec>(await SELF.fetch('http://x/v1/users/somebody-new/recommendations?k=5&placement=launch'));
    expect(stranger.source).toBe('new');
    expect(ids(stranger)).toEqual(expect.arrayContaining(['FRESH-1', 'FRESH-2']));
    const known = await recs('k=10&placement=launch');
    const explored = known.items.filter((i) => i.exploration);
    expect(explored.length).toBe(2);
    for (const i of explored) expect(i.new).toBe(true);
    expect(known.placement?.exploration).toBe(2);
    // without the placement: no exploration
    expect((await recs('k=10')).items.some((i) => i.exploration)).toBe(false);
  });
});

describe('placement rules on every list', () => {
  const popular = async (q: string) => getJson<Rec>(await SELF.fetch(`http://x/v1/popular?${q}`));
  let top: string[] = [];

  it('fill k under a diversity cap on popular, trending and an unknown user, however many top items share a category', async () => {
    top = ids(await popular('k=20'));
    expect(top).toHaveLength(20);
    expect((await putItems(top.map((id) => ({ id, category: 'crowded' })))).status).toBe(200);
    expect((await putPlacement('one-each', { diversity: { maxPerCategory: 1 } })).status).toBe(200);
    for (const url of [
      'http://x/v1/popular?k=10&placement=one-each',
      'http://x/v1/trending?k=10&placement=one-each',
      'http://x/v1/users/nobody-at-all/recommendations?k=10&placement=one-each',
    ]) {
      const body = await getJson<Rec>(await SELF.fetch(url));
      expect(body.items, url).toHaveLength(10);
      expect(
        body.items.filter((i) => i.category === 'crowded'),
        url,
      ).toHaveLength(1);
      expect(new Set(ids(body)).size, url).toBe(10);
    }
  });

  it('fill trending to k under the cap even when every trending item shares one category', async () => {
    // twelve of the crowded items trend (three shoppers each): the cap keeps one, popularity fills
    const events = top
      .slice(0, 12)
      .flatMap((itemId, j) => ['a', 'b', 'c'].map((u) => ({ userId: `trend-${j}-${u}`, itemId, type: 'view' })));
    const posted = await SELF.fetch('http://x/v1/events', { method: 'POST', headers: KEY, body: JSON.stringify({ events }) });
    expect(posted.status).toBe(200);
    const body = await getJson<Rec>(await SELF.fetch('http://x/v1/trending?k=10&placement=one-each'));
    expect(body.items).toHaveLength(10);
    expect(body.items.filter((i) => i.category === 'crowded')).toHaveLength(1);
    expect(body.items[0].score).toBeGreaterThan(0);
  });

  it('count pins and exploration items against the cap', async () => {
    // a pin in the crowded category uses up its room: no other crowded item joins it
    await putPlacement('pin-capped', { pins: [{ itemId: top[5], position: 3 }], diversity: { maxPerCategory: 1 } });
    const pinned = await popular('k=10&placement=pin-capped');
    expect(pinned.items.filter((i) => i.category === 'crowded').map((i) => [i.id, i.position])).toEqual([[top[5], 3]]);
    expect(pinned.items).toHaveLength(10);
    // three new products of one category, three exploration slots, one per category
    await putItems(['X1', 'X2', 'X3'].map((n) => ({ id: `EXPLORE-${n}`, title: `LANTERN ${n}`, category: 'lanterns' })));
    await putPlacement('explore-capped', { explorationSlots: 3, diversity: { maxPerCategory: 1 } });
    const known = await recs('k=10&placement=explore-capped');
    expect(known.items.filter((i) => i.category === 'lanterns')).toHaveLength(1);
    const counts = new Map<string, number>();
    for (const i of known.items) if (i.category) counts.set(i.category, (counts.get(i.category) ?? 0) + 1);
    expect(Math.max(...counts.values())).toBe(1);
  });

  it('boost new products as they boost known ones: by id, category or declared attribute', async () => {
    await putItems([{ id: 'BOOST-NEW', title: 'BRAND NEW GADGET', category: 'gadgets' }]);
    await putPlacement('lift-new', { boosts: [{ match: { ids: ['BOOST-NEW'] }, add: 100 }] });
    const lifted = await popular('k=10&placement=lift-new');
    expect(lifted.items[0]).toMatchObject({ id: 'BOOST-NEW', boosted: true, new: true });
    expect(lifted.items[0].score).toBeCloseTo(100, 6);
    await putPlacement('lift-gadgets', { boosts: [{ match: { category: 'gadgets' }, add: 100 }] });
    expect((await popular('k=10&placement=lift-gadgets')).items[0].id).toBe('BOOST-NEW');
    // and in scores of given candidates
    const scored = await getJson<Rec>(
      await SELF.fetch('http://x/v1/score', {
        method: 'POST',
        headers: KEY,
        body: JSON.stringify({ userId: '17850', candidates: ['BOOST-NEW', top[0]], placement: 'lift-new' }),
      }),
    );
    expect(scored.items[0]).toMatchObject({ id: 'BOOST-NEW', boosted: true });
    expect(scored.items[0].score).toBeCloseTo(100, 6);
    // without the placement it is a plain new item
    expect((await popular('k=10')).items.find((i) => i.id === 'BOOST-NEW')?.boosted).toBeUndefined();
  });

  it('mark new candidates the filter leaves out in POST /v1/score, as known ones, and list each candidate once', async () => {
    await putItems([
      { id: 'SCORE-OUT', title: 'SOLD OUT THING', category: 'things', available: false },
      { id: 'SCORE-CAT', title: 'OTHER THING', category: 'things', price: 50 },
    ]);
    const res = await SELF.fetch('http://x/v1/score', {
      method: 'POST',
      headers: KEY,
      body: JSON.stringify({
        userId: '17850',
        candidates: ['SCORE-OUT', 'SCORE-CAT', top[1], 'SCORE-CAT'],
        filter: { maxPrice: 10, exclude: [top[1]] },
      }),
    });
    expect(res.status).toBe(200);
    const body = await getJson<{ items: (Item & { filteredOut?: string })[] }>(res);
    expect(body.items.map((i) => [i.id, i.filteredOut])).toEqual([
      ['SCORE-OUT', 'unavailable'],
      ['SCORE-CAT', 'price'],
      [top[1], 'excluded'],
    ]);
  });

  it('apply to a basket of items nobody knows: the pin at its place, exploration slots, each item once', async () => {
    await putPlacement('basket-rules', { explorationSlots: 2, pins: [{ itemId: top[3], position: 1 }], diversity: { maxPerCategory: 2 } });
    const res = await SELF.fetch('http://x/v1/recommendations', {
      method: 'POST',
      headers: KEY,
      body: JSON.stringify({ items: ['NOPE-1'], k: 8, placement: 'basket-rules' }),
    });
    const body = await getJson<Rec>(res);
    expect(body.items).toHaveLength(8);
    expect(body.items[0]).toMatchObject({ id: top[3], pinned: true, position: 1 });
    expect(new Set(ids(body)).size).toBe(8);
    expect(body.items.filter((i) => i.exploration)).toHaveLength(2);
    expect(body.placement).toMatchObject({ name: 'basket-rules', pins: 1, exploration: 2, maxPerCategory: 2 });
    expect(body.items.filter((i) => i.category === 'crowded').length).toBeLessThanOrEqual(2);
    await putPlacement('basket-new', { fallback: 'new', explorationSlots: 2 });
    const fresh = await getJson<Rec>(
      await SELF.fetch('http://x/v1/recommendations', {
        method: 'POST',
        headers: KEY,
        body: JSON.stringify({ items: ['NOPE-2'], k: 8, placement: 'basket-new' }),
      }),
    );
    expect(fresh.source).toBe('new');
    expect(new Set(ids(fresh)).size).toBe(fresh.items.length);
    expect(fresh.items.every((i) => i.new)).toBe(true);
  });

  it('shape search results: boosts reorder the matches, pins place only matching items, and the answer says so', async () => {
    const search = async (q: string) =>
      getJson<{ items: (Item & { popularity: number })[]; placement?: Rec['placement'] }>(await SELF.fetch(`http://x/v1/items?${q}`));
    const plain = await search('q=heart&limit=10');
    expect(plain.items.length).toBeGreaterThan(3);
    expect(plain.placement).toBeUndefined();
    const last = plain.items[plain.items.length - 1].id;
    await putPlacement('search-rules', {
      boosts: [{ match: { ids: [last] }, add: 10 }],
      pins: [
        { itemId: 'BOOST-NEW', position: 2 }, // does not match "heart": never listed
      ],
    });
    const shaped = await search('q=heart&limit=10&placement=search-rules');
    expect(shaped.items[0]).toMatchObject({ id: last, boosted: true });
    expect(shaped.items.map((i) => i.id)).not.toContain('BOOST-NEW');
    expect(shaped.placement).toMatchObject({ name: 'search-rules', boosts: 1, pins: 0 });
    const gadget = await search('q=gadget&placement=search-rules');
    expect(gadget.items.map((i) => i.id)).toEqual(['BOOST-NEW']);
    expect(gadget.items[0]).toMatchObject({ pinned: true });
    // a pinned item that matches is placed however far down the matches it ranks
    const many = await search('q=heart&limit=30');
    const deep = many.items[many.items.length - 1].id;
    await putPlacement('search-pin', { pins: [{ itemId: deep, position: 1 }] });
    const pinned = await search('q=heart&limit=3&placement=search-pin');
    expect(pinned.items[0]).toMatchObject({ id: deep, pinned: true });
    expect(pinned.items).toHaveLength(3);
  });
});

describe('placements reach every isolate', () => {
  it('are stored in the catalogue store, so another isolate sees them at its next sync', async () => {
    await putPlacement('shared', { explorationSlots: 1 });
    const stub = env.CATALOG.get(env.CATALOG.idFromName('catalog'));
    const changes = (await stub.changesSince(0, 10_000)) as { placements: { name: string }[] };
    expect(changes.placements.map((p) => p.name)).toContain('shared');
  });

  it('reach an isolate that starts after a catalogue snapshot was taken, with later edits and deletes applied', async () => {
    expect((await putPlacement('before-snap', { diversity: { maxPerCategory: 2 } })).ok).toBe(true);
    expect((await putPlacement('gone-later', { explorationSlots: 1 })).ok).toBe(true);
    const stub = env.CATALOG.get(env.CATALOG.idFromName('catalog'));
    await stub.writeSnapshot();
    expect((await putPlacement('before-snap', { diversity: { maxPerCategory: 3 } })).ok).toBe(true);
    expect((await SELF.fetch('http://x/admin/placements/gone-later', { method: 'DELETE', headers: ADMIN })).status).toBe(200);
    // a new isolate: its own copy of the live catalogue, started from the snapshot
    const fresh = newIsolateCatalog();
    await fresh.ensureFresh(() => {});
    expect(fresh.placement('before-snap')?.diversity).toEqual({ maxPerCategory: 3 });
    expect(fresh.placement('shared')).toBeDefined();
    expect(fresh.placement('gone-later')).toBeUndefined();
  });
});
