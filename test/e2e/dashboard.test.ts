/**
 * The operator dashboard in a real browser (Debian's Chromium driven by playwright-core) against
 * `wrangler dev` — the real workerd runtime, its local Durable Objects counting what the test sends.
 * Skipped with a note where Chromium is missing, except under CI=true (as the demo suite).
 *
 * The tests share one page and run in order, as an operator would use it: the page asks for the
 * token and reads nothing before it has one; a wrong token is refused with a message; the right one
 * shows the empty panels explained; then the test sends answers, attributed clicks, add-to-carts and
 * purchases through the public API (and starts an experiment with the admin API) and checks that the
 * page shows exactly those counts, with the API's intervals and verdicts, and non-empty charts; Stop
 * (confirmed in the browser's dialog) stops the experiment as the API then reports; the range
 * selector and forgetting the token work. No console error and no CSP violation may happen.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startWrangler, stopWrangler } from '../../scripts/wrangler-dev';
import { haveChromium, launchChromium } from './browser';

const API_KEY = 'dash-key';
const ADMIN_TOKEN = 'dash-admin';
const PLACEMENT = 'home-shelf';
const EXPERIMENT = 'home-shelf-test';
const TOKEN_KEY = 'edge-recs-admin-token';
/** Answers the test asks for with the placement (in the experiment) and without one (outside it). */
const WITH_PLACEMENT = 6;
const WITHOUT_PLACEMENT = 4;
/** Requests for an unknown item: 404s in the traffic panel. */
const NOT_FOUND = 2;

type Interval = { estimate: number; low: number; high: number };
type Test = { difference: number; pValue: number; significant: boolean } | null;
type Group = {
  placement?: string | null;
  version?: string;
  variant?: string | null;
  answers: number;
  itemsShown: number;
  clicks: number;
  addToCarts: number;
  purchases: number;
  revenue: number;
  rates: { ctr: Interval | null; conversion: Interval | null; addToCartRate: Interval | null; revenuePer1000Answers: Interval | null };
  versusControl: { ctr: Test; conversion: Test; revenuePerAnswer: Test } | null;
};
type Report = { groups: Group[] };
/**
 * The browser globals the functions run in the page use: the test project compiles without the DOM
 * library (it runs in Node), so these are typed here; the functions reach them through globalThis.
 */
type Violation = { violatedDirective: string; blockedURI: string; sourceFile: string; lineNumber: number };
type Canvas = {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
};
type Window = {
  document: {
    body: { dataset: Record<string, string | undefined> };
    getElementById(id: string): Canvas;
    addEventListener(type: 'securitypolicyviolation', listener: (e: Violation) => void): void;
  };
  sessionStorage: { getItem(key: string): string | null };
  localStorage: { getItem(key: string): string | null };
  reportCspViolation(v: string): void;
};
type Answer = { model: string; recId: string; items: { id: string }[]; experiment?: string; variant?: string };

const haveBrowser = haveChromium('dashboard');

