/**
 * Attribution: every answer has a recId and positions; clicks, add-to-carts and purchases that
 * name it are counted for it — once per (recId, item, type) however often they are sent, only
 * for items it showed, only within the attribution window — per hour × placement × model version
 * × variant; an event that arrives before its answer is recorded is counted when the answer is.
 * Retried events with an eventId change a user's history once.
 */
import { createExecutionContext, env, runInDurableObject, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/app';
import { R2 } from '../../src/storage/keys';
import { MetricsStore } from '../../src/storage/metrics';
import { getJson } from './fixtures';

const KEY = { authorization: 'Bearer test-api-key', 'content-type': 'application/json' };
const ADMIN = { authorization: 'Bearer test-admin-token' };
type Rec = { model: string; recId: string; items: { id: string; position: number; price?: number }[]; variant?: string };

const post = async (events: unknown[]) => {
  const res = await SELF.fetch('http://x/v1/events', { method: 'POST', headers: KEY, body: JSON.stringify({ events }) });
  return { status: res.status, body: await getJson(res) };
};
const report = async (q = '') => getJson(await SELF.fetch(`http://x/admin/metrics?${q}`, { headers: ADMIN }));
const groupOf = async (q: string, match: (g: Record<string, unknown>) => boolean) => (await report(q)).groups.find(match);
/** the metrics shard that counts an answer (the recId names it) */
const shard = (recId: string) => env.METRICS.get(env.METRICS.idFromName(`metrics-${recId.split('_')[0]}`));
/** A recId of shard `s` as the Worker issues them: the answer's time (ms, 12 hex), then 20 more hex digits. */
const recIdAt = (s: number, ms: number, fill: string) => `${s}_${ms.toString(16).padStart(12, '0')}${fill.repeat(20)}`;

describe('answers carry a recId and positions', () => {
  it('on every kind of answer, unique per response', async () => {
    const urls = [
      'http://x/v1/users/17850/recommendations?k=5',
      'http://x/v1/popular?k=5',
      'http://x/v1/trending?k=5',
      'http://x/v1/items/22423/similar?k=5',
      'http://x/v1/items/22423/bought-together?k=5',
      'http://x/v1/users/17850/recent?k=5',
    ];
    const ids = new Set<string>();
    for (const url of urls) {
      const res = await SELF.fetch(url);
      expect(res.status, url).toBe(200);
      const body = await getJson<Rec>(res);
      expect(body.recId, url).toMatch(/^\d{1,3}_[0-9a-f]{32}$/);
      expect(res.headers.get('x-model-version')).toBe(body.model);
      body.items.forEach((it, j) => {
        expect(it.position).toBe(j + 1);
      });
      ids.add(body.recId);
    }
    const basket = await getJson<Rec>(
      await SELF.fetch('http://x/v1/recommendations', { method: 'POST', headers: KEY, body: JSON.stringify({ items: ['85123A'], k: 3 }) }),
    );
    ids.add(basket.recId);
    expect(ids.size).toBe(urls.length + 1);
  });
});

describe('attribution', () => {
  it('counts a click on a shown item once however often it is sent, and not for items the answer did not show', async () => {
    const rec = await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=6'));
    // answers are written in batches after the response; until then an event waits (pending)
    await vi.waitFor(
      async () => expect((await groupOf('groupBy=version', (x) => x.version === rec.model))?.answers).toBeGreaterThanOrEqual(1),
      {
        timeout: 5000,
      },
    );
    const item = rec.items[2].id;
    const click = { userId: 'att-1', itemId: item, type: 'click', recId: rec.recId, position: 3 };
    const first = await post([click]);
    expect(first.status).toBe(200);
    expect(first.body.attribution.attributed + first.body.attribution.pending).toBe(1);
    // the same click again, and again with an eventId, is a duplicate
    const again = await post([click, { ...click, eventId: 'e-1' }]);
    expect(again.body.attribution.duplicate + again.body.attribution.pending).toBe(2);
    // an item the answer did not show
    const notShown = ['71053', '22086', '84029E', '20725', '22423'].find((id) => !rec.items.some((i) => i.id === id));
    const other = await post([{ userId: 'att-1', itemId: notShown, type: 'click', recId: rec.recId }]);
    expect(other.body.attribution.notShown).toBe(1);
    await vi.waitFor(
      async () => {
        const g = await groupOf('groupBy=version', (x) => x.version === rec.model);
        expect(g?.clicks).toBe(1);
        expect(g?.answers).toBeGreaterThanOrEqual(1);
      },
      { timeout: 5000 },
    );
  });

  it('counts add-to-carts and purchases with their revenue (price × quantity, else the catalogue price)', async () => {
    await SELF.fetch('http://x/v1/items', {
      method: 'PUT',
      headers: KEY,
      body: JSON.stringify({ items: [{ id: 'ATT-PRICED', title: 'Priced candle holder', price: 7.5, category: 'att-cat' }] }),
    });
    const rec = await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=8&category=att-cat'));
    expect(rec.items.map((i) => i.id)).toContain('ATT-PRICED');
    const before = (await groupOf('groupBy=placement', (g) => g.placement === null)) ?? { purchases: 0, revenue: 0, addToCarts: 0 };
    const res = await post([
      { userId: 'att-2', itemId: 'ATT-PRICED', type: 'add_to_cart', recId: rec.recId },
      { userId: 'att-2', itemId: 'ATT-PRICED', type: 'purchase', recId: rec.recId, quantity: 3 },
    ]);
    expect(res.status).toBe(200);
    await vi.waitFor(
      async () => {
        const g = await groupOf('groupBy=placement', (x) => x.placement === null);
        expect(g.addToCarts - before.addToCarts).toBe(1);
        expect(g.purchases - before.purchases).toBe(1);
        expect(g.revenue - before.revenue).toBeCloseTo(22.5, 6);
      },
      { timeout: 5000 },
    );
    // a purchase with its own price
    const rec2 = await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=3'));
    await post([{ userId: 'att-3', itemId: rec2.items[0].id, type: 'purchase', recId: rec2.recId, price: 2, quantity: 2 }]);
    await vi.waitFor(
      async () => {
        const g = await groupOf('groupBy=placement', (x) => x.placement === null);
        expect(g.revenue - before.revenue).toBeCloseTo(26.5, 6);
      },
      { timeout: 5000 },
    );
  });

  it('counts revenue in REVENUE_CURRENCY only: a purchase priced in another currency counts, with no revenue, and the answer says so', async () => {
    const app = createApp();
    const eur = { ...env, REVENUE_CURRENCY: 'EUR' };
    const call = async (path: string, init?: RequestInit) => {
      const ctx = createExecutionContext();
      const res = await app.request(path, init, eur, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    };
    const items = [
      { id: 'CUR-EUR', title: 'Euro lamp', price: 10, currency: 'EUR', category: 'cur-cat' },
      { id: 'CUR-JPY', title: 'Yen teapot', price: 1500, currency: 'JPY', category: 'cur-cat' },
      { id: 'CUR-ANY', title: 'Plain mug', price: 4, category: 'cur-cat' },
    ];
    expect((await call('/v1/items', { method: 'PUT', headers: KEY, body: JSON.stringify({ items }) })).status).toBe(200);
    const shelf = {
      method: 'PUT',
      headers: { ...ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ description: 'currencies' }),
    };
    expect((await call('/admin/placements/cur-shelf', shelf)).status).toBe(200);
    const rec = await getJson<Rec>(await call('/v1/popular?k=8&category=cur-cat&placement=cur-shelf'));
    expect(rec.items.map((i) => i.id).sort()).toEqual(['CUR-ANY', 'CUR-EUR', 'CUR-JPY']);
    const res = await call('/v1/events', {
      method: 'POST',
      headers: KEY,
      body: JSON.stringify({
        events: [
          { userId: 'cur-1', itemId: 'CUR-EUR', type: 'purchase', recId: rec.recId }, // the catalogue's EUR 10
          { userId: 'cur-1', itemId: 'CUR-JPY', type: 'purchase', recId: rec.recId }, // the catalogue's JPY 1500
          { userId: 'cur-1', itemId: 'CUR-ANY', type: 'purchase', recId: rec.recId, price: 3, currency: 'USD' },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const attribution = (await getJson(res)).attribution;
    // (pending: this isolate writes the answer's record in a batch that may not have landed yet)
    expect(attribution.attributed + attribution.pending).toBe(3);
    expect(attribution.otherCurrency).toBe(2);
    await vi.waitFor(
      async () => {
        const body = await getJson(await call('/admin/metrics?placement=cur-shelf&groupBy=placement', { headers: ADMIN }));
        expect(body.currency).toBe('EUR');
        expect(body.groups).toEqual([expect.objectContaining({ placement: 'cur-shelf', purchases: 3, revenue: 10 })]);
      },
      { timeout: 5000 },
    );
    // a currency belongs to a purchase's own price
    const bad = await post([
      { userId: 'cur-2', itemId: 'CUR-EUR', type: 'purchase', currency: 'EUR' },
      { userId: 'cur-2', itemId: 'CUR-EUR', type: 'click', price: 1, currency: 'EUR' },
      { userId: 'cur-2', itemId: 'CUR-EUR', type: 'purchase', price: 1, currency: 'eur' },
    ]);
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/currency/);
  });

  it('counts per placement: answers for a placement are counted under its name', async () => {
    const put = await SELF.fetch('http://x/admin/placements/att-home', {
      method: 'PUT',
      headers: { ...ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ description: 'home page' }),
    });
    expect(put.status).toBe(200);
    const rec = await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=4&placement=att-home'));
    await post([{ userId: 'att-4', itemId: rec.items[0].id, type: 'click', recId: rec.recId }]);
    await vi.waitFor(
      async () => {
        const g = await groupOf('groupBy=placement&placement=att-home', (x) => x.placement === 'att-home');
        expect(g).toMatchObject({ answers: 1, itemsShown: 4, clicks: 1 });
        expect(g.rates.ctr.estimate).toBeCloseTo(0.25, 12);
      },
      { timeout: 5000 },
    );
  });

  it('refuses a report range that ends before it starts, instead of answering for another range', async () => {
    for (const path of ['/admin/metrics', '/admin/traffic']) {
      const res = await SELF.fetch(`http://x${path}?from=2026-12-03T00:00:00Z&to=2026-12-01T00:00:00Z`, { headers: ADMIN });
      expect(res.status, path).toBe(400);
      expect((await getJson(res)).error.code).toBe('invalid_request');
    }
    const ok = await report('from=2026-12-01T00:00:00Z&to=2026-12-01T00:00:00Z');
    expect(ok.from).toBe('2026-12-01T00:00:00.000Z');
  });

  it('rejects a recId on a view, a recId this deployment could not have issued, and prices on clicks', async () => {
    const rec = await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=3'));
    const res = await post([
      { userId: 'att-5', itemId: rec.items[0].id, type: 'view', recId: rec.recId },
      { userId: 'att-5', itemId: rec.items[0].id, type: 'click', recId: `99_${'a'.repeat(32)}` },
      { userId: 'att-5', itemId: rec.items[0].id, type: 'click', recId: rec.recId, price: 3 },
      { userId: 'att-5', itemId: rec.items[0].id, type: 'click', recId: rec.recId },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.rejected.map((r: { index: number }) => r.index)).toEqual([0, 1, 2]);
    expect(res.body.accepted).toBe(1);
    const bad = await SELF.fetch('http://x/v1/events', {
      method: 'POST',
      headers: KEY,
      body: JSON.stringify({ userId: 'att-5', itemId: '22423', type: 'click', recId: 'not-a-rec-id' }),
    });
    expect(bad.status).toBe(400);
    // a real recId with a leading zero on its shard is not the recId as given
    const padded = await SELF.fetch('http://x/v1/events', {
      method: 'POST',
      headers: KEY,
      body: JSON.stringify({ userId: 'att-5', itemId: '22423', type: 'click', recId: `0${rec.recId}` }),
    });
    expect(padded.status).toBe(400);
  });

  it('does not count events later than the window after the answer, and counts events that arrive before it', async () => {
    const settings = { attributionWindowMs: 24 * 3600 * 1000, retentionDays: 90 };
    const now = Date.now();
    const old = recIdAt(0, now - 25 * 3600 * 1000, '1');
    const key = { placement: 'att-window', version: 'v-test', experiment: '', variant: '' };
    await shard(old).record([], [{ ...key, recId: old, at: now - 25 * 3600 * 1000, items: ['A', 'B'] }], settings);
    const late = await post([{ userId: 'att-6', itemId: '22423', type: 'click', recId: old }]);
    expect(late.body.attribution).toMatchObject({ notShown: 1 }); // 22423 was not in it
    const outcomes = await shard(old).attribute([{ recId: old, itemId: 'A', type: 'click', at: now, revenue: 0 }], settings, now);
    expect(outcomes).toEqual(['outside_window']);

    // a recId no answer was recorded under, whose own time is older than any window (forgotten, or
    // forged): outside the window at once, not left waiting; one from the future was never issued
    const forgotten = recIdAt(0, now - 3 * 24 * 3600 * 1000, 'c');
    const unknown = await post([{ userId: 'att-6', itemId: '22423', type: 'click', recId: forgotten }]);
    expect(unknown.body.attribution).toMatchObject({ outsideWindow: 1, pending: 0 });
    const future = await post([
      { userId: 'att-6', itemId: '22423', type: 'view' },
      { userId: 'att-6', itemId: '22423', type: 'click', recId: recIdAt(0, now + 3600 * 1000, 'd') },
    ]);
    expect(future.body.rejected).toEqual([
      { index: 1, itemId: '22423', reason: expect.stringMatching(/was not issued by this deployment/) },
    ]);

    // an event first, its answer a moment later (the answer is written after its response)
    const early = recIdAt(0, now - 1000, '2');
    expect(await shard(early).attribute([{ recId: early, itemId: 'B', type: 'click', at: now, revenue: 0 }], settings, now)).toEqual([
      'pending',
    ]);
    await shard(early).record([], [{ ...key, recId: early, at: now - 1000, items: ['A', 'B'] }], settings);
    const rows = (await shard(early).counts(0, Number.MAX_SAFE_INTEGER)) as { placement: string; answers: number; clicks: number }[];
    expect(rows.filter((r) => r.placement === 'att-window').reduce((s, r) => s + r.clicks, 0)).toBe(1);
    // and the same click again is a duplicate
    expect(await shard(early).attribute([{ recId: early, itemId: 'B', type: 'click', at: now, revenue: 0 }], settings, now)).toEqual([
      'duplicate',
    ]);

    // an event that waited longer than WAITING_MS (10 minutes) is dropped, even before the alarm prunes it
    const stale = recIdAt(0, now - 11 * 60_000 - 1000, '3');
    const then = now - 11 * 60_000;
    expect(await shard(stale).attribute([{ recId: stale, itemId: 'A', type: 'click', at: then, revenue: 0 }], settings, then)).toEqual([
      'pending',
    ]);
    await shard(stale).record([], [{ ...key, placement: 'att-stale', recId: stale, at: then - 1000, items: ['A', 'B'] }], settings);
    const staleRows = (await shard(stale).counts(0, Number.MAX_SAFE_INTEGER)) as { placement: string; answers: number; clicks: number }[];
    const mine = staleRows.filter((r) => r.placement === 'att-stale');
    expect(mine.reduce((s, r) => s + r.answers, 0)).toBe(1);
    expect(mine.reduce((s, r) => s + r.clicks, 0)).toBe(0);
  });

  it('keeps Σx² per answer, so clicks and revenue per answer have exact variances', async () => {
    const settings = { attributionWindowMs: 24 * 3600 * 1000, retentionDays: 90 };
    const now = Date.now();
    const key = { placement: 'att-var', version: 'v-test', experiment: '', variant: '' };
    const ids = ['3', '4', '5'].map((d) => `1_${d.repeat(32)}`);
    for (const id of ids) await shard(id).record([], [{ ...key, recId: id, at: now, items: ['A', 'B', 'C'] }], settings);
    // clicks per answer: 2, 1, 0; revenue per answer: 10 + 5, 0, 4
    await shard(ids[0]).attribute(
      [
        { recId: ids[0], itemId: 'A', type: 'click', at: now, revenue: 0 },
        { recId: ids[0], itemId: 'B', type: 'click', at: now, revenue: 0 },
        { recId: ids[0], itemId: 'A', type: 'purchase', at: now, revenue: 10 },
        { recId: ids[0], itemId: 'B', type: 'purchase', at: now, revenue: 5 },
        { recId: ids[1], itemId: 'C', type: 'click', at: now, revenue: 0 },
        { recId: ids[2], itemId: 'C', type: 'purchase', at: now, revenue: 4 },
      ],
      settings,
      now,
    );
    const rows = ((await shard(ids[0]).counts(0, Number.MAX_SAFE_INTEGER)) as Record<string, number | string>[]).filter(
      (r) => r.placement === 'att-var',
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ answers: 3, itemsShown: 9, clicks: 3, clicksSq: 5, answersClicked: 2 });
    expect(rows[0]).toMatchObject({ purchases: 3, answersPurchased: 2, revenue: 19, revenueSq: 15 ** 2 + 4 ** 2 });
  });
});

describe('retried events', () => {
  it('with an eventId change the history and the exports once', async () => {
    const batch = [
      { userId: 'retry-1', itemId: '22423', type: 'purchase', eventId: 'order-77:1' },
      { userId: 'retry-1', itemId: '85123A', type: 'add_to_cart', eventId: 'order-77:2' },
    ];
    const first = await post(batch);
    expect(first.body).toMatchObject({ accepted: 2, duplicates: 0 });
    const history = async () => getJson(await SELF.fetch('http://x/v1/users/retry-1/history'));
    const after1 = await history();
    const second = await post(batch);
    expect(second.body).toMatchObject({ accepted: 2, duplicates: 2 });
    expect(await history()).toEqual(after1);
    // a new event of the same user still counts
    const third = await post([{ userId: 'retry-1', itemId: '22423', type: 'purchase', eventId: 'order-78:1' }]);
    expect(third.body.duplicates).toBe(0);
    const strengths = (h: { items: { id: string; strength: number }[] }) => Object.fromEntries(h.items.map((i) => [i.id, i.strength]));
    await vi.waitFor(
      async () => {
        expect(strengths(await history())['22423']).toBeCloseTo(strengths(after1)['22423'] + 1, 5);
      },
      { timeout: 5000 },
    );
    // the exports carry the event ids (the trainer reads a repeated one once) and a basket id
    const listed = await env.MODELS.list({ prefix: R2.pendingEvents });
    const texts = await Promise.all(listed.objects.map(async (o) => (await env.MODELS.get(o.key))?.text() ?? ''));
    const lines = texts.flatMap((t) => t.split('\n')).filter((l) => l.includes('order-77:1'));
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l.split(',')[6]).toMatch(/^[0-9a-f]{16}-[0-9a-f]{8}$/);
  });
});

describe('report ranges', () => {
  const ask = (path: string, query: string) => SELF.fetch(`http://x${path}?${query}`, { headers: ADMIN });

  it('refuses times before 2000, after 9999 or beyond what a date can hold, and dates that do not exist, with a 400', async () => {
    for (const path of ['/admin/metrics', '/admin/traffic'])
      for (const query of [
        'from=99999999999999999999',
        'to=99999999999999999999',
        'from=1',
        'from=1999-12-31T23:00:00Z',
        'to=10000-01-01',
        'from=2026-02-30',
        'from=2025-02-29T00:00:00Z',
        'to=2026-04-31T12:00:00Z',
        'to=2026-01-01T24:00:00Z',
        'to=2026-01-01T23:60:00Z',
      ]) {
        const res = await ask(path, query);
        expect(res.status, `${path}?${query}`).toBe(400);
        expect((await getJson(res)).error.code).toBe('invalid_request');
      }
    // a leap day is a date
    const leap = await ask('/admin/metrics', 'from=2024-02-29T00:00:00Z&to=2024-03-01T00:00:00Z');
    expect(leap.status).toBe(200);
    expect((await getJson(leap)).from).toBe('2024-02-29T00:00:00.000Z');
  });

  it('refuses a range longer than METRICS_RETENTION_DAYS, naming the limit, instead of answering hour by hour', async () => {
    for (const path of ['/admin/metrics', '/admin/traffic']) {
      for (const query of ['from=1000000000&to=9000000000', 'from=2026-01-01T00:00:00Z&to=2026-04-01T01:00:00Z', 'from=2020-01-01']) {
        const res = await ask(path, query);
        expect(res.status, `${path}?${query}`).toBe(400);
        const body = await getJson(res);
        expect(body.error.code).toBe('invalid_request');
        expect(body.error.message).toContain('METRICS_RETENTION_DAYS');
        expect(body.error.message).toContain('90');
      }
      // exactly the retention is fine
      const ok = await ask(path, 'from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z');
      expect(ok.status, path).toBe(200);
    }
    const traffic = await getJson(await ask('/admin/traffic', 'from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z'));
    expect(traffic.hours).toHaveLength(90 * 24);
  });
});

describe('report ranges: from and the default to', () => {
  it('refuses a from later than now when to is left out (to defaults to now), instead of rewriting the range', async () => {
    const tomorrow = new Date(Date.now() + 2 * 24 * 3600 * 1000).toISOString();
    for (const path of ['/admin/metrics', '/admin/traffic'])
      for (const query of ['from=9999-12-31T23:00:00Z', `from=${encodeURIComponent(tomorrow)}`]) {
        const res = await SELF.fetch(`http://x${path}?${query}`, { headers: ADMIN });
        expect(res.status, `${path}?${query}`).toBe(400);
        const body = await getJson(res);
        expect(body.error.code).toBe('invalid_request');
        expect(body.error.message).toMatch(/after to/);
      }
    // a from in the past without to still ends now
    const ok = await SELF.fetch(`http://x/admin/metrics?from=${encodeURIComponent(new Date(Date.now() - 3 * 3600 * 1000).toISOString())}`, {
      headers: ADMIN,
    });
    expect(ok.status).toBe(200);
    expect(Date.parse((await getJson(ok)).to)).toBeLessThanOrEqual(Date.now() + 3600 * 1000);
  });
});

describe('traffic', () => {
  const routes = async () =>
    (await getJson<{ routes: { route: string; status4xx: number }[] }>(await SELF.fetch('http://x/admin/traffic', { headers: ADMIN })))
      .routes;

  it('counts an admin request refused for its token under the route it asked for, not as unmatched', async () => {
    expect((await SELF.fetch('http://x/admin/experiments')).status).toBe(401);
    expect((await SELF.fetch('http://x/admin/experiments/some-name/stop', { method: 'POST' })).status).toBe(401);
    expect(
      (await SELF.fetch('http://x/admin/placements/some-name', { method: 'DELETE', headers: { authorization: 'Bearer wrong' } })).status,
    ).toBe(401);
    // a path no route has is still unmatched
    expect((await SELF.fetch('http://x/admin/no-such-thing', { headers: ADMIN })).status).toBe(404);
    await vi.waitFor(
      async () => {
        const byRoute = Object.fromEntries((await routes()).map((r) => [r.route, r.status4xx]));
        expect(byRoute['GET /admin/experiments']).toBeGreaterThanOrEqual(1);
        expect(byRoute['POST /admin/experiments/:name/stop']).toBeGreaterThanOrEqual(1);
        expect(byRoute['DELETE /admin/placements/:name']).toBeGreaterThanOrEqual(1);
        expect(byRoute.unmatched).toBeGreaterThanOrEqual(1);
      },
      { timeout: 5000 },
    );
  });
});

describe('what counts as an answer shown', () => {
  it('is neither a HEAD request (no body, no recId reaches anyone) nor a scored candidate marked filteredOut', async () => {
    for (const name of ['att-head', 'att-score'])
      expect(
        (
          await SELF.fetch(`http://x/admin/placements/${name}`, {
            method: 'PUT',
            headers: { ...ADMIN, 'content-type': 'application/json' },
            body: '{}',
          })
        ).status,
      ).toBe(200);
    const head = await SELF.fetch('http://x/v1/popular?k=4&placement=att-head', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const shown = await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=4&placement=att-head'));
    expect(shown.items).toHaveLength(4);
    const scored = await getJson<{ items: { id: string; filteredOut?: string }[] }>(
      await SELF.fetch('http://x/v1/score', {
        method: 'POST',
        headers: KEY,
        body: JSON.stringify({
          items: ['22423'],
          candidates: ['85123A', '71053', '84029E', '22086'],
          filter: { exclude: ['71053', '84029E'] },
          placement: 'att-score',
        }),
      }),
    );
    expect(scored.items.filter((i) => i.filteredOut).map((i) => i.id)).toEqual(['71053', '84029E']);
    const counted = async () => {
      const groups = (await report('groupBy=placement')).groups as { placement: string; answers: number; itemsShown: number }[];
      return Object.fromEntries(groups.map((g) => [g.placement, { answers: g.answers, itemsShown: g.itemsShown }]));
    };
    await vi.waitFor(
      async () => {
        const c = await counted();
        expect(c['att-head']).toEqual({ answers: 1, itemsShown: 4 });
        expect(c['att-score']).toEqual({ answers: 1, itemsShown: 2 });
      },
      { timeout: 5000 },
    );
    // and nothing arrives late: the HEAD answer was never recorded
    await new Promise((r) => setTimeout(r, 1500));
    expect((await counted())['att-head']).toEqual({ answers: 1, itemsShown: 4 });
  });
});

describe('an answer served to a signed-in user', () => {
  const ADMIN_JSON = { ...ADMIN, 'content-type': 'application/json' };

  it("counts only that user's events; another user's event naming its recId is not shown to them; an anonymous answer counts anyone's", async () => {
    expect((await SELF.fetch('http://x/admin/placements/att-owner', { method: 'PUT', headers: ADMIN_JSON, body: '{}' })).status).toBe(200);
    const forA = await getJson<Rec>(await SELF.fetch('http://x/v1/users/att-owner-a/recommendations?k=4&placement=att-owner'));
    const basketForA = await getJson<Rec>(
      await SELF.fetch('http://x/v1/recommendations', {
        method: 'POST',
        headers: KEY,
        body: JSON.stringify({ items: ['85123A'], k: 4, userId: 'att-owner-a', placement: 'att-owner' }),
      }),
    );
    const anonymous = await getJson<Rec>(
      await SELF.fetch('http://x/v1/recommendations', {
        method: 'POST',
        headers: KEY,
        body: JSON.stringify({ items: ['85123A'], k: 4, placement: 'att-owner' }),
      }),
    );
    // userB's click on A's answer arrives before the answer is recorded (it waits), then once it is
    const early = await post([{ userId: 'att-owner-b', itemId: forA.items[0].id, type: 'click', recId: forA.recId }]);
    expect(early.body.attribution.attributed).toBe(0);
    const group = () => groupOf('groupBy=placement&placement=att-owner', (x) => x.placement === 'att-owner');
    await vi.waitFor(async () => expect((await group())?.answers).toBe(3), { timeout: 5000 });
    const late = await post([
      { userId: 'att-owner-b', itemId: forA.items[1].id, type: 'click', recId: forA.recId },
      { userId: 'att-owner-b', itemId: basketForA.items[0].id, type: 'purchase', recId: basketForA.recId, price: 4 },
    ]);
    expect(late.body.attribution).toMatchObject({ attributed: 0, notShown: 2 });
    // A's own events count, the same items included; anyone's event counts for the anonymous answer
    const own = await post([
      { userId: 'att-owner-a', itemId: forA.items[0].id, type: 'click', recId: forA.recId },
      { userId: 'att-owner-a', itemId: basketForA.items[0].id, type: 'purchase', recId: basketForA.recId, price: 4 },
      { userId: 'att-owner-c', itemId: anonymous.items[0].id, type: 'click', recId: anonymous.recId },
    ]);
    expect(own.body.attribution).toMatchObject({ attributed: 3, notShown: 0 });
    await vi.waitFor(
      async () => {
        const g = await group();
        expect(g).toMatchObject({ answers: 3, clicks: 2, purchases: 1 });
        expect(g.revenue).toBeCloseTo(4, 6);
      },
      { timeout: 5000 },
    );
  });

  it('keeps no raw user id with the answer, and answers recorded before users were kept accept any user', async () => {
    const settings = { attributionWindowMs: 24 * 3600 * 1000, retentionDays: 90 };
    const now = Date.now();
    const key = { placement: 'att-subject', version: 'v-test', experiment: '', variant: '' };
    const [mine, waiting] = ['6', '7'].map((d) => `2_${d.repeat(32)}`);
    await shard(mine).record([], [{ ...key, recId: mine, at: now, items: ['A', 'B'], user: 'k-a' }], settings);
    expect(
      await shard(mine).attribute(
        [
          { recId: mine, itemId: 'A', type: 'click', at: now, revenue: 0, user: 'k-b' },
          { recId: mine, itemId: 'A', type: 'click', at: now, revenue: 0, user: 'k-a' },
        ],
        settings,
        now,
      ),
    ).toEqual(['not_theirs', 'attributed']);
    // an event of another user waiting for its answer is not counted when the answer arrives
    expect(
      await shard(waiting).attribute([{ recId: waiting, itemId: 'B', type: 'click', at: now, revenue: 0, user: 'k-b' }], settings, now),
    ).toEqual(['pending']);
    await shard(waiting).record([], [{ ...key, recId: waiting, at: now - 1000, items: ['A', 'B'], user: 'k-a' }], settings);
    const clicks = async () =>
      ((await shard(mine).counts(0, Number.MAX_SAFE_INTEGER)) as { placement: string; clicks: number }[])
        .filter((r) => r.placement === 'att-subject')
        .reduce((s, r) => s + r.clicks, 0);
    expect(await clicks()).toBe(1);

    // an object whose tables predate the column: migrated when it starts, its old answers accept anyone
    const old = env.METRICS.get(env.METRICS.idFromName('metrics-migration-test'));
    const outcomes = await runInDurableObject(old, async (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec('DROP TABLE recs');
      sql.exec('DROP TABLE waiting');
      sql.exec(`CREATE TABLE recs (id TEXT PRIMARY KEY, at INTEGER NOT NULL, hour INTEGER NOT NULL,
        placement TEXT NOT NULL, version TEXT NOT NULL, experiment TEXT NOT NULL, variant TEXT NOT NULL,
        items TEXT NOT NULL, clicks INTEGER NOT NULL DEFAULT 0, revenue REAL NOT NULL DEFAULT 0, purchased INTEGER NOT NULL DEFAULT 0)`);
      sql.exec(`CREATE TABLE waiting (rec TEXT NOT NULL, item TEXT NOT NULL, type TEXT NOT NULL, at INTEGER NOT NULL,
        revenue REAL NOT NULL, received INTEGER NOT NULL, PRIMARY KEY (rec, item, type))`);
      sql.exec("DELETE FROM meta WHERE k = 'schema'");
      sql.exec(
        "INSERT INTO recs (id, at, hour, placement, version, experiment, variant, items) VALUES (?, ?, ?, 'att-old', 'v-test', '', '', ?)",
        `3_${'8'.repeat(32)}`,
        now,
        Math.floor(now / 3600_000),
        JSON.stringify(['A']),
      );
      sql.exec(
        "INSERT INTO waiting (rec, item, type, at, revenue, received) VALUES (?, 'A', 'click', ?, 0, ?)",
        `3_${'9'.repeat(32)}`,
        now,
        now,
      );
      // the object as it starts after a deploy, on the same storage
      const restarted = new MetricsStore(state, env);
      const columns = sql
        .exec<{ name: string }>("SELECT name FROM pragma_table_info('recs')")
        .toArray()
        .map((c) => c.name);
      await restarted.record(
        [],
        [{ ...key, placement: 'att-old', recId: `3_${'9'.repeat(32)}`, at: now, items: ['A'], user: 'k-a' }],
        settings,
      );
      const got = await restarted.attribute(
        [{ recId: `3_${'8'.repeat(32)}`, itemId: 'A', type: 'click', at: now, revenue: 0, user: 'k-z' }],
        settings,
        now,
      );
      const counted = (await restarted.counts(0, Number.MAX_SAFE_INTEGER)).reduce((s, r) => s + r.clicks, 0);
      return { columns, got, counted };
    });
    expect(outcomes.columns).toContain('subject');
    expect(outcomes.got).toEqual(['attributed']);
    // the old answer's click, and the click that waited from before the deploy (its user unknown)
    expect(outcomes.counted).toBe(2);
  });
});
