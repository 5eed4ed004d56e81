/**
 * The demo store's behaviour in the browser (bundled by scripts/build.ts into /assets/demo.js):
 * search, a basket with explained session recommendations, a product's similar and bought-together
 * items, a customer's explained recommendations, recently viewed items and purchase history,
 * trending now, a category shelf, the `demo-featured` placement's shelf, and the back office:
 * stock toggles and sample categories (catalogue writes with the pasted API key) and the operator's
 * curl lines. It only calls the public API; after a stock change every list is fetched again, so an
 * out-of-stock product leaves them all at once. The looked-up customer's events about a product
 * shown in a recommendation answer (a click with "Similar", an add-to-cart, a purchase) carry the
 * answer's recId and the product's position, and every event a fresh eventId: they are attributed.
 */
import type { z } from '@hono/zod-openapi';
import type { CatalogWrite, ItemView, ModelInfo, Recommendation, SearchResult } from '../../schemas';
import { DEMO_CATEGORIES, DEMO_PLACEMENT } from '../demo-setup';
import { ApiError, api, button, byId, esc, type Item, load, renderList } from './lib/dom';

const basket = new Map<string, string>();
/** The product whose similar and bought-together items are shown. */
let product: { id: string; title: string } | null = null;
/** The customer looked up (their recommendations, recent views, history and the featured shelf). */
let customer = '';
/** Categories seen in any answer: the category shelf's choices. */
const categories = new Set<string>();

/** Products this page marked out of stock (id → title), kept across reloads so they can come back. */
const OUT_KEY = 'edge-recs-demo:out-of-stock';
const outOfStock = new Map<string, string>(readOut());
function readOut(): [string, string][] {
  try {
    const v = JSON.parse(localStorage.getItem(OUT_KEY) ?? '[]') as unknown;
    return Array.isArray(v) ? (v as [string, string][]) : [];
  } catch {
    return [];
  }
}
function saveOut(): void {
  try {
    localStorage.setItem(OUT_KEY, JSON.stringify([...outOfStock]));
  } catch {
    // storage unavailable: the list lasts for this page only
  }
}

const name = (it: Item) => it.title || it.id;
const addBtn = (it: Item) => (basket.has(it.id) ? '' : button({ add: it.id, title: name(it) }, 'Add', `Add ${name(it)} to the basket`));
const simBtn = (it: Item) => button({ similar: it.id, title: name(it) }, 'Similar', `View ${name(it)}: similar and bought together`);
const buyBtn = (it: Item) => button({ buy: it.id }, 'Buy', `Buy ${name(it)} as this customer`);
const stockBtn = (it: Item) =>
  it.available === false
    ? button({ stock: it.id, available: 'true', title: name(it) }, 'Back in stock', `Back in stock: ${name(it)}`)
    : button({ stock: it.id, available: 'false', title: name(it) }, 'Mark out of stock', `Mark out of stock: ${name(it)}`);
const shopActions = (it: Item) => addBtn(it) + simBtn(it) + stockBtn(it);