describe.skipIf(!haveBrowser)('operator dashboard in Chromium', () => {
  let wrangler: ChildProcess;
  let browser: Browser;
  let page: Page;
  let base: string;
  let version: string;
  const consoleErrors: { text: string; url: string }[] = [];
  const cspViolations: string[] = [];
  /** Data requests the page made (admin routes and the public model route). */
  const dataRequests: string[] = [];

  /** What the test sent, as the dashboard should count it. */
  const sent = {
    placement: { answers: 0, clicks: 0, addToCarts: 0, purchases: 0, revenue: 0 },
    none: { answers: 0, clicks: 0, addToCarts: 0, purchases: 0, revenue: 0 },
    variants: new Map<string, { answers: number; clicks: number }>(),
  };

  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers },
    });
  const adminJson = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const res = await admin(path, init);
    expect(res.status, path).toBeLessThan(300);
    return res.json() as Promise<T>;
  };
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${base}${path}`);
    expect(res.status, path).toBe(200);
    return res.json() as Promise<T>;
  };
  const sendEvents = async (events: unknown[]) => {
    const res = await fetch(`${base}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { accepted: number; attribution: { attributed: number; pending: number } };
    expect(body.accepted).toBe(events.length);
    expect(body.attribution.attributed + body.attribution.pending).toBe(events.length);
  };

  const state = () => page.evaluate(() => (globalThis as unknown as Window).document.body.dataset.state);
  /**
   * Waits for the page to finish a load (the script marks the body's data-state). Every action that
   * loads sets "loading" synchronously in its event handler, before the action's call returns here.
   */
  const settled = (want = 'ready') => expect.poll(state, { timeout: 20_000 }).toBe(want);
  /** The data-value of a cell: `row` selects the row, `key` the cell. */
  const cell = (table: string, row: string, key: string) =>
    page.getAttribute(`#${table} tbody tr${row} td[data-key="${key}"]`, 'data-value');
  const stored = () =>
    page.evaluate((k) => {
      const w = globalThis as unknown as Window;
      return { session: w.sessionStorage.getItem(k), local: w.localStorage.getItem(k) };
    }, TOKEN_KEY);
  /** Pixels a canvas has drawn (not fully transparent). */
  const painted = (id: string) =>
    page.evaluate((canvasId) => {
      const canvas = (globalThis as unknown as Window).document.getElementById(canvasId);
      const ctx = canvas.getContext('2d');
      if (!ctx || canvas.width === 0 || canvas.height === 0) return 0;
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
      return n;
    }, id);
  const chartData = async (id: string) =>
    JSON.parse((await page.getAttribute(`#${id}`, 'data-chart')) ?? 'null') as {
      labels: string[];
      datasets: { label: string; data: (number | null)[] }[];
    } | null;
  /** No console error and no CSP violation so far (the expected 401 of a wrong token is removed by its test). */
  const clean = () => {
    expect(consoleErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  };

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    wrangler = await startWrangler(port, await mkdtemp(join(tmpdir(), 'e2e-dash-')), {
      API_KEY,
      ADMIN_TOKEN,
      USER_ID_SECRET: 'dash-secret',
    });
    version = (await get<{ version: string }>('/v1/model')).version;
    const placement = await admin(`/admin/placements/${PLACEMENT}`, {
      method: 'PUT',
      body: JSON.stringify({ description: 'Dashboard e2e: the home page shelf' }),
    });
    expect(placement.status).toBe(200);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push({ text: m.text(), url: m.location().url });
    });
    page.on('pageerror', (e) => consoleErrors.push({ text: e.message, url: '' }));
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      if (path.startsWith('/admin/') || path.startsWith('/v1/')) dataRequests.push(`${r.method()} ${path}`);
    });
    // the page reports every CSP violation it meets (the binding and the listener survive navigations)
    await page.exposeFunction('reportCspViolation', (v: string) => {
      cspViolations.push(v);
    });
    await page.addInitScript(() => {
      const w = globalThis as unknown as Window;
      w.document.addEventListener('securitypolicyviolation', (e) => {
        w.reportCspViolation(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
      });
    });
    await mkdir('test/screenshots', { recursive: true });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    stopWrangler(wrangler);
  });

  it('opens without a token, asks for one, and requests no data before it has one', async () => {
    const res = await page.goto(`${base}/admin`);
    expect(res?.status()).toBe(200);
    await expect.poll(state).toBe('signed-out');
    expect(await page.isVisible('#token')).toBe(true);
    expect(await page.isHidden('#dashboard')).toBe(true);
    expect(await page.textContent('#auth-status')).toMatch(/Enter the admin token to see the data/);
    await page.waitForLoadState('networkidle');
    expect(dataRequests).toEqual([]);
    expect(await stored()).toEqual({ session: null, local: null });
    clean();
  });

  it('refuses a wrong token with a clear message and shows no data', async () => {
    await page.fill('#token', 'not-the-admin-token');
    await page.click('#token-form button[type=submit]');
    await settled('refused');
    const status = page.locator('#auth-status');
    expect(await status.textContent()).toMatch(/The admin token was refused \(401 unauthorized\), so no data is shown/);
    expect(await status.getAttribute('class')).toMatch(/\berror\b/);
    expect(await page.isHidden('#dashboard')).toBe(true);
    expect(await page.isVisible('#token')).toBe(true);
    expect(await page.inputValue('#token')).toBe('');
    expect(await page.locator('#dashboard tbody tr').count()).toBe(0);
    expect(await stored()).toEqual({ session: null, local: null });
    expect(dataRequests).toContain('GET /admin/overview');

    // a token that cannot be a header value is refused before any request, with the reason
    const before = dataRequests.length;
    await page.fill('#token', 'tökén with spaces');
    await page.click('#token-form button[type=submit]');
    await expect.poll(() => status.textContent()).toMatch(/can only hold visible ASCII characters/);
    expect(dataRequests.length).toBe(before);

    // the browser logs the refused request itself; that one error is expected, nothing else
    const unexpected = consoleErrors.filter((e) => !(/status of 401/.test(e.text) && e.url.endsWith('/admin/overview')));
    expect(unexpected).toEqual([]);
    consoleErrors.length = 0;
    expect(cspViolations).toEqual([]);
  });

  it('with the right token shows the served model and explains the panels that have nothing yet', async () => {
    await page.fill('#token', ADMIN_TOKEN);
    await page.click('#token-form button[type=submit]');
    await settled();
    expect(await page.isVisible('#dashboard')).toBe(true);
    expect(await page.isHidden('#token-form')).toBe(true);
    // the token is kept for this tab only, never in localStorage or the address
    expect(await stored()).toEqual({ session: ADMIN_TOKEN, local: null });
    expect(page.url()).toBe(`${base}/admin`);

    const model = await get<{ version: string; scoring: string; itemModel: { algorithm: string; neighbours: number } | null }>('/v1/model');
    expect(await page.getAttribute('#serving', 'data-version')).toBe(version);
    expect(await page.textContent('#serving')).toContain(`Serving ${version} (bundled`);
    expect(await page.textContent('#serving')).toContain(model.scoring);
    expect(model.itemModel).not.toBeNull();
    expect(await page.textContent('#item-model')).toContain(
      `Item model: ${model.itemModel?.algorithm}, up to ${model.itemModel?.neighbours} neighbours per item`,
    );
    expect(await page.getAttribute(`#versions-table tr[data-version="${version}"]`, 'data-role')).toBe('active');
    expect(await cell('versions-table', `[data-version="${version}"]`, 'itemModel')).toBe('true');

    // nothing has run, answered or been started yet: each panel says so and why
    expect(await page.textContent('#refresh-log tbody')).toMatch(/No refresh has run yet/);
    expect(await page.textContent('#placement-table tbody')).toMatch(/No answers in the range yet/);
    expect(await page.textContent('#version-table tbody')).toMatch(/No answers in the range yet/);
    expect(await page.textContent('#experiments-table tbody')).toMatch(/No experiment yet\. Start one with PUT \/admin\/experiments/);
    expect(await page.textContent('#variant-table tbody')).toMatch(/No experiment to show/);
    expect(await page.textContent('#lag-note')).toMatch(/every 500 ms per Worker isolate, METRICS_FLUSH_MILLISECONDS/);
    clean();
  });

  it('shows exactly the answers, clicks, add-to-carts, purchases and revenue the API was sent, per placement and per version', async () => {
    // an operator's refresh (no model is published: it logs "unchanged") and an experiment on the placement
    expect((await adminJson<{ outcome: string }>('/admin/refresh', { method: 'POST' })).outcome).toBe('unchanged');
    const started = await admin(`/admin/experiments/${EXPERIMENT}`, {
      method: 'PUT',
      body: JSON.stringify({
        description: 'Dashboard e2e: two arms on the home shelf',
        placement: PLACEMENT,
        variants: [
          { name: 'control', weight: 1 },
          { name: 'treatment', weight: 1 },
        ],
      }),
    });
    expect(started.status).toBe(201);

    // answers: with the placement (each user lands in a variant) and without (outside the experiment)
    const withPlacement: Answer[] = [];
    for (let i = 0; i < WITH_PLACEMENT; i++) {
      const a = await get<Answer>(`/v1/users/dash-p-${i}/recommendations?k=5&placement=${PLACEMENT}`);
      expect(a.experiment).toBe(EXPERIMENT);
      withPlacement.push(a);
    }
    const without: Answer[] = [];
    for (let i = 0; i < WITHOUT_PLACEMENT; i++) {
      const a = await get<Answer>(`/v1/users/dash-n-${i}/recommendations?k=5`);
      expect(a.experiment).toBeUndefined();
      without.push(a);
    }
    for (let i = 0; i < NOT_FOUND; i++) expect((await fetch(`${base}/v1/items/NOPE/similar`)).status).toBe(404);
    sent.placement.answers = WITH_PLACEMENT;
    sent.none.answers = WITHOUT_PLACEMENT;
    for (const a of withPlacement) {
      const v = sent.variants.get(a.variant as string) ?? { answers: 0, clicks: 0 };
      v.answers++;
      sent.variants.set(a.variant as string, v);
    }
    // answers are counted in a batch after their responses: events about them are sent once they are in
    await expect
      .poll(async () => (await adminJson<Report>('/admin/metrics?groupBy=version')).groups.find((g) => g.version === version)?.answers, {
        timeout: 10_000,
      })
      .toBe(WITH_PLACEMENT + WITHOUT_PLACEMENT);

    const events: unknown[] = [];
    const click = (a: Answer, item: number, who: string) => {
      events.push({ userId: who, itemId: a.items[item].id, type: 'click', recId: a.recId });
    };
    withPlacement.slice(0, 3).forEach((a, i) => {
      click(a, 0, `dash-p-${i}`);
      const v = sent.variants.get(a.variant as string);
      if (v) v.clicks++;
    });
    sent.placement.clicks = 3;
    events.push({ userId: 'dash-p-0', itemId: withPlacement[0].items[1].id, type: 'add_to_cart', recId: withPlacement[0].recId });
    sent.placement.addToCarts = 1;
    events.push({
      userId: 'dash-p-0',
      itemId: withPlacement[0].items[0].id,
      type: 'purchase',
      recId: withPlacement[0].recId,
      price: 10,
      quantity: 2,
    });
    events.push({ userId: 'dash-p-3', itemId: withPlacement[3].items[2].id, type: 'purchase', recId: withPlacement[3].recId, price: 5 });
    sent.placement.purchases = 2;
    sent.placement.revenue = 25;
    click(without[0], 1, 'dash-n-0');
    sent.none.clicks = 1;
    await sendEvents(events);

    const byPlacement = async () => (await adminJson<Report>('/admin/metrics?groupBy=placement')).groups;
    await expect
      .poll(
        async () => (await byPlacement()).map((g) => [g.placement ?? null, g.answers, g.clicks, g.addToCarts, g.purchases, g.revenue]),
        {
          timeout: 10_000,
        },
      )
      .toEqual([
        [null, WITHOUT_PLACEMENT, 1, 0, 0, 0],
        [PLACEMENT, WITH_PLACEMENT, 3, 1, 2, 25],
      ]);
    // the requests too (a batch per isolate after the responses)
    const traffic = async () =>
      (await adminJson<{ routes: { route: string; requests: number; status4xx: number }[] }>('/admin/traffic')).routes;
    await expect
      .poll(async () => (await traffic()).find((r) => r.route === 'GET /v1/items/:itemId/similar')?.status4xx, { timeout: 10_000 })
      .toBe(NOT_FOUND);

    await page.click('#reload');
    await settled();

    // per placement: the counts the test sent, and the API's rates with their intervals
    const api = await byPlacement();
    const home = `[data-placement="${PLACEMENT}"]`;
    const none = '[data-placement=""]';
    for (const [row, want] of [
      [home, sent.placement],
      [none, sent.none],
    ] as const) {
      expect(await cell('placement-table', row, 'answers')).toBe(String(want.answers));
      expect(await cell('placement-table', row, 'clicks')).toBe(String(want.clicks));
      expect(await cell('placement-table', row, 'addToCarts')).toBe(String(want.addToCarts));
      expect(await cell('placement-table', row, 'purchases')).toBe(String(want.purchases));
      expect(await cell('placement-table', row, 'revenue')).toBe(String(want.revenue));
    }
    expect(await page.textContent(`#placement-table tr${none} td[data-key="placement"]`)).toBe('none');
    const homeApi = api.find((g) => g.placement === PLACEMENT) as Group;
    expect(await cell('placement-table', home, 'itemsShown')).toBe(String(homeApi.itemsShown));
    for (const rate of ['ctr', 'addToCartRate', 'conversion', 'revenuePer1000Answers'] as const) {
      const iv = homeApi.rates[rate] as Interval;
      const td = page.locator(`#placement-table tr${home} td[data-key="${rate}"]`);
      expect(Number(await td.getAttribute('data-value'))).toBe(iv.estimate);
      expect(Number(await td.getAttribute('data-low'))).toBe(iv.low);
      expect(Number(await td.getAttribute('data-high'))).toBe(iv.high);
      expect(await td.textContent()).toMatch(/95%: /);
    }
    // 2 of 6 answers had a purchase; 3 clicks on 6 × 5 items shown
    expect(homeApi.rates.conversion?.estimate).toBeCloseTo(2 / 6, 12);
    expect(await page.textContent(`#placement-table tr${home} td[data-key="conversion"]`)).toMatch(/^33\.33%95%: /);
    expect(await page.textContent(`#placement-table tr${home} td[data-key="revenue"]`)).toBe('25.00');

    // per version: every answer was scored by the bundled model
    const v = `[data-version="${version}"]`;
    expect(await cell('version-table', v, 'answers')).toBe(String(WITH_PLACEMENT + WITHOUT_PLACEMENT));
    expect(await cell('version-table', v, 'clicks')).toBe(String(sent.placement.clicks + sent.none.clicks));
    expect(await cell('version-table', v, 'purchases')).toBe('2');
    expect(await page.locator('#version-table tbody tr').count()).toBe(1);

    // the refresh log shows the run the test asked for, with the reason
    expect(await page.getAttribute('#refresh-log tbody tr', 'data-outcome')).toBe('unchanged');
    expect(await page.textContent('#refresh-log tbody tr')).toMatch(/the origin has no published model/);

    // traffic: the 404s of the unknown item and the 10 recommendation requests, per route
    const similar = '[data-route="GET /v1/items/:itemId/similar"]';
    expect(await cell('routes-table', similar, 'status4xx')).toBe(String(NOT_FOUND));
    expect(await cell('routes-table', '[data-route="GET /v1/users/:userId/recommendations"]', 'requests')).toBe(
      String(WITH_PLACEMENT + WITHOUT_PLACEMENT),
    );
    expect(await page.isHidden('#traffic-empty')).toBe(true);
    const p50 = await cell('routes-table', similar, 'p50');
    expect(Number(p50)).toBeGreaterThan(0);

    // every chart holds data and has drawn it
    const requests = await chartData('chart-requests');
    expect(requests?.labels).toHaveLength(24);
    expect(requests?.datasets.map((d) => d.label)).toEqual(['2xx', '3xx', '4xx', '5xx']);
    const fourxx = requests?.datasets[2].data.reduce<number>((s, x) => s + (x ?? 0), 0);
    expect(fourxx).toBeGreaterThanOrEqual(NOT_FOUND);
    const latency = await chartData('chart-latency');
    expect(latency?.datasets.map((d) => d.label)).toEqual(['p50', 'p95', 'p99']);
    expect(latency?.datasets[0].data.some((x) => typeof x === 'number' && x > 0)).toBe(true);
    expect((await chartData('chart-routes'))?.labels).toContain('GET /v1/users/:userId/recommendations');
    const placements = await chartData('chart-placements');
    expect(placements?.labels).toEqual(api.map((g) => g.placement ?? 'none'));
    expect(placements?.datasets[0].data).toEqual(api.map((g) => Math.round((g.rates.ctr?.estimate ?? 0) * 1e6) / 1e4));
    for (const id of ['chart-requests', 'chart-latency', 'chart-routes', 'chart-placements', 'chart-variants'])
      expect(await painted(id), id).toBeGreaterThan(1000);
    await page.screenshot({ path: 'test/screenshots/dashboard.png', fullPage: true });
    clean();
  }, 90_000);

  it("lists the experiment with its variants' counts, the API's intervals and its significance verdicts", async () => {
    const row = `#experiments-table tr[data-experiment="${EXPERIMENT}"]`;
    expect(await page.getAttribute(row, 'data-status')).toBe('running');
    expect(await page.getAttribute(`${row} td[data-key="variants"]`, 'data-value')).toBe('control,treatment');
    expect(await page.getAttribute(`${row} td[data-key="placement"]`, 'data-value')).toBe(PLACEMENT);
    expect(await page.locator(`${row} button[data-stop="${EXPERIMENT}"]`).count()).toBe(1);
    expect(await page.getAttribute('#variant-table', 'data-experiment')).toBe(EXPERIMENT);

    const report = await adminJson<Report>(`/admin/metrics?experiment=${EXPERIMENT}&groupBy=variant`);
    expect(report.groups.map((g) => g.variant)).toEqual(['control', 'treatment']);
    let total = 0;
    for (const g of report.groups) {
      const r = `[data-variant="${g.variant}"]`;
      const want = sent.variants.get(g.variant as string) ?? { answers: 0, clicks: 0 };
      total += want.answers;
      expect(await cell('variant-table', r, 'answers')).toBe(String(want.answers));
      expect(await cell('variant-table', r, 'clicks')).toBe(String(want.clicks));
      const ctr = page.locator(`#variant-table tr${r} td[data-key="ctr"]`);
      expect(await ctr.getAttribute('data-value')).toBe(g.rates.ctr ? String(g.rates.ctr.estimate) : 'null');
      // the test against the control: the API's difference, p-value and verdict, or "—" where it has none
      for (const test of ['ctr', 'conversion', 'revenuePerAnswer'] as const) {
        const td = page.locator(`#variant-table tr${r} td[data-key="vs.${test}"]`);
        const t = g.versusControl?.[test] ?? null;
        if (!t) expect(await td.getAttribute('data-value')).toBe('null');
        else {
          expect(Number(await td.getAttribute('data-value'))).toBe(t.difference);
          expect(await td.getAttribute('data-significant')).toBe(String(t.significant));
          expect(await td.textContent()).toContain(`significant: ${t.significant ? 'yes' : 'no'}`);
        }
      }
    }
    expect(total).toBe(WITH_PLACEMENT);
    expect(await page.textContent('#variant-table tr[data-variant="control"] td[data-key="variant"]')).toBe('control (control)');
    const variants = await chartData('chart-variants');
    expect(variants?.labels).toEqual(['control', 'treatment']);
    clean();
  });

  it('Stop asks first: dismissing keeps the experiment running, accepting stops it, as the API then reports', async () => {
    const row = `#experiments-table tr[data-experiment="${EXPERIMENT}"]`;
    let asked = '';
    page.once('dialog', (d) => {
      asked = d.message();
      void d.dismiss();
    });
    await page.click(`${row} button[data-stop]`);
    await expect.poll(() => asked).toMatch(`Stop the experiment "${EXPERIMENT}"?`);
    expect((await adminJson<{ status: string }>(`/admin/experiments/${EXPERIMENT}`)).status).toBe('running');
    expect(await page.getAttribute(row, 'data-status')).toBe('running');

    page.once('dialog', (d) => void d.accept());
    await page.click(`${row} button[data-stop]`);
    await expect.poll(() => page.getAttribute(row, 'data-status'), { timeout: 10_000 }).toBe('stopped');
    await settled();
    const now = await adminJson<{ status: string; stoppedAt?: string }>(`/admin/experiments/${EXPERIMENT}`);
    expect(now.status).toBe('stopped');
    await expect
      .poll(() => page.textContent('#experiments-status'))
      .toBe(`Stopped ${EXPERIMENT}: the API reports it stopped since ${now.stoppedAt?.slice(0, 10)} ${now.stoppedAt?.slice(11, 16)} UTC.`);
    expect(await page.getAttribute(`${row} td[data-key="stoppedAt"]`, 'data-value')).toBe(now.stoppedAt);
    expect(await page.locator(`${row} button[data-stop]`).count()).toBe(0);
    // its counts stay for the report
    expect(await cell('variant-table', '[data-variant="control"]', 'answers')).toBe(String(sent.variants.get('control')?.answers ?? 0));
    // answers on the placement are outside any experiment from now on
    expect((await get<Answer>(`/v1/users/dash-p-0/recommendations?k=5&placement=${PLACEMENT}`)).experiment).toBeUndefined();
    clean();
  });

  it('the range selector asks the reports for 7 or 30 days of hours', async () => {
    // the answer the previous test asked for after the stop is in the counts before the page reads them
    await expect
      .poll(
        async () => (await adminJson<Report>('/admin/metrics?groupBy=placement')).groups.find((g) => g.placement === PLACEMENT)?.answers,
        { timeout: 10_000 },
      )
      .toBe(WITH_PLACEMENT + 1);
    for (const [value, hours] of [
      ['720', 720],
      ['168', 168],
    ] as const) {
      await page.selectOption('#range', value);
      await settled();
      expect((await chartData('chart-requests'))?.labels).toHaveLength(hours);
      expect(await page.locator('#traffic-table tbody tr').count()).toBe(hours);
      expect(await cell('placement-table', `[data-placement="${PLACEMENT}"]`, 'answers')).toBe(String(WITH_PLACEMENT + 1));
    }
    clean();
  });

  it('keeps the token for the tab across a reload, and forgets it on request', async () => {
    await page.reload();
    await settled();
    expect(await page.isVisible('#dashboard')).toBe(true);
    expect(await page.getAttribute('#serving', 'data-version')).toBe(version);

    await page.click('#forget-token');
    await expect.poll(state).toBe('signed-out');
    expect(await stored()).toEqual({ session: null, local: null });
    expect(await page.isHidden('#dashboard')).toBe(true);
    expect(await page.isVisible('#token')).toBe(true);
    expect(await page.textContent('#auth-status')).toMatch(/Token forgotten/);
    expect(await page.locator('#dashboard tbody tr').count()).toBe(0);
    expect(await page.getAttribute('#chart-requests', 'data-chart')).toBeNull();

    // a new visit in this tab asks again and reads nothing
    dataRequests.length = 0;
    await page.reload();
    await expect.poll(state).toBe('signed-out');
    await page.waitForLoadState('networkidle');
    expect(dataRequests).toEqual([]);
    clean();
  });
});
