/**
 * The demo store's behaviour in the browser (bundled by scripts/build.ts into /assets/demo.js):
 * search, basket with session recommendations, similar items, customer lookup, and purchase
 * events sent with a pasted API key. It only calls the public API.
 */
import type { Recommendation } from '../../schemas';
import { api, byId, esc, type Item, renderList } from './lib/dom';

const basket = new Map<string, string>();

const addBtn = (it: Item) =>
  basket.has(it.id) ? '' : ` <button type="button" data-add="${esc(it.id)}" data-title="${esc(it.title)}">Add</button>`;
const simBtn = (it: Item) => ` <button type="button" data-similar="${esc(it.id)}" data-title="${esc(it.title)}">Similar</button>`;
const buyBtn = (it: Item) => ` <button type="button" data-buy="${esc(it.id)}">Buy</button>`;

interface ModelInfo {
  version: string;
  source: string;
  trainedAt: string;
  itemCount: number;
  dims: number;
  metrics: { model: Record<string, number>; popularity: Record<string, number> } | null;
  lastRefresh: { outcome: string; reason: string | null; at: string } | null;
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
  } catch (e) {
    byId('model-info').innerHTML = `<span class="error">${esc((e as Error).message)}</span>`;
  }
}

let searchSeq = 0;
async function search(): Promise<void> {
  const seq = ++searchSeq;
  const q = byId<HTMLInputElement>('q').value.trim();
  const r = await api<{ items: Item[] }>(`/v1/items?limit=12&q=${encodeURIComponent(q)}`);
  if (seq !== searchSeq) return;
  renderList(byId('results'), r.items, (it) => addBtn(it) + simBtn(it), `No product matches "${q}".`);
}

async function refreshBasket(): Promise<void> {
  renderList(
    byId('basket'),
    [...basket].map(([id, title]) => ({ id, title })),
    (it) => ` <button type="button" data-remove="${esc(it.id)}">Remove</button>`,
    'Your basket is empty.',
  );
  if (!basket.size) {
    byId('basket-recs').innerHTML = '<li class="muted">Add products to see recommendations.</li>';
    byId('basket-source').textContent = '';
    return;
  }
  try {
    const r = await api<Recommendation>('/v1/recommendations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: [...basket.keys()], k: 10 }),
    });
    byId('basket-source').textContent = r.source;
    renderList(byId('basket-recs'), r.items, (it) => addBtn(it) + simBtn(it), 'No recommendations.');
  } catch (e) {
    byId('basket-recs').innerHTML = `<li class="error">${esc((e as Error).message)}</li>`;
  }
  void search();
}

async function showSimilar(id: string, title: string | undefined): Promise<void> {
  byId('similar-title').textContent = title || id;
  const r = await api<Recommendation>(`/v1/items/${encodeURIComponent(id)}/similar?k=8`);
  renderList(byId('similar'), r.items, (it) => addBtn(it), 'No similar products.');
}

async function lookupCustomer(ev?: Event): Promise<void> {
  ev?.preventDefault();
  const id = byId<HTMLInputElement>('customer').value.trim();
  if (!id) return;
  try {
    const [recs, hist] = await Promise.all([
      api<Recommendation>(`/v1/users/${encodeURIComponent(id)}/recommendations?k=10`),
      api<{ known: boolean; items: Item[] }>(`/v1/users/${encodeURIComponent(id)}/history`),
    ]);
    byId('customer-source').textContent = recs.source;
    renderList(byId('customer-recs'), recs.items, (it) => buyBtn(it) + simBtn(it), 'No recommendations.');
    renderList(
      byId('customer-history'),
      hist.items.slice(0, 10),
      () => '',
      hist.known ? 'No purchases recorded.' : 'Unknown customer: showing popular items.',
    );
  } catch (e) {
    byId('customer-recs').innerHTML = `<li class="error">${esc((e as Error).message)}</li>`;
  }
}

async function buy(itemId: string): Promise<void> {
  const id = byId<HTMLInputElement>('customer').value.trim();
  const key = byId<HTMLInputElement>('api-key').value.trim();
  try {
    await api('/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ userId: id, itemId, type: 'purchase' }),
    });
    byId('event-status').textContent = `Recorded a purchase of ${itemId} for customer ${id}.`;
    await lookupCustomer();
  } catch (e) {
    byId('event-status').innerHTML = `<span class="error">${esc((e as Error).message)}</span>`;
  }
}

document.addEventListener('click', (ev) => {
  const t = (ev.target as Element | null)?.closest('button');
  if (!t) return;
  const d = t.dataset;
  if (d.add) {
    basket.set(d.add, d.title ?? d.add);
    void refreshBasket();
  } else if (d.remove) {
    basket.delete(d.remove);
    void refreshBasket();
  } else if (d.similar) void showSimilar(d.similar, d.title);
  else if (d.buy) void buy(d.buy);
});
let timer: ReturnType<typeof setTimeout> | undefined;
byId('q').addEventListener('input', () => {
  clearTimeout(timer);
  timer = setTimeout(search, 150);
});
byId('customer-form').addEventListener('submit', lookupCustomer);
void loadModel();
void search();
void refreshBasket();
