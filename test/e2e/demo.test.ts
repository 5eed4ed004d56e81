/**
 * The demo storefront in a real browser (Debian's Chromium driven by playwright-core) against
 * `wrangler dev` — the real workerd runtime serving the bundled default model.
 * CI installs Chromium (.ci/run); on a machine without it this suite is skipped with a note,
 * except under CI=true, where a missing browser is a failure.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startWrangler, stopWrangler } from '../../scripts/wrangler-dev';

const CHROMIUM = '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser) {
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs the Debian chromium package`);
  console.warn(`e2e demo tests skipped: ${CHROMIUM} not installed (apt-get install chromium)`);
}

describe.skipIf(!haveBrowser)('demo storefront in Chromium', () => {
  let wrangler: ChildProcess;
  let browser: Browser;
  let page: Page;
  let base: string;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    wrangler = await startWrangler(port, await mkdtemp(join(tmpdir(), 'e2e-state-')), {
      API_KEY: 'demo-key',
      USER_ID_SECRET: 'demo-secret',
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
    page = await browser.newPage();
    // a CSP violation, a failed script or an uncaught error would show here
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
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

    await page.locator('#basket-recs button[data-similar]').first().click();
    await expect.poll(() => page.locator('#similar li').count(), { timeout: 10_000 }).toBe(8);

    await mkdir('test/screenshots', { recursive: true });
    await page.screenshot({ path: 'test/screenshots/demo-basket.png', fullPage: true });
  }, 60_000);

  it('looks up a customer and shows their recommendations next to what they bought', async () => {
    await page.fill('#customer', '17850');
    await page.click('#customer-form button[type=submit]');
    await expect.poll(() => page.locator('#customer-recs li .score').count(), { timeout: 10_000 }).toBe(10);
    expect(await page.textContent('#customer-source')).toBe('personalized');
    await expect.poll(() => page.locator('#customer-history li').count()).toBe(10);
    await page.screenshot({ path: 'test/screenshots/demo-customer.png', fullPage: true });
  }, 30_000);

  it('sends a purchase event from the page and shows the recommendations change', async () => {
    await page.fill('#customer', '15221');
    await page.click('#customer-form button[type=submit]');
    // 15221 bought five cabinets and chests of drawers
    await expect.poll(() => page.textContent('#customer-history'), { timeout: 10_000 }).toMatch(/CABINET/);
    const before = await page.locator('#customer-recs li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-id')));
    await page.fill('#api-key', 'demo-key');
    await page.locator('#customer-recs button[data-buy]').first().click();
    await expect.poll(() => page.textContent('#event-status'), { timeout: 10_000 }).toMatch(`Recorded a purchase of ${before[0]}`);
    // the bought item leaves the recommendations and joins the purchase history
    await expect
      .poll(async () => page.locator('#customer-recs li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-id'))), {
        timeout: 10_000,
      })
      .not.toContain(before[0]);
    expect(await page.locator('#customer-history').textContent()).toContain(before[0]!);
    await page.screenshot({ path: 'test/screenshots/demo-event.png', fullPage: true });
  }, 30_000);

  it('shows why an event was refused (wrong API key)', async () => {
    await page.fill('#api-key', 'wrong');
    await page.locator('#customer-recs button[data-buy]').first().click();
    await expect.poll(() => page.textContent('#event-status'), { timeout: 10_000 }).toMatch(/unauthorized/);
  }, 30_000);
});
