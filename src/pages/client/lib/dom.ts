/** Small typed helpers the page scripts share: element lookup, escaping, API calls, product cards. */

/**
 * A product as the answers show it: recommendation items (schemas.ts RecommendedItem), search
 * results (CatalogItem) and catalogue reads (ItemView) all fit; each field is shown when present.
 */
export interface Item {
  id: string;
  title?: string;
  score?: number;
  /** place in a recommendation answer, from 1 */
  position?: number;
  price?: number;
  currency?: string;
  category?: string;
  available?: boolean;
  new?: true;
  pinned?: true;
  boosted?: true;
  exploration?: true;
  because?: readonly { id: string; title: string }[];
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`no element #${id}`);
  return el as T;
}

export const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A refused API call: the answer's error code (e.g. `placement_not_found`) and message. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** Calls the API; a non-2xx answer throws an ApiError with its `code: message`. */
export async function api<T = unknown>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, init);
  const body = (await res.json()) as T & { error?: { code: string; message: string } };
  if (!res.ok) throw body.error ? new ApiError(body.error.code, body.error.message) : new Error(res.statusText);
  return body;
}

/** A button whose `data-*` attributes say what it does; `label` names the product for screen readers. */
export function button(data: Record<string, string>, text: string, label: string): string {
  const attrs = Object.entries(data)
    .map(([k, v]) => ` data-${k}="${esc(v)}"`)
    .join('');
  return ` <button type="button"${attrs} aria-label="${esc(label)}">${esc(text)}</button>`;
}

/** A price as the shop would print it: with its currency when the catalogue gives one. */
export function formatPrice(price: number, currency?: string): string {
  if (currency) {
    try {
      return new Intl.NumberFormat('en-GB', { style: 'currency', currency }).format(price);
    } catch {
      return `${price.toFixed(2)} ${currency}`;
    }
  }
  return price.toFixed(2);
}

const badge = (cls: string, text: string, why: string) => `<span class="badge ${cls}" title="${esc(why)}">${esc(text)}</span>`;

/** What the answer says about a product beside its title: price, category, stock, merchandising marks. */
function facts(it: Item): string {
  const out: string[] = [];
  if (it.price !== undefined)
    out.push(`<span class="price"><span class="sr-only">Price </span>${esc(formatPrice(it.price, it.currency))}</span>`);
  if (it.category) out.push(`<span class="category"><span class="sr-only">Category </span>${esc(it.category)}</span>`);
  if (it.available === false) out.push(badge('out', 'Out of stock', 'the catalogue marks it unavailable'));
  else if (it.available === true) out.push('<span class="stock">In stock</span>');
  if (it.pinned) out.push(badge('pinned', 'Pinned', "placed at this position by the placement's pin"));
  if (it.boosted) out.push(badge('boosted', 'Boosted', "its score was raised by the placement's boost"));
  if (it.new) out.push(badge('new', 'New', 'a catalogue product the model does not know yet'));
  if (it.exploration) out.push(badge('new', 'Exploring', "a new product in one of the placement's exploration slots"));
  return out.length ? `<div class="facts">${out.join(' ')}</div>` : '';
}

/**
 * One product card; `because` labels the explanation line ("Because you bought") when the item has
 * one. A card of a recommendation answer carries the answer's `recId`, the item's position and its
 * price as shown (`data-rec-id`, `data-position`, `data-price`): events about it name the answer.
 */
export function itemRow(it: Item, actions: (it: Item) => string, because?: string, recId?: string): string {
  const score = it.score !== undefined ? ` <span class="score">${it.score.toFixed(3)}</span>` : '';
  const why =
    because && it.because?.length
      ? `<p class="because">${esc(because)}: ${it.because.map((b) => `<span data-because="${esc(b.id)}">${esc(b.title)}</span>`).join(', ')}</p>`
      : '';
  const acts = actions(it);
  const shown =
    recId !== undefined && it.position !== undefined
      ? ` data-rec-id="${esc(recId)}" data-position="${it.position}"${it.price !== undefined ? ` data-price="${it.price}"` : ''}`
      : '';
  return `<li data-id="${esc(it.id)}"${shown} class="card${it.available === false ? ' unavailable' : ''}"><div><span class="title">${esc(it.title || it.id)}</span> <span class="muted">${esc(it.id)}</span>${score}</div>${facts(it)}${why}${acts ? `<div class="actions">${acts}</div>` : ''}</li>`;
}

/** Renders products as cards (`recId`: the recommendation answer they come from). */
export function renderList(
  el: HTMLElement,
  items: readonly Item[],
  actions: (it: Item) => string,
  empty: string,
  because?: string,
  recId?: string,
): void {
  el.innerHTML = items.length ? items.map((it) => itemRow(it, actions, because, recId)).join('') : `<li class="muted">${esc(empty)}</li>`;
}

const errorRow = (e: unknown): string => `<li class="error">${esc(e instanceof Error ? e.message : String(e))}</li>`;

const latest = new WeakMap<HTMLElement, number>();

/**
 * Fills a list from an API call: only the latest call for an element renders (a slower earlier
 * answer never overwrites a newer one), errors show in the list, and `aria-busy` marks the wait.
 */
export async function load<T>(
  el: HTMLElement,
  fetcher: () => Promise<T>,
  show: (r: T) => void,
  onError?: (e: unknown) => boolean,
): Promise<void> {
  const seq = (latest.get(el) ?? 0) + 1;
  latest.set(el, seq);
  el.setAttribute('aria-busy', 'true');
  try {
    const r = await fetcher();
    if (latest.get(el) === seq) show(r);
  } catch (e) {
    if (latest.get(el) === seq && !onError?.(e)) el.innerHTML = errorRow(e);
  } finally {
    if (latest.get(el) === seq) el.removeAttribute('aria-busy');
  }
}
