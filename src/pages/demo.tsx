/**
 * Demo storefront at `/`: catalogue search, a basket with explained session recommendations, a
 * product's similar and bought-together items, customer lookup with explained recommendations,
 * recently viewed items and history, trending now, a category shelf, the `demo-featured`
 * placement's shelf, and a back office (stock toggles and sample categories with the API key; the
 * operator's curl lines for what needs the admin token). Product cards show price, category,
 * availability and the placement's pinned/boosted marks. The page is server-rendered hono/jsx; its
 * behaviour is the typed script src/pages/client/demo.ts, bundled at build time and served from
 * /assets/ (no CDN, no inline script, so a strict Content-Security-Policy holds).
 */
import { Hono } from 'hono';
import type { FC, PropsWithChildren } from 'hono/jsx';
import type { AppEnv } from '../context';
import { assets, PAGE_CSP } from './assets';
import { DEMO_CATEGORIES, DEMO_PLACEMENT, DEMO_PLACEMENT_RULES } from './demo-setup';

export const demo = new Hono<AppEnv>();
demo.route('/', assets);

/**
 * The operator's commands (shell variables hold the secrets). The script writes this page's origin
 * into the `data-origin` spans, so the server never guesses its public address.
 */
const Curl: FC<{ id: string; method: string; path: string; token: string; body: unknown }> = ({ id, method, path, token, body }) => (
  <pre id={id}>
    curl -X {method} "<span data-origin="" />
    {path}" -H "authorization: Bearer {token}" -H "content-type: application/json" -d '{JSON.stringify(body)}'
  </pre>
);

/** A shelf: a heading (with the answer's source as a tag) and its product cards. */
const Shelf: FC<PropsWithChildren<{ id: string; title: string; tag?: string; note?: string }>> = ({ id, title, tag, note, children }) => (
  <>
    <h2 id={`h-${id}`}>
      {title}
      {children} <span id={tag ?? `${id}-source`} class="tag" />
    </h2>
    {note && <p class="muted">{note}</p>}
    <ol id={id} aria-labelledby={`h-${id}`} aria-live="polite" />
  </>
);

const DemoPage: FC = () => (
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
          <label class="inline">
            <input id="include-oos" type="checkbox" /> Include out-of-stock products
          </label>
          <ol id="results" aria-label="Search results" aria-live="polite" />
        </section>
        <section aria-labelledby="h-basket">
          <h2 id="h-basket">Basket</h2>
          <ul id="basket" aria-label="Basket" />
          <Shelf id="basket-recs" tag="basket-source" title="Recommended for this basket" />
        </section>
        <section aria-labelledby="h-similar">
          <h2 id="h-similar">
            Similar to <span id="similar-title">…</span>
          </h2>
          <p class="muted">Use "Similar" on any product (with a customer looked up, it records a click and a view).</p>
          <ol id="similar" aria-labelledby="h-similar" aria-live="polite" />
          <Shelf id="bought-together" title="Frequently bought together with ">
            <span id="bought-together-title">…</span>
          </Shelf>
        </section>
        <section aria-labelledby="h-customer">
          <h2 id="h-customer">Customer</h2>
          <form id="customer-form">
            <label for="customer">Customer id</label>
            <input id="customer" type="text" placeholder="e.g. 17850" inputmode="numeric" />
            <button type="submit">Look up</button>
          </form>
          <p id="event-status" class="muted" aria-live="polite">
            "Buy" records a purchase event, "Similar" a click and a view, and "Add" an add-to-cart (with the API key from the back office);
            each names the recommendation answer that showed the product, so it counts in the reports. The lists update at once.
          </p>
          <Shelf id="customer-recs" tag="customer-source" title="Recommended" />
          <Shelf id="recent" title="Recently viewed" />
          <h2 id="h-customer-history">Bought before</h2>
          <ol id="customer-history" aria-labelledby="h-customer-history" />
        </section>
        <section aria-labelledby="h-trending">
          <Shelf
            id="trending"
            title="Trending now"
            note="Time-decayed popularity of live events; the model's popularity fills in while they are few."
          />
        </section>
        <section aria-labelledby="h-category-shelf">
          <h2 id="h-category-shelf">Shop by category</h2>
          <label for="category">Category</label>
          <select id="category">
            <option value="">Choose a category…</option>
          </select>
          <p id="category-hint" class="muted" aria-live="polite">
            No product has a category yet: the shop's catalogue feed sets them with PUT /v1/items (see the back office).
          </p>
          <ol id="category-shelf" aria-labelledby="h-category-shelf" aria-live="polite" />
        </section>
        <section aria-labelledby="h-featured">
          <Shelf id="featured" title={`Featured · placement ${DEMO_PLACEMENT}`} />
          <p id="featured-rules" class="muted" aria-live="polite" />
          <p class="muted">
            {DEMO_PLACEMENT_RULES.description}. The customer's recommendations under the placement's rules (popular items before a lookup).{' '}
            <button type="button" id="featured-reload">
              Reload
            </button>
          </p>
        </section>
        <section aria-labelledby="h-backoffice">
          <h2 id="h-backoffice">Back office</h2>
          <label for="api-key">API key (events and catalogue changes)</label>
          <input id="api-key" type="password" autocomplete="off" placeholder="API_KEY from .dev.vars" />
          <p id="stock-status" class="muted" aria-live="polite">
            "Mark out of stock" on any product takes it out of every list at once; "Back in stock" below brings it back.
          </p>
          <p>
            <button type="button" id="sample-categories" hidden>
              Load sample categories
            </button>
          </p>
          <h2 id="h-out-of-stock">Out of stock</h2>
          <ol id="out-of-stock" aria-labelledby="h-out-of-stock" aria-live="polite" />
          <details>
            <summary>Operator setup</summary>
            <p>
              Create the placement <code>{DEMO_PLACEMENT}</code> (needs the admin token, which this page never holds):
            </p>
            <Curl
              id="curl-placement"
              method="PUT"
              path={`/admin/placements/${DEMO_PLACEMENT}`}
              token="$ADMIN_TOKEN"
              body={DEMO_PLACEMENT_RULES}
            />
            <p>Sample categories for the bundled model (what "Load sample categories" sends):</p>
            <Curl id="curl-categories" method="PUT" path="/v1/items" token="$API_KEY" body={{ items: DEMO_CATEGORIES }} />
          </details>
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
