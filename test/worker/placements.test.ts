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
