/**
 * The public API against the bundled default model (UCI Online Retail), as a client sees it.
 */
import { SELF } from 'cloudflare:test';
import { manifestSchema } from '@edge-recs/core/manifest';
import { decodeShard, shardOf } from '@edge-recs/core/shards';
import { describe, expect, it } from 'vitest';
import { files } from '../../build/bundled-model';
import { readCatalog } from '../../model/catalog';
import { roundScore } from '../../src/services/shelf';
import { getJson } from './fixtures';

const manifest = manifestSchema.parse(JSON.parse(new TextDecoder().decode(files['manifest.json'])));
const catalog = readCatalog(files);

function purchasedBy(userId: string): Set<string> {
  const shard = decodeShard(files[`users/${String(shardOf(userId, manifest.userShards)).padStart(4, '0')}.bin`].slice(0));
  const j = shard.ids.indexOf(userId);
  const items = shard.historyItems.slice(shard.historyPtr[j], shard.historyPtr[j + 1]);
  return new Set(Array.from(items, (i) => catalog.ids[i]));
}

type Rec = { model: string; source: string; items: { id: string; score: number; title: string }[]; ignoredItems?: string[] };

describe('GET /v1/users/{userId}/recommendations', () => {
  it('gives a known customer personalised items with titles, scores in descending order and the model version header', async () => {
    const res = await SELF.fetch('http://x/v1/users/17850/recommendations?k=20');
    expect(res.status).toBe(200);
    const body = await getJson<Rec>(res);
    expect(body.source).toBe('personalized');
    expect(body.model).toBe(manifest.version);
    expect(res.headers.get('x-model-version')).toBe(manifest.version);
    expect(body.items).toHaveLength(20);
    for (const it of body.items) expect(it.title).toBe(catalog.titles[catalog.ids.indexOf(it.id)]);
    const scores = body.items.map((i) => i.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it('leaves out what the customer already bought by default, and keeps it when asked not to', async () => {
    const bought = purchasedBy('17850');
    expect(bought.size).toBeGreaterThan(5);
    const excluded = await getJson<Rec>(await SELF.fetch('http://x/v1/users/17850/recommendations?k=50'));
    expect(excluded.items.filter((i) => bought.has(i.id))).toEqual([]);
    const kept = await getJson<Rec>(await SELF.fetch('http://x/v1/users/17850/recommendations?k=50&excludePurchased=false'));
    // a repeat buyer's own favourites rank high when not excluded
    expect(kept.items.filter((i) => bought.has(i.id)).length).toBeGreaterThan(5);
  });

  it('falls back to popular items, marked as such, for a user without an embedding', async () => {
    const body = await getJson<Rec>(await SELF.fetch('http://x/v1/users/nobody-42/recommendations?k=10'));
    expect(body.source).toBe('popular');
    expect(body.items.map((i) => i.id)).toEqual(catalog.popularity.slice(0, 10).map((i) => catalog.ids[i]));
  });

  it('defaults k to 20 and accepts up to 100', async () => {
    expect((await getJson<Rec>(await SELF.fetch('http://x/v1/users/17850/recommendations'))).items).toHaveLength(20);
    expect((await getJson<Rec>(await SELF.fetch('http://x/v1/users/17850/recommendations?k=100'))).items).toHaveLength(100);
    expect((await getJson<Rec>(await SELF.fetch('http://x/v1/users/17850/recommendations?k=1'))).items).toHaveLength(1);
  });
});

describe('POST /v1/recommendations (session / basket)', () => {
  const post = (body: unknown) =>
    SELF.fetch('http://x/v1/recommendations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('folds the basket into a session vector and excludes the given items', async () => {
    const body = await getJson<Rec>(await post({ items: ['85123A', '71053'], k: 20 }));
    expect(body.source).toBe('session');
    expect(body.items).toHaveLength(20);
    expect(body.items.map((i) => i.id)).not.toContain('85123A');
    expect(body.items.map((i) => i.id)).not.toContain('71053');
  });

  it('recommends related products for a themed basket', async () => {
    // three children's-party items: the session should pull in more party / kids items
    const basket = ['21210', '21212', '84991'].filter((id) => catalog.ids.includes(id));
    expect(basket.length).toBeGreaterThan(1);
    const body = await getJson<Rec>(await post({ items: basket, k: 10 }));
    const words = /CAKE|PARTY|CASES|RETROSPOT|PAPER|NAPKIN|BUNTING|CHILDREN|PACK/;
    expect(body.items.filter((i) => words.test(i.title)).length).toBeGreaterThanOrEqual(5);
  });

  it('can keep the given items when excludeGiven is false', async () => {
    const body = await getJson<Rec>(await post({ items: ['85123A'], k: 10, excludeGiven: false }));
    expect(body.items.map((i) => i.id)).toContain('85123A');
  });

  it('ignores unknown items and reports them', async () => {
    const body = await getJson<Rec>(await post({ items: ['85123A', 'NOPE-1'], k: 5 }));
    expect(body.source).toBe('session');
    expect(body.ignoredItems).toEqual(['NOPE-1']);
  });

  it('answers a basket of only unknown items with the popular fallback', async () => {
    const body = await getJson<Rec>(await post({ items: ['NOPE-1', 'NOPE-2'], k: 5 }));
    expect(body.source).toBe('popular');
    expect(body.ignoredItems).toEqual(['NOPE-1', 'NOPE-2']);
  });
});

describe('GET /v1/items/{itemId}/similar', () => {
  const STOP = new Set([
    'OF',
    'THE',
    'AND',
    'IN',
    'SET',
    'WITH',
    'SMALL',
    'LARGE',
    'DESIGN',
    'RED',
    'PINK',
    'BLUE',
    'WHITE',
    'GREEN',
    '',
    '3',
    '4',
    '6',
    '12',
  ]);
  const words = (t: string) =>
    new Set(
      t
        .toUpperCase()
        .split(/[^A-Z0-9]+/)
        .filter((w) => !STOP.has(w)),
    );
  const sharesWord = (a: string, b: string) => [...words(a)].some((w) => words(b).has(w));

  it('returns related products that share title words far more often than random products do', async () => {
    const queries = catalog.popularity.slice(0, 30).map((i) => catalog.ids[i]);
    let similarShare = 0,
      randomShare = 0,
      n = 0;
    for (const [q, id] of queries.entries()) {
      const body = await getJson<Rec>(await SELF.fetch(`http://x/v1/items/${id}/similar?k=10`));
      expect(body.source).toBe('similar');
      expect(body.items.map((i) => i.id)).not.toContain(id);
      const title = catalog.titles[catalog.ids.indexOf(id)];
      for (const [j, it] of body.items.entries()) {
        n++;
        if (sharesWord(title, it.title)) similarShare++;
        // deterministic "random" comparison item
        if (sharesWord(title, catalog.titles[(q * 7919 + j * 104729) % catalog.ids.length])) randomShare++;
      }
    }
    expect(similarShare / n).toBeGreaterThan(2 * (randomShare / n));
    expect(similarShare / n).toBeGreaterThan(0.2);
  });

  it('orders by cosine similarity, which is at most 1', async () => {
    const body = await getJson<Rec>(await SELF.fetch('http://x/v1/items/85123A/similar?k=20'));
    expect(body.items).toHaveLength(20);
    for (const it of body.items) expect(it.score).toBeLessThanOrEqual(1.000001);
    const s = body.items.map((i) => i.score);
    expect(s).toEqual([...s].sort((a, b) => b - a));
  });
});

describe('POST /v1/score', () => {
  const post = (body: unknown) =>
    SELF.fetch('http://x/v1/score', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it("scores a user's candidates in the given order, consistent with their top-k", async () => {
    const top = await getJson<Rec>(await SELF.fetch('http://x/v1/users/17850/recommendations?k=3'));
    const candidates = ['22423', top.items[2].id, top.items[0].id];
    const body = await getJson<Rec>(await post({ userId: '17850', candidates }));
    expect(body.source).toBe('personalized');
    expect(body.items.map((i) => i.id)).toEqual(candidates);
    expect(body.items[2].score).toBeCloseTo(top.items[0].score, 4);
    expect(body.items[1].score).toBeCloseTo(top.items[2].score, 4);
  });

  it('scores candidates for a basket and reports unknown candidates', async () => {
    const body = await getJson<Rec>(await post({ items: ['85123A'], candidates: ['21733', 'NOPE', '22423'] }));
    expect(body.source).toBe('session');
    expect(body.items.map((i) => i.id)).toEqual(['21733', '22423']);
    expect(body.ignoredItems).toEqual(['NOPE']);
  });

  it('scores by popularity for an unknown user', async () => {
    const body = await getJson<Rec>(await post({ userId: 'nobody', candidates: ['85123A', '22423'] }));
    expect(body.source).toBe('popular');
    expect(body.items[0].score).toBeGreaterThan(0);
  });
});

describe('model, health and documentation', () => {
  it('describes the active model from its manifest', async () => {
    const body = await getJson(await SELF.fetch('http://x/v1/model'));
    expect(body).toMatchObject({
      version: manifest.version,
      source: 'bundled',
      dims: manifest.dims,
      itemCount: manifest.itemCount,
      userCount: manifest.userCount,
      trainedAt: manifest.createdAt,
    });
    expect(body.metrics).toEqual(manifest.metrics);
  });

  it('reports health with the served version', async () => {
    expect(await getJson(await SELF.fetch('http://x/healthz'))).toEqual({ status: 'ok', model: manifest.version });
  });

  it('publishes an OpenAPI document generated from the request schemas', async () => {
    const doc = await getJson(await SELF.fetch('http://x/openapi.json'));
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/users/{userId}/recommendations',
        '/v1/recommendations',
        '/v1/items/{itemId}/similar',
        '/v1/score',
        '/v1/model',
        '/healthz',
      ]),
    );
    expect(doc.components.schemas.BasketRequest.properties.items).toBeDefined();
  });

  it('serves a human-readable docs page', async () => {
    const res = await SELF.fetch('http://x/docs');
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('/v1/recommendations');
    expect(html).toContain('Recommendations for an anonymous session or basket');
  });
});

