/**
 * Headless Chromium for the pages' end-to-end tests (demo, dashboard): Debian's `chromium`
 * package, driven through playwright-core. Without it the page tests are skipped locally and fail
 * in CI (where `.ci/run` installs it).
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

/** Whether the page tests can run here; says why not (and throws in CI). */
export function haveChromium(suite: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs the Debian chromium package`);
  console.warn(`e2e ${suite} tests skipped: ${CHROMIUM} not installed (apt-get install chromium)`);
  return false;
}

/** A headless browser with nothing running in the background that could touch the network. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
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
}
