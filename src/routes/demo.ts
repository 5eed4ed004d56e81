/**
 * Demo storefront at `/`: catalogue search, a basket with live session recommendations, customer
 * lookup, similar products, and the active model's facts. One self-contained page (no build step,
 * no CDN): plain HTML with a small script that calls the public API.
 */
import { Hono } from 'hono';
import { html, raw } from 'hono/html';
import type { AppEnv } from '../context';

export const demo = new Hono<AppEnv>();

const STYLE = `
:root{--fg:#1d2330;--muted:#5b6475;--line:#dde1e8;--accent:#0b6e4f;--bg:#f7f8fa}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line);padding:.8rem 1.2rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:baseline}
header h1{font-size:1.2rem;margin:0}#model-info{color:var(--muted);font-size:.85rem}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1rem;padding:1rem 1.2rem}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:.8rem 1rem}
h2{font-size:1rem;margin:.2rem 0 .6rem}label{display:block;font-weight:600;margin-bottom:.25rem}
input[type=search],input[type=text],input[type=password]{width:100%;padding:.45rem .55rem;border:1px solid #b9c0cc;border-radius:6px;font:inherit}
ol,ul{padding-left:1.3rem;margin:.3rem 0}li{margin:.25rem 0}
button{font:inherit;font-size:.8rem;padding:.15rem .5rem;margin-left:.3rem;border:1px solid #b9c0cc;border-radius:5px;background:#fff;cursor:pointer}
button:hover,button:focus{border-color:var(--accent)}.score{color:var(--muted);font-variant-numeric:tabular-nums;font-size:.8rem}
.tag{display:inline-block;font-size:.75rem;padding:0 .4rem;border-radius:4px;background:#e6f2ee;color:var(--accent)}
.muted{color:var(--muted)}.error{color:#a11}
`;

const SCRIPT = `
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
const basket = new Map();
async function api(path, init) {
  const res = await fetch(path, init);
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ? body.error.code + ': ' + body.error.message : res.statusText);
  return body;
}
function itemRow(it, actions) {
  const score = it.score !== undefined ? ' <span class="score">' + it.score.toFixed(3) + '</span>' : '';
  return '<li data-id="' + esc(it.id) + '"><span class="title">' + esc(it.title || it.id) + '</span> <span class="muted">' + esc(it.id) + '</span>' + score + actions(it) + '</li>';
}
const addBtn = (it) => basket.has(it.id) ? '' : ' <button type="button" data-add="' + esc(it.id) + '" data-title="' + esc(it.title) + '">Add</button>';
const simBtn = (it) => ' <button type="button" data-similar="' + esc(it.id) + '" data-title="' + esc(it.title) + '">Similar</button>';
const buyBtn = (it) => ' <button type="button" data-buy="' + esc(it.id) + '">Buy</button>';
function renderList(el, items, actions, empty) {
  el.innerHTML = items.length ? items.map((it) => itemRow(it, actions)).join('') : '<li class="muted">' + esc(empty) + '</li>';
}
async function loadModel() {
  try {
    const m = await api('/v1/model');
    const metrics = m.metrics ? ' · NDCG@100 ' + m.metrics.model['ndcg@100'].toFixed(3) + ', Recall@20 ' + m.metrics.model['recall@20'].toFixed(3) + ' (popularity ' + m.metrics.popularity['ndcg@100'].toFixed(3) + ')' : '';
    const refresh = m.lastRefresh ? ' · last refresh: ' + m.lastRefresh.outcome + (m.lastRefresh.reason ? ' (' + m.lastRefresh.reason + ')' : '') + ' at ' + m.lastRefresh.at : ' · no refresh yet';
    $('model-info').textContent = 'Model ' + m.version + ' (' + m.source + ') · trained ' + m.trainedAt + ' · ' + m.itemCount + ' items × ' + m.dims + ' dims' + metrics + refresh;
  } catch (e) { $('model-info').innerHTML = '<span class="error">' + esc(e.message) + '</span>'; }
}
let searchSeq = 0;
async function search() {
  const seq = ++searchSeq;
  const q = $('q').value.trim();
  const r = await api('/v1/items?limit=12&q=' + encodeURIComponent(q));
  if (seq !== searchSeq) return;
  renderList($('results'), r.items, (it) => addBtn(it) + simBtn(it), 'No product matches "' + q + '".');
}
async function refreshBasket() {
  renderList($('basket'), [...basket].map(([id, title]) => ({ id, title })), (it) => ' <button type="button" data-remove="' + esc(it.id) + '">Remove</button>', 'Your basket is empty.');
  if (!basket.size) { $('basket-recs').innerHTML = '<li class="muted">Add products to see recommendations.</li>'; $('basket-source').textContent = ''; return; }
  try {
    const r = await api('/v1/recommendations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ items: [...basket.keys()], k: 10 }) });
    $('basket-source').textContent = r.source;
    renderList($('basket-recs'), r.items, (it) => addBtn(it) + simBtn(it), 'No recommendations.');
  } catch (e) { $('basket-recs').innerHTML = '<li class="error">' + esc(e.message) + '</li>'; }
  search();
}
async function showSimilar(id, title) {
  $('similar-title').textContent = title || id;
  const r = await api('/v1/items/' + encodeURIComponent(id) + '/similar?k=8');
  renderList($('similar'), r.items, (it) => addBtn(it), 'No similar products.');
}
async function lookupCustomer(ev) {
  ev.preventDefault();
  const id = $('customer').value.trim();
  if (!id) return;
  try {
    const [recs, hist] = await Promise.all([api('/v1/users/' + encodeURIComponent(id) + '/recommendations?k=10'), api('/v1/users/' + encodeURIComponent(id) + '/history')]);
    $('customer-source').textContent = recs.source;
    renderList($('customer-recs'), recs.items, (it) => buyBtn(it) + simBtn(it), 'No recommendations.');
    renderList($('customer-history'), hist.items.slice(0, 10), () => '', hist.known ? 'No purchases recorded.' : 'Unknown customer: showing popular items.');
  } catch (e) { $('customer-recs').innerHTML = '<li class="error">' + esc(e.message) + '</li>'; }
}
async function buy(itemId) {
  const id = $('customer').value.trim();
  const key = $('api-key').value.trim();
  try {
    await api('/v1/events', { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + key }, body: JSON.stringify({ userId: id, itemId, type: 'purchase' }) });
    $('event-status').textContent = 'Recorded a purchase of ' + itemId + ' for customer ' + id + '.';
    await lookupCustomer(new Event('submit'));
  } catch (e) { $('event-status').innerHTML = '<span class="error">' + esc(e.message) + '</span>'; }
}
document.addEventListener('click', (ev) => {
  const t = ev.target.closest('button');
  if (!t) return;
  if (t.dataset.add) { basket.set(t.dataset.add, t.dataset.title); refreshBasket(); }
  else if (t.dataset.remove) { basket.delete(t.dataset.remove); refreshBasket(); }
  else if (t.dataset.similar) showSimilar(t.dataset.similar, t.dataset.title);
  else if (t.dataset.buy) buy(t.dataset.buy);
});
let timer;
$('q').addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(search, 150); });
$('customer-form').addEventListener('submit', lookupCustomer);
loadModel(); search(); refreshBasket();
`;

