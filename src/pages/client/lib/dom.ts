/** Small typed helpers the page scripts share: element lookup, escaping, API calls, item lists. */

export interface Item {
  id: string;
  title?: string;
  score?: number;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`no element #${id}`);
  return el as T;
}

export const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Calls the API; a non-2xx answer throws its `code: message`. */
export async function api<T = unknown>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, init);
  const body = (await res.json()) as T & { error?: { code: string; message: string } };
  if (!res.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : res.statusText);
  return body;
}

export function itemRow(it: Item, actions: (it: Item) => string): string {
  const score = it.score !== undefined ? ` <span class="score">${it.score.toFixed(3)}</span>` : '';
  return `<li data-id="${esc(it.id)}"><span class="title">${esc(it.title || it.id)}</span> <span class="muted">${esc(it.id)}</span>${score}${actions(it)}</li>`;
}

export function renderList(el: HTMLElement, items: readonly Item[], actions: (it: Item) => string, empty: string): void {
  el.innerHTML = items.length ? items.map((it) => itemRow(it, actions)).join('') : `<li class="muted">${esc(empty)}</li>`;
}