describe('catalogue search and user history', () => {
  it('finds products whose titles contain every query word, most popular first', async () => {
    const body = await getJson<{ model: string; items: { id: string; title: string; popularity: number }[] }>(
      await SELF.fetch('http://x/v1/items?q=hanging%20heart&limit=5'),
    );
    expect(body.items.length).toBeGreaterThan(1);
    for (const it of body.items) expect(it.title).toMatch(/HANGING.*HEART|HEART.*HANGING/);
    const pops = body.items.map((i) => i.popularity);
    expect(pops).toEqual([...pops].sort((a, b) => b - a));
  });

  it('lists what a known customer bought and nothing for an unknown one', async () => {
    const known = await getJson(await SELF.fetch('http://x/v1/users/17850/history'));
    expect(known.known).toBe(true);
    expect(new Set(known.items.map((i: { id: string }) => i.id))).toEqual(purchasedBy('17850'));
    expect(await getJson(await SELF.fetch('http://x/v1/users/nobody/history'))).toMatchObject({ known: false, items: [] });
  });

  it('serves the demo storefront page with labelled controls, its own bundled script under a strict CSP, and nothing external', async () => {
    const res = await SELF.fetch('http://x/');
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const page = await res.text();
    expect(page).toContain('<label for="q">');
    expect(page).toContain('<label for="customer">');
    expect(page).not.toMatch(/<script(?![^>]*src="\/assets\/)[^>]*>/);
    expect(page).not.toMatch(/https?:\/\/(?!localhost)/);
    const script = await SELF.fetch('http://x/assets/demo.js');
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect(await script.text()).toContain('/v1/recommendations');
    expect((await SELF.fetch('http://x/assets/nope.js')).status).toBe(404);
  });
});

describe('scores as answers show them', () => {
  it('keep 6 decimals, and 4 significant digits below 0.001, so a small positive score never shows as 0', () => {
    expect(roundScore(12.51081234)).toBe(12.510812);
    expect(roundScore(0.0103491)).toBe(0.010349);
    expect(roundScore(0)).toBe(0);
    expect(roundScore(-0.25)).toBe(-0.25);
    // an imported job's counts rescaled by 2^-22: count 1 is 2.38e-7, count 3 is 7.15e-7
    expect(roundScore(2 ** -22)).toBe(2.384e-7);
    expect(roundScore(3 * 2 ** -22)).toBe(7.153e-7);
    expect(roundScore(2 ** -22)).toBeLessThan(roundScore(3 * 2 ** -22));
    expect(roundScore(-1e-9)).toBe(-1e-9);
  });
});