demo.get('/', (c) =>
  c.html(html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Edge recommendations — demo store</title><style>${raw(STYLE)}</style></head>
<body>
<header><h1>Demo store · edge recommendations</h1><p id="model-info" aria-live="polite">Loading model…</p>
<nav><a href="/docs">API docs</a> · <a href="/openapi.json">OpenAPI</a></nav></header>
<main>
<section aria-labelledby="h-search"><h2 id="h-search">Find products</h2>
<label for="q">Search the catalogue</label><input id="q" type="search" placeholder="e.g. heart holder, lunch bag" autocomplete="off">
<ol id="results" aria-live="polite"></ol></section>
<section aria-labelledby="h-basket"><h2 id="h-basket">Basket</h2><ul id="basket"></ul>
<h2>Recommended for this basket <span id="basket-source" class="tag"></span></h2><ol id="basket-recs" aria-live="polite"></ol></section>
<section aria-labelledby="h-similar"><h2 id="h-similar">Similar to <span id="similar-title">…</span></h2>
<p class="muted">Use "Similar" on any product.</p><ol id="similar" aria-live="polite"></ol></section>
<section aria-labelledby="h-customer"><h2 id="h-customer">Customer</h2>
<form id="customer-form"><label for="customer">Customer id</label><input id="customer" type="text" placeholder="e.g. 17850" inputmode="numeric">
<button type="submit">Look up</button>
<label for="api-key">API key (to send events)</label><input id="api-key" type="password" autocomplete="off" placeholder="API_KEY from .dev.vars"></form>
<p id="event-status" class="muted" aria-live="polite">"Buy" records a purchase event; the recommendations update at once.</p>
<h2>Recommended <span id="customer-source" class="tag"></span></h2><ol id="customer-recs" aria-live="polite"></ol>
<h2>Bought before</h2><ol id="customer-history"></ol></section>
</main>
<script type="module">${raw(SCRIPT)}</script>
</body></html>`),
);
