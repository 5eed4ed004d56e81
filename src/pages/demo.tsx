/**
 * Demo storefront at `/`: catalogue search, a basket with live session recommendations, customer
 * lookup, similar products, and the active model's facts. The page is server-rendered hono/jsx;
 * its behaviour is the typed script src/pages/client/demo.ts, bundled at build time and served
 * from /assets/ (no CDN, no inline script, so a strict Content-Security-Policy holds).
 */
import { Hono } from 'hono';
import type { AppEnv } from '../context';
import { assets, PAGE_CSP } from './assets';

export const demo = new Hono<AppEnv>();
demo.route('/', assets);

const DemoPage = () => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width,initial-scale=1" />
      <title>Edge recommendations — demo store</title>
      <link rel="stylesheet" href="/assets/demo.css" />
      <link rel="icon" href="data:," />
    </head>
    <body>
      <header>
        <h1>Demo store · edge recommendations</h1>
        <p id="model-info" aria-live="polite">
          Loading model…
        </p>
        <nav>
          <a href="/docs">API docs</a> · <a href="/openapi.json">OpenAPI</a>
        </nav>
      </header>
      <main>
        <section aria-labelledby="h-search">
          <h2 id="h-search">Find products</h2>
          <label for="q">Search the catalogue</label>
          <input id="q" type="search" placeholder="e.g. heart holder, lunch bag" autocomplete="off" />
          <ol id="results" aria-live="polite" />
        </section>
        <section aria-labelledby="h-basket">
          <h2 id="h-basket">Basket</h2>
          <ul id="basket" />
          <h2>
            Recommended for this basket <span id="basket-source" class="tag" />
          </h2>
          <ol id="basket-recs" aria-live="polite" />
        </section>
        <section aria-labelledby="h-similar">
          <h2 id="h-similar">
            Similar to <span id="similar-title">…</span>
          </h2>
          <p class="muted">Use "Similar" on any product.</p>
          <ol id="similar" aria-live="polite" />
        </section>
        <section aria-labelledby="h-customer">
          <h2 id="h-customer">Customer</h2>
          <form id="customer-form">
            <label for="customer">Customer id</label>
            <input id="customer" type="text" placeholder="e.g. 17850" inputmode="numeric" />
            <button type="submit">Look up</button>
            <label for="api-key">API key (to send events)</label>
            <input id="api-key" type="password" autocomplete="off" placeholder="API_KEY from .dev.vars" />
          </form>
          <p id="event-status" class="muted" aria-live="polite">
            "Buy" records a purchase event; the recommendations update at once.
          </p>
          <h2>
            Recommended <span id="customer-source" class="tag" />
          </h2>
          <ol id="customer-recs" aria-live="polite" />
          <h2>Bought before</h2>
          <ol id="customer-history" />
        </section>
      </main>
      <script type="module" src="/assets/demo.js" />
    </body>
  </html>
);

demo.get('/', (c) => {
  c.header('content-security-policy', PAGE_CSP);
  c.header('x-content-type-options', 'nosniff');
  return c.html(`<!doctype html>${<DemoPage />}`);
});
