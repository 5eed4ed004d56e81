/**
 * The demo storefront in a real browser (Debian's Chromium driven by playwright-core) against
 * `wrangler dev` — the real workerd runtime serving the bundled default model.
 * CI installs Chromium (.ci/run); on a machine without it this suite is skipped with a note,
 * except under CI=true, where a missing browser is a failure.
 *
 * The tests share one page and run in order, as a visitor would use it: search and basket, a
 * customer, events (attributed to the answers that showed the products: GET /admin/metrics counts
 * them), the sample categories and the category shelf, the placement's shelf, a stock
 * toggle, browsing (recently viewed, trending). Test setup creates the `demo-featured` placement
 * the way the page tells the operator to (the page never holds the admin token).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startWrangler, stopWrangler } from '../../scripts/wrangler-dev';
import { DEMO_CATEGORIES, DEMO_PLACEMENT, DEMO_PLACEMENT_RULES } from '../../src/pages/demo-setup';
import { haveChromium, launchChromium } from './browser';

const API_KEY = 'demo-key';
const ADMIN_TOKEN = 'demo-admin';
/** Every list of products the page offers (not the basket, the purchase history or the out-of-stock list). */
const SHELVES = [
  'results',
  'basket-recs',
  'similar',
  'bought-together',
  'customer-recs',
  'recent',
  'trending',
  'category-shelf',
  'featured',
];
const BOOSTED = new Set(DEMO_PLACEMENT_RULES.boosts[0].match.ids);
const PIN = DEMO_PLACEMENT_RULES.pins[0];

const haveBrowser = haveChromium('demo');