const apiKey = () => byId<HTMLInputElement>('api-key').value.trim();
const json = (body: unknown, auth = false): RequestInit => ({
  headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${apiKey()}` } : {}) },
  body: JSON.stringify(body),
});
const say = (id: string, text: string) => {
  byId(id).textContent = text;
};
const sayError = (id: string, e: unknown) => {
  byId(id).innerHTML = `<span class="error">${esc(e instanceof Error ? e.message : String(e))}</span>`;
};

/** Adds the categories of shown products to the category select (keeping the choice). */
function noteCategories(items: readonly Item[]): void {
  const before = categories.size;
  for (const it of items) if (it.category) categories.add(it.category);
  if (categories.size === before) return;
  const select = byId<HTMLSelectElement>('category');
  const chosen = select.value;
  select.innerHTML =
    '<option value="">Choose a category…</option>' +
    [...categories]
      .sort()
      .map((c) => `<option value="${esc(c)}"${c === chosen ? ' selected' : ''}>${esc(c)}</option>`)
      .join('');
  byId('category-hint').textContent = `${categories.size} categories in the catalogue's popular products.`;
}

/**
 * Renders products into a list and notes their categories; given a recommendation answer's
 * `recId`, each card carries it with the item's position (events about the item name the answer).
 */
function show(
  listId: string,
  items: readonly Item[],
  actions: (it: Item) => string,
  empty: string,
  because?: string,
  recId?: string,
): void {
  noteCategories(items);
  renderList(byId(listId), items, actions, empty, because, recId);
}

async function loadModel(): Promise<void> {
  try {
    const m = await api<ModelInfo>('/v1/model');
    const metrics = m.metrics
      ? ` · NDCG@100 ${m.metrics.model['ndcg@100'].toFixed(3)}, Recall@20 ${m.metrics.model['recall@20'].toFixed(3)} (popularity ${m.metrics.popularity['ndcg@100'].toFixed(3)})`
      : '';
    const refresh = m.lastRefresh
      ? ` · last refresh: ${m.lastRefresh.outcome}${m.lastRefresh.reason ? ` (${m.lastRefresh.reason})` : ''} at ${m.lastRefresh.at}`
      : ' · no refresh yet';
    byId('model-info').textContent =
      `Model ${m.version} (${m.source}) · trained ${m.trainedAt} · ${m.itemCount} items × ${m.dims} dims${metrics}${refresh}`;
    // the sample categories are ids of the bundled Online Retail model: never offered for a shop's own model
    byId('sample-categories').hidden = m.source !== 'bundled';
  } catch (e) {
    sayError('model-info', e);
  }
}

/** Categories of the most popular products (out-of-stock ones too): the category select's choices. */
async function loadCategories(): Promise<void> {
  try {
    noteCategories((await api<Recommendation>('/v1/popular?k=100&includeUnavailable=true')).items);
  } catch {
    // a deployment with MAX_K under 100: the categories of shown products still fill the select
  }
}

async function search(): Promise<void> {
  const q = byId<HTMLInputElement>('q').value.trim();
  const all = byId<HTMLInputElement>('include-oos').checked ? '&includeUnavailable=true' : '';
  await load(
    byId('results'),
    () => api<z.infer<typeof SearchResult>>(`/v1/items?limit=12&q=${encodeURIComponent(q)}${all}`),
    (r) => show('results', r.items, shopActions, `No product matches "${q}".`),
  );
}

async function basketRecs(): Promise<void> {
  renderList(
    byId('basket'),
    [...basket].map(([id, title]) => ({ id, title, ...(outOfStock.has(id) ? { available: false } : {}) })),
    (it) => button({ remove: it.id }, 'Remove', `Remove ${name(it)} from the basket`),
    'Your basket is empty.',
  );
  if (!basket.size) {
    byId('basket-recs').innerHTML = '<li class="muted">Add products to see recommendations.</li>';
    say('basket-source', '');
    return;
  }
  await load(
    byId('basket-recs'),
    () => api<Recommendation>('/v1/recommendations', { method: 'POST', ...json({ items: [...basket.keys()], k: 10, explain: true }) }),
    (r) => {
      say('basket-source', r.source);
      show('basket-recs', r.items, shopActions, 'No recommendations.', 'Because you added', r.recId);
    },
  );
}

async function productLists(): Promise<void> {
  if (!product) return;
  const id = encodeURIComponent(product.id);
  await Promise.all([
    load(
      byId('similar'),
      () => api<Recommendation>(`/v1/items/${id}/similar?k=8`),
      (r) => show('similar', r.items, (it) => addBtn(it) + stockBtn(it), 'No similar products.', undefined, r.recId),
    ),
    load(
      byId('bought-together'),
      () => api<Recommendation>(`/v1/items/${id}/bought-together?k=6`),
      (r) => {
        say('bought-together-source', r.source);
        show('bought-together', r.items, (it) => addBtn(it) + stockBtn(it), 'Nothing is bought together with it.', undefined, r.recId);
      },
    ),
  ]);
}

async function customerLists(): Promise<void> {
  if (!customer) return;
  const id = encodeURIComponent(customer);
  await Promise.all([
    // the recommendations and the history they are explained by change together (after a purchase)
    load(
      byId('customer-recs'),
      () =>
        Promise.all([
          api<Recommendation>(`/v1/users/${id}/recommendations?k=10&explain=true`),
          api<{ known: boolean; items: Item[] }>(`/v1/users/${id}/history`),
        ]),
      ([r, h]) => {
        say('customer-source', r.source);
        show(
          'customer-recs',
          r.items,
          (it) => buyBtn(it) + simBtn(it) + stockBtn(it),
          'No recommendations.',
          'Because you bought',
          r.recId,
        );
        renderList(
          byId('customer-history'),
          h.items.slice(0, 10),
          () => '',
          h.known ? 'No purchases recorded.' : 'Unknown customer: showing popular items.',
        );
      },
    ),
    load(
      byId('recent'),
      () => api<Recommendation>(`/v1/users/${id}/recent?k=8`),
      (r) => {
        say('recent-source', r.source);
        show(
          'recent',
          r.items,
          (it) => simBtn(it) + stockBtn(it),
          'No views yet: "Similar" on a product records a view.',
          undefined,
          r.recId,
        );
      },
    ),
  ]);
}

async function trending(): Promise<void> {
  await load(
    byId('trending'),
    () => api<Recommendation>('/v1/trending?k=8'),
    (r) => {
      say('trending-source', r.source);
      show('trending', r.items, shopActions, 'Nothing is trending.', undefined, r.recId);
    },
  );
}

async function categoryShelf(): Promise<void> {
  const c = byId<HTMLSelectElement>('category').value;
  if (!c) {
    byId('category-shelf').innerHTML = '<li class="muted">Choose a category.</li>';
    return;
  }
  await load(
    byId('category-shelf'),
    () => api<Recommendation>(`/v1/popular?k=8&category=${encodeURIComponent(c)}`),
    (r) => show('category-shelf', r.items, shopActions, `Nothing in stock in ${c}.`, undefined, r.recId),
  );
}

/** The placement's shelf: the customer's recommendations under its rules, or popular items before a lookup. */
async function featured(): Promise<void> {
  const path = customer
    ? `/v1/users/${encodeURIComponent(customer)}/recommendations?k=8&placement=${DEMO_PLACEMENT}`
    : `/v1/popular?k=8&placement=${DEMO_PLACEMENT}`;
  await load(
    byId('featured'),
    () => api<Recommendation>(path),
    (r) => {
      const p = r.placement;
      say('featured-source', `${r.source}${customer ? ` for ${customer}` : ''}`);
      say(
        'featured-rules',
        p
          ? `Rules of ${p.name}: ${p.boosts} boost${p.boosts === 1 ? '' : 's'} in force, ${p.pins} pinned item${p.pins === 1 ? '' : 's'}.`
          : '',
      );
      show('featured', r.items, shopActions, 'No products.', undefined, r.recId);
    },
    (e) => {
      if (!(e instanceof ApiError && e.code === 'placement_not_found')) return false;
      say('featured-source', '');
      say('featured-rules', '');
      byId('featured').innerHTML =
        `<li class="muted">The placement ${esc(DEMO_PLACEMENT)} does not exist yet: the operator creates it with the curl line under "Operator setup", then press Reload.</li>`;
      return true;
    },
  );
}

/** Products marked out of stock here, as the catalogue serves them now (those back in stock leave). */
async function outOfStockList(): Promise<void> {
  const el = byId('out-of-stock');
  await load(
    el,
    () =>
      Promise.all(
        [...outOfStock].map(([id, title]) =>
          api<ItemView>(`/v1/items/${encodeURIComponent(id)}`).catch(() => ({ id, title, available: false }) as Item),
        ),
      ),
    (items) => {
      const out = items.filter((it) => it.available === false);
      for (const it of items) if (it.available !== false) outOfStock.delete(it.id);
      saveOut();
      renderList(el, out, stockBtn, 'No product is marked out of stock from this page.');
    },
  );
}

/** Every list on the page, fetched again (after a stock change, a catalogue write, an event). */
async function refreshAll(): Promise<void> {
  await Promise.all([search(), basketRecs(), productLists(), customerLists(), trending(), categoryShelf(), featured(), outOfStockList()]);
}

async function setStock(id: string, title: string, available: boolean): Promise<void> {
  try {
    const r = await api<z.infer<typeof CatalogWrite>>('/v1/items', { method: 'PUT', ...json({ items: [{ id, available }] }, true) });
    if (available) outOfStock.delete(id);
    else outOfStock.set(id, title);
    saveOut();
    say(
      'stock-status',
      `${title} is ${available ? 'back in stock' : 'out of stock'} (catalogue change ${r.seq}); every list was fetched again.`,
    );
    await refreshAll();
  } catch (e) {
    sayError('stock-status', e);
  }
}

async function loadSampleCategories(): Promise<void> {
  try {
    const r = await api<z.infer<typeof CatalogWrite>>('/v1/items', { method: 'PUT', ...json({ items: DEMO_CATEGORIES }, true) });
    say('stock-status', `Set the category of ${DEMO_CATEGORIES.length} products (catalogue change ${r.seq}).`);
    await Promise.all([loadCategories(), refreshAll()]);
  } catch (e) {
    sayError('stock-status', e);
  }
}

async function lookupCustomer(ev?: Event): Promise<void> {
  ev?.preventDefault();
  customer = byId<HTMLInputElement>('customer').value.trim();
  await Promise.all([customerLists(), featured()]);
}

/** Where a product was shown: a recommendation answer's recId, the item's position in it and its price there. */
interface Shown {
  recId: string;
  position: number;
  price?: number;
}

/** The answer a clicked button's product card belongs to (none for search results and the back office). */
function shownAt(el: Element): Shown | undefined {
  const card = el.closest<HTMLElement>('li[data-rec-id]');
  const { recId, position, price } = card?.dataset ?? {};
  if (!recId || !position) return undefined;
  return { recId, position: Number(position), ...(price ? { price: Number(price) } : {}) };
}

/** A fresh event id (a retry of the same request would reuse it; the service counts it once). */
function newEventId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `demo-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

type EventType = 'view' | 'click' | 'add_to_cart' | 'purchase';

/**
 * An event of the customer about a product; a click, add-to-cart or purchase of a product shown in
 * a recommendation answer names the answer (recId) and the position, so it is attributed to it.
 */
function event(type: EventType, itemId: string, shown: Shown | undefined) {
  return {
    userId: customer,
    itemId,
    type,
    eventId: newEventId(),
    ...(shown && type !== 'view' ? { recId: shown.recId, position: shown.position } : {}),
    ...(type === 'purchase' ? { quantity: 1, ...(shown?.price !== undefined ? { price: shown.price } : {}) } : {}),
  };
}

/** Records events for the customer, says so, then fetches the lists they change. */
async function record(events: ReturnType<typeof event>[], said: string): Promise<void> {
  try {
    await api('/v1/events', { method: 'POST', ...json({ events }, true) });
    say('event-status', said);
    await Promise.all([customerLists(), featured(), trending()]);
  } catch (e) {
    sayError('event-status', e);
  }
}

const fromAnswer = (shown: Shown | undefined) => (shown ? ` (position ${shown.position} of answer ${shown.recId})` : '');

/** "Buy" as the looked-up customer: a purchase of one unit at the price shown. */
function buy(itemId: string, shown: Shown | undefined): Promise<void> {
  return record([event('purchase', itemId, shown)], `Recorded a purchase of ${itemId}${fromAnswer(shown)} for customer ${customer}.`);
}

/** "Add" with a customer looked up: their add-to-cart (the basket's recommendations follow either way). */
function addToCart(itemId: string, shown: Shown | undefined): Promise<void> {
  return record(
    [event('add_to_cart', itemId, shown)],
    `Recorded an add-to-cart of ${itemId}${fromAnswer(shown)} for customer ${customer}.`,
  );
}

async function viewProduct(id: string, title: string, shown: Shown | undefined): Promise<void> {
  product = { id, title };
  say('similar-title', title);
  say('bought-together-title', title);
  const tasks = [productLists()];
  // opening a product shown in an answer is a click on the answer, then a view of the product
  if (customer && apiKey())
    tasks.push(
      record(
        [...(shown ? [event('click', id, shown)] : []), event('view', id, undefined)],
        `Recorded a ${shown ? 'click and a ' : ''}view of ${id}${fromAnswer(shown)} for customer ${customer}.`,
      ),
    );
  else if (customer) say('event-status', `Paste the API key to record views for customer ${customer}.`);
  await Promise.all(tasks);
}

document.addEventListener('click', (ev) => {
  const t = (ev.target as Element | null)?.closest('button');
  if (!t) return;
  const d = t.dataset;
  if (d.add) {
    basket.set(d.add, d.title ?? d.add);
    void basketRecs().then(search);
    if (customer && apiKey()) void addToCart(d.add, shownAt(t));
  } else if (d.remove) {
    basket.delete(d.remove);
    void basketRecs().then(search);
  } else if (d.similar) void viewProduct(d.similar, d.title ?? d.similar, shownAt(t));
  else if (d.buy && customer) void buy(d.buy, shownAt(t));
  else if (d.stock) void setStock(d.stock, d.title ?? d.stock, d.available === 'true');
});
let timer: ReturnType<typeof setTimeout> | undefined;
byId('q').addEventListener('input', () => {
  clearTimeout(timer);
  timer = setTimeout(search, 150);
});
byId('include-oos').addEventListener('change', () => void search());
byId('category').addEventListener('change', () => void categoryShelf());
byId('customer-form').addEventListener('submit', lookupCustomer);
byId('featured-reload').addEventListener('click', () => void featured());
byId('sample-categories').addEventListener('click', () => void loadSampleCategories());
void loadModel();
void loadCategories();
void refreshAll();
for (const el of document.querySelectorAll<HTMLElement>('[data-origin]')) el.textContent = location.origin;