describe.skipIf(!haveBrowser)('demo storefront in Chromium', () => {
  let wrangler: ChildProcess;
  let browser: Browser;
  let page: Page;
  let base: string;
  const consoleErrors: string[] = [];

  /** What the operator runs to create the placement (the body of the page's curl line). */
  const putPlacement = (url: string, body: string) =>
    fetch(url, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body });
  const getJson = async <T>(path: string): Promise<T> => (await fetch(`${base}${path}`)).json() as Promise<T>;
  /** The product ids a list shows, in order. */
  const ids = (list: string) =>
    page.locator(`#${list} li[data-id]`).evaluateAll((lis) => lis.map((li) => li.getAttribute('data-id') ?? ''));
  const shelves = async (): Promise<Record<string, string[]>> =>
    Object.fromEntries(await Promise.all(SHELVES.map(async (s) => [s, await ids(s)])));
  /** What GET /admin/metrics counts over every placement: the attributed events the page sends show up here. */
  const attributed = async () => {
    const res = await fetch(`${base}/admin/metrics?groupBy=placement`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const { groups } = (await res.json()) as { groups: { clicks: number; addToCarts: number; purchases: number; revenue: number }[] };
    const sum = (f: 'clicks' | 'addToCarts' | 'purchases' | 'revenue') => groups.reduce((s, g) => s + g[f], 0);
    return { clicks: sum('clicks'), addToCarts: sum('addToCarts'), purchases: sum('purchases'), revenue: sum('revenue') };
  };
  /** Waits until no list is loading (the page marks a list aria-busy while its answer is on the way). */
  const settled = () => expect.poll(() => page.locator('[aria-busy]').count(), { timeout: 15_000 }).toBe(0);

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    wrangler = await startWrangler(port, await mkdtemp(join(tmpdir(), 'e2e-state-')), {
      API_KEY,
      USER_ID_SECRET: 'demo-secret',
      ADMIN_TOKEN,
    });
    const created = await putPlacement(`${base}/admin/placements/${DEMO_PLACEMENT}`, JSON.stringify(DEMO_PLACEMENT_RULES));
    expect(created.status).toBe(200);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    // a CSP violation, a failed script or an uncaught error would show here
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await mkdir('test/screenshots', { recursive: true });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    stopWrangler(wrangler);
  });

  it('loads the docs page and the store without a console error (the CSP allows what they use)', async () => {
    await page.goto(`${base}/docs`);
    await expect.poll(() => page.locator('h1').textContent()).toMatch(/Edge recommendation API/);
    expect(
      await page
        .locator('body')
        .evaluate(
          (body) => (globalThis as unknown as { getComputedStyle(e: unknown): { fontFamily: string } }).getComputedStyle(body).fontFamily,
        ),
    ).toMatch(/system-ui/);
    await page.goto(`${base}/`);
    await expect.poll(() => page.textContent('#model-info'), { timeout: 15_000 }).toMatch(/Model /);
    // every shelf that needs no visitor input has loaded: trending (popular while no event is in) and the placement's shelf
    await expect.poll(() => page.locator('#trending li.card').count(), { timeout: 10_000 }).toBe(8);
    await expect.poll(() => page.locator('#featured li.card').count(), { timeout: 10_000 }).toBe(8);
    await settled();
    expect(consoleErrors).toEqual([]);
  });

  it('shows the active model, searches, builds a basket and gets live recommendations', async () => {
    await page.goto(`${base}/`);
    await expect.poll(() => page.textContent('#model-info'), { timeout: 15_000 }).toMatch(/Model .+ \(bundled\).+items ×/);

    await page.fill('#q', 'hanging heart');
    await expect.poll(() => page.locator('#results li .title').first().textContent(), { timeout: 10_000 }).toMatch(/HANGING HEART/);
    expect(await page.locator('#results li').count()).toBeGreaterThan(1);

    await page.locator('#results button[data-add]').first().click();
    await page.fill('#q', 'lunch bag');
    await expect.poll(() => page.locator('#results li .title').first().textContent(), { timeout: 10_000 }).toMatch(/LUNCH BAG/);
    await page.locator('#results button[data-add]').first().click();

    await expect.poll(() => page.locator('#basket li').count()).toBe(2);
    await expect.poll(() => page.locator('#basket-recs li .score').count(), { timeout: 10_000 }).toBe(10);
    expect(await page.textContent('#basket-source')).toBe('session');
    const recTitles = await page.locator('#basket-recs li .title').allTextContents();
    expect(recTitles.every((t) => t.length > 3)).toBe(true);
  }, 60_000);

  it('shows price and availability on every card, and which basket items each recommendation comes from', async () => {
    // the bundled model carries Online Retail's unit prices; every product is in stock so far
    const cards = page.locator('#basket-recs li.card');
    expect(await cards.count()).toBe(10);
    for (const price of await page.locator('#basket-recs li.card .price').allTextContents()) expect(price).toMatch(/^Price \d+\.\d\d$/);
    expect(await page.locator('#basket-recs li.card .price').count()).toBe(10);
    expect(await page.locator('#basket-recs li.card .stock').allTextContents()).toEqual(Array(10).fill('In stock'));
    expect(await page.locator('#basket-recs .badge.out').count()).toBe(0);
    // explain=true: "Because you added" names basket items, by their titles
    const basketTitles = new Set(await page.locator('#basket li .title').allTextContents());
    const because = await page.locator('#basket-recs li .because').allTextContents();
    expect(because.length).toBeGreaterThanOrEqual(5);
    for (const line of because) expect(line).toMatch(/^Because you added: /);
    const named = await page.locator('#basket-recs li .because [data-because]').allTextContents();
    expect(named.length).toBeGreaterThanOrEqual(because.length);
    for (const title of named) expect(basketTitles).toContain(title);
    // both basket items explain something
    expect(new Set(named)).toEqual(basketTitles);
  }, 30_000);

  it('shows similar products and what is frequently bought together with a chosen product', async () => {
    const first = page.locator('#basket-recs li.card').first();
    const chosen = (await first.getAttribute('data-id'))!;
    const chosenTitle = (await first.locator('.title').textContent())!;
    await first.locator('button[data-similar]').click();
    await expect.poll(() => page.locator('#similar li').count(), { timeout: 10_000 }).toBe(8);
    await expect.poll(() => page.locator('#bought-together li.card').count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    expect(await page.textContent('#similar-title')).toBe(chosenTitle);
    expect(await page.textContent('#bought-together-title')).toBe(chosenTitle);
    expect(await page.textContent('#bought-together-source')).toBe('bought-together');
    const together = await ids('bought-together');
    expect(together).not.toContain(chosen);
    // what the page shows is the API's answer for that product, in its order
    const answer = await getJson<{ items: { id: string }[] }>(`/v1/items/${encodeURIComponent(chosen)}/bought-together?k=6`);
    expect(together).toEqual(answer.items.map((it) => it.id));
    await page.screenshot({ path: 'test/screenshots/demo-basket.png', fullPage: true });
  }, 30_000);

  it('looks up a customer and shows their recommendations next to what they bought, each explained by their purchases', async () => {
    await page.fill('#customer', '17850');
    await page.click('#customer-form button[type=submit]');
    await expect.poll(() => page.locator('#customer-recs li .score').count(), { timeout: 10_000 }).toBe(10);
    expect(await page.textContent('#customer-source')).toBe('personalized');
    await expect.poll(() => page.locator('#customer-history li').count()).toBe(10);
    for (const price of await page.locator('#customer-recs li.card .price').allTextContents()) expect(price).toMatch(/^Price \d+\.\d\d$/);
    // "Because you bought" names items of the customer's history
    const history = await getJson<{ items: { id: string; title: string }[] }>('/v1/users/17850/history');
    const bought = new Map(history.items.map((it) => [it.id, it.title]));
    const because = await page.locator('#customer-recs li .because').allTextContents();
    expect(because.length).toBeGreaterThanOrEqual(5);
    for (const line of because) expect(line).toMatch(/^Because you bought: /);
    const named = await page
      .locator('#customer-recs li .because [data-because]')
      .evaluateAll((spans) => spans.map((s) => [s.getAttribute('data-because') ?? '', s.textContent ?? '']));
    for (const [id, title] of named) expect(bought.get(id)).toBe(title);
    // before any event the customer has viewed nothing
    expect(await page.textContent('#recent')).toMatch(/No views yet/);
    await page.screenshot({ path: 'test/screenshots/demo-customer.png', fullPage: true });
  }, 30_000);

  it('sends a purchase event from the page and shows the recommendations change', async () => {
    await page.fill('#customer', '15221');
    await page.click('#customer-form button[type=submit]');
    // 15221 bought five cabinets and chests of drawers
    await expect.poll(() => page.textContent('#customer-history'), { timeout: 10_000 }).toMatch(/CABINET/);
    const before = await page.locator('#customer-recs li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-id')));
    // the card carries the answer it came from, the position and the price shown
    const card = page.locator('#customer-recs li.card').first();
    const recId = (await card.getAttribute('data-rec-id'))!;
    expect(recId).toMatch(/^\d+_[0-9a-f]{32}$/);
    expect(await card.getAttribute('data-position')).toBe('1');
    const price = Number(await card.getAttribute('data-price'));
    expect(price).toBeGreaterThan(0);
    const counted = await attributed();
    await page.fill('#api-key', API_KEY);
    await card.locator('button[data-buy]').click();
    await expect
      .poll(() => page.textContent('#event-status'), { timeout: 10_000 })
      .toBe(`Recorded a purchase of ${before[0]} (position 1 of answer ${recId}) for customer 15221.`);
    // the purchase is attributed to that answer: one more purchase, and its price as revenue
    await expect.poll(async () => (await attributed()).purchases, { timeout: 10_000 }).toBe(counted.purchases + 1);
    expect((await attributed()).revenue).toBeCloseTo(counted.revenue + price, 6);
    // the bought item leaves the recommendations and joins the purchase history
    await expect
      .poll(async () => page.locator('#customer-recs li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-id'))), {
        timeout: 10_000,
      })
      .not.toContain(before[0]);
    expect(await page.locator('#customer-history').textContent()).toContain(before[0]!);
    await page.screenshot({ path: 'test/screenshots/demo-event.png', fullPage: true });
  }, 30_000);

  it('loads the sample categories, and the category shelf shows only the chosen category', async () => {
    await page.fill('#api-key', API_KEY);
    await page.click('#sample-categories');
    await expect
      .poll(() => page.textContent('#stock-status'), { timeout: 10_000 })
      .toMatch(`Set the category of ${DEMO_CATEGORIES.length} products`);
    const categories = [...new Set(DEMO_CATEGORIES.map((c) => c.category))].sort();
    await expect
      .poll(() => page.locator('#category option').evaluateAll((os) => os.map((o) => o.getAttribute('value')).filter(Boolean)), {
        timeout: 10_000,
      })
      .toEqual(categories);

    await page.selectOption('#category', 'Lunch bags');
    const lunchBags = new Set(DEMO_CATEGORIES.filter((c) => c.category === 'Lunch bags').map((c) => c.id));
    await expect.poll(() => page.locator('#category-shelf li.card').count(), { timeout: 10_000 }).toBe(8);
    expect(await page.locator('#category-shelf li.card .category').allTextContents()).toEqual(Array(8).fill('Category Lunch bags'));
    for (const id of await ids('category-shelf')) expect(lunchBags).toContain(id);
    for (const title of await page.locator('#category-shelf li.card .title').allTextContents()) expect(title).toMatch(/LUNCH BAG/);

    await page.selectOption('#category', 'Hot water bottles');
    const bottles = new Set(DEMO_CATEGORIES.filter((c) => c.category === 'Hot water bottles').map((c) => c.id));
    await expect
      .poll(async () => (await ids('category-shelf')).filter((id) => bottles.has(id)).length, { timeout: 10_000 })
      .toBe(bottles.size);
    expect(await ids('category-shelf')).toHaveLength(bottles.size);

    // the other lists' cards show the categories too (the search still lists lunch bags)
    await expect
      .poll(() => page.locator('#results li.card .category').first().textContent(), { timeout: 10_000 })
      .toBe('Category Lunch bags');
    await page.selectOption('#category', 'Lunch bags');
    await expect.poll(async () => (await ids('category-shelf')).every((id) => lunchBags.has(id)), { timeout: 10_000 }).toBe(true);
  }, 30_000);

  it("shows the placement's shelf: the pinned item at its position, boosted items marked and moved up", async () => {
    await page.fill('#customer', '17850');
    await page.click('#customer-form button[type=submit]');
    await expect.poll(() => page.textContent('#featured-source'), { timeout: 10_000 }).toBe('personalized for 17850');
    await settled();
    await expect.poll(() => page.locator('#featured li.card').count(), { timeout: 10_000 }).toBe(8);
    const pinned = page.locator(`#featured li.card:nth-child(${PIN.position})`);
    expect(await pinned.getAttribute('data-id')).toBe(PIN.itemId);
    expect(await pinned.locator('.badge.pinned').textContent()).toBe('Pinned');
    expect(await page.locator('#featured .badge.pinned').count()).toBe(1);
    expect(await page.textContent('#featured-rules')).toBe(`Rules of ${DEMO_PLACEMENT}: 1 boost in force, 1 pinned item.`);
    // the pinned cake stand is not among the customer's own recommendations
    expect(await ids('customer-recs')).not.toContain(PIN.itemId);

    const featured = await ids('featured');
    const boosted = await page
      .locator('#featured li.card:has(.badge.boosted)')
      .evaluateAll((lis) => lis.map((li) => li.getAttribute('data-id') ?? ''));
    expect(boosted.length).toBeGreaterThanOrEqual(1);
    for (const id of boosted) expect(BOOSTED).toContain(id);
    // every boosted item the customer's plain list also shows stands higher on the featured shelf
    const plain = await ids('customer-recs');
    const compared = boosted.filter((id) => plain.includes(id));
    expect(compared.length).toBeGreaterThanOrEqual(1);
    for (const id of compared) expect(featured.indexOf(id)).toBeLessThan(plain.indexOf(id));
    // the items the boost matches carry the badge wherever the placement applies, and nowhere else
    expect(await page.locator('#customer-recs .badge.boosted, #customer-recs .badge.pinned').count()).toBe(0);
    await page.screenshot({ path: 'test/screenshots/demo-merchandising.png', fullPage: true });
  }, 30_000);

  it("tells the operator how to create a missing placement, and the page's curl line creates it", async () => {
    const removed = await fetch(`${base}/admin/placements/${DEMO_PLACEMENT}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(removed.status).toBe(200);
    await page.click('#featured-reload');
    await expect
      .poll(() => page.textContent('#featured'), { timeout: 10_000 })
      .toMatch(`The placement ${DEMO_PLACEMENT} does not exist yet`);
    expect(await page.locator('#featured li.card').count()).toBe(0);

    // run what the page shows (the admin token from the shell), not the test's own copy
    const line = (await page.textContent('#curl-placement'))!.trim();
    const m = /^curl -X PUT "([^"]+)" -H "authorization: Bearer \$ADMIN_TOKEN" -H "content-type: application\/json" -d '(.+)'$/.exec(line);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(`${base}/admin/placements/${DEMO_PLACEMENT}`);
    expect(JSON.parse(m![2])).toEqual(DEMO_PLACEMENT_RULES);
    expect((await putPlacement(m![1], m![2])).status).toBe(200);

    await page.click('#featured-reload');
    await expect
      .poll(() => page.locator(`#featured li.card:nth-child(${PIN.position})`).getAttribute('data-id'), { timeout: 10_000 })
      .toBe(PIN.itemId);
  }, 30_000);

  it('marks a product out of stock: it leaves every list at once, and comes back when it is back in stock', async () => {
    await page.fill('#api-key', API_KEY);
    await settled();
    const query = await page.inputValue('#q');
    const before = await shelves();
    // the product the most lists show (the basket's recommendations, the chosen product's lists, the customer's, the shelves…)
    const counts = new Map<string, number>();
    for (const list of Object.values(before)) for (const id of list) counts.set(id, (counts.get(id) ?? 0) + 1);
    const [target, n] = [...counts].sort((a, b) => b[1] - a[1])[0];
    expect(n).toBeGreaterThanOrEqual(3);
    const lists = SHELVES.filter((s) => before[s].includes(target));
    const title = (await page.locator(`#${lists[0]} li[data-id="${target}"] .title`).textContent())!;

    await page.locator(`#${lists[0]} li[data-id="${target}"] button[data-stock][data-available="false"]`).click();
    await expect.poll(() => page.textContent('#stock-status'), { timeout: 10_000 }).toMatch(`${title} is out of stock`);
    await settled();
    const after = await shelves();
    for (const s of SHELVES) expect(after[s], s).not.toContain(target);
    // the lists were fetched again, not emptied: each still shows products, and no error
    for (const s of lists) expect(after[s].length, s).toBeGreaterThan(0);
    expect(await page.locator('main li.error').count()).toBe(0);
    // the catalogue says so, and the back office lists it with its badge
    expect((await getJson<{ available: boolean }>(`/v1/items/${encodeURIComponent(target)}`)).available).toBe(false);
    const out = page.locator(`#out-of-stock li[data-id="${target}"]`);
    expect(await out.locator('.badge.out').textContent()).toBe('Out of stock');
    // the search finds it only when asked for out-of-stock products, badge and all
    await page.fill('#q', target);
    await page.check('#include-oos');
    await expect.poll(() => ids('results'), { timeout: 10_000 }).toContain(target);
    expect(await page.locator(`#results li[data-id="${target}"] .badge.out`).count()).toBe(1);
    await page.screenshot({ path: 'test/screenshots/demo-out-of-stock.png', fullPage: true });
    await page.uncheck('#include-oos');
    await expect.poll(() => ids('results'), { timeout: 10_000 }).not.toContain(target);

    await out.locator('button[data-stock][data-available="true"]').click();
    await expect.poll(() => page.textContent('#stock-status'), { timeout: 10_000 }).toMatch(`${title} is back in stock`);
    // back in every list it was in (the search as it was, too)
    await page.fill('#q', query);
    await expect
      .poll(
        async () => {
          const now = await shelves();
          return lists.filter((s) => !now[s].includes(target));
        },
        { timeout: 10_000 },
      )
      .toEqual([]);
    expect((await getJson<{ available: boolean }>(`/v1/items/${encodeURIComponent(target)}`)).available).toBe(true);
    expect(await page.locator(`#out-of-stock li[data-id="${target}"]`).count()).toBe(0);
  }, 60_000);

  it('records views while a customer browses: recently viewed, trending now and bought together follow', async () => {
    await page.fill('#api-key', API_KEY);
    await settled();
    const card = page.locator('#category-shelf li.card').nth(2);
    const viewed = (await card.getAttribute('data-id'))!;
    const viewedTitle = (await card.locator('.title').textContent())!;
    const recId = (await card.getAttribute('data-rec-id'))!;
    expect(recId).toMatch(/^\d+_[0-9a-f]{32}$/);
    expect(await card.getAttribute('data-position')).toBe('3');
    expect(await ids('recent')).not.toContain(viewed);
    // two other shoppers viewed it a moment ago: not yet a trend (TRENDING_MIN_SHOPPERS is 3)
    const others = ['e2e-shopper-1', 'e2e-shopper-2'].map((userId) => ({ userId, itemId: viewed, type: 'view' }));
    const posted = await fetch(`${base}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: others }),
    });
    expect(posted.status).toBe(200);
    const trendingNow = await getJson<{ items: { id: string }[] }>('/v1/trending?k=8');
    expect(trendingNow.items.map((i) => i.id)).not.toContain(viewed);
    expect(await ids('trending')).not.toContain(viewed);
    const counted = await attributed();
    await card.locator('button[data-similar]').click();
    await expect
      .poll(() => page.textContent('#event-status'), { timeout: 10_000 })
      .toBe(`Recorded a click and a view of ${viewed} (position 3 of answer ${recId}) for customer 17850.`);
    // opening a product of the shelf is a click on the shelf's answer: GET /admin/metrics counts it
    await expect.poll(async () => (await attributed()).clicks, { timeout: 10_000 }).toBe(counted.clicks + 1);
    await expect.poll(async () => (await ids('recent'))[0], { timeout: 10_000 }).toBe(viewed);
    expect(await page.textContent('#recent-source')).toBe('recent');
    // the customer's view is the third shopper's: the item trends (it was not in the popular top 8 before)
    await expect.poll(() => ids('trending'), { timeout: 10_000 }).toContain(viewed);
    expect(await page.textContent('#trending-source')).toBe('trending');
    // and the product's lists follow the viewed product
    expect(await page.textContent('#bought-together-title')).toBe(viewedTitle);
    await expect.poll(() => page.locator('#bought-together li.card').count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect(await ids('bought-together')).not.toContain(viewed);
    await page.screenshot({ path: 'test/screenshots/demo-browsing.png', fullPage: true });
  }, 30_000);

  it("adds a shelf's product to the basket as the customer: an add-to-cart attributed to the shelf's answer", async () => {
    await page.fill('#api-key', API_KEY);
    await settled();
    const card = page.locator('#featured li.card:has(button[data-add])').first();
    const added = (await card.getAttribute('data-id'))!;
    const recId = (await card.getAttribute('data-rec-id'))!;
    const position = (await card.getAttribute('data-position'))!;
    expect(recId).toMatch(/^\d+_[0-9a-f]{32}$/);
    const counted = await attributed();
    await card.locator('button[data-add]').click();
    await expect
      .poll(() => page.textContent('#event-status'), { timeout: 10_000 })
      .toBe(`Recorded an add-to-cart of ${added} (position ${position} of answer ${recId}) for customer 17850.`);
    await expect.poll(() => ids('basket'), { timeout: 10_000 }).toContain(added);
    await expect.poll(async () => (await attributed()).addToCarts, { timeout: 10_000 }).toBe(counted.addToCarts + 1);
    expect((await attributed()).clicks).toBe(counted.clicks);
  }, 30_000);

  it('shows why an event was refused (wrong API key)', async () => {
    await page.fill('#api-key', 'wrong');
    await page.locator('#customer-recs button[data-buy]').first().click();
    await expect.poll(() => page.textContent('#event-status'), { timeout: 10_000 }).toMatch(/unauthorized/);
  }, 30_000);
});
