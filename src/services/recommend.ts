/**
 * Recommendation logic as plain functions over one shelf (never a Hono Context): personalised
 * top-k for a known user, session/basket fold-in, similar items, candidate scoring, popular
 * fallbacks and title search. Every function uses a single model version from start to end, and
 * the catalogue's filters and the placement's rules apply to every answer.
 */
import type { WeightedItem } from '@edge-recs/core/foldin';
import type { Scored } from '@edge-recs/core/topk';
import { categoriesOf } from '../models/live-catalog';
import type { ServingModel } from '../models/model';
import type { Answer, Source } from '../schemas';
import { because, blendedScores, rank } from './blend';
import {
  arrange,
  candidatesFor,
  contentMatcher,
  contentOf,
  type Entry,
  entries,
  newItemsFor,
  placementSummary,
  present,
  type Shelf,
} from './shelf';
import type { UserRecord } from './users';

export type { Answer };

async function answer(shelf: Shelf, source: Source, list: Entry[], extra: Partial<Answer> = {}): Promise<Answer> {
  const placement = placementSummary(shelf, list);
  return { model: shelf.model.version, source, items: await present(shelf, list), ...(placement ? { placement } : {}), ...extra };
}

/**
 * Share of training users who interacted with each popular item, passing the filter, highest
 * first — after the placement's boosts, which may lift an item from anywhere in the popular list.
 */
function popularEntries(shelf: Shelf, k: number, exclude: ReadonlySet<number>): Entry[] {
  const users = Math.max(1, shelf.model.manifest.userCount);
  const { items, counts } = shelf.model.catalog.popular;
  const plan = shelf.plan;
  const out: Entry[] = [];
  for (let j = 0; j < items.length && (plan || out.length < k); j++) {
    const i = items[j];
    if (exclude.has(i) || shelf.excluded.has(i) || !shelf.filter.passes(i)) continue;
    const c = plan ? plan.classes[i] : 1;
    if (c === 0) continue;
    const share = counts[j] / users;
    out.push({ index: i, id: shelf.model.ids.id(i), score: plan ? share * plan.transforms[2 * c] + plan.transforms[2 * c + 1] : share });
  }
  if (plan) out.sort((a, b) => b.score - a.score || (a.index ?? 0) - (b.index ?? 0));
  return out.slice(0, k);
}

/**
 * The most popular items that pass the filter, with new catalogue items (the model does not know
 * them yet) at every fourth position — and in every place the known items leave empty — so a
 * product added this morning is sellable at once.
 */
export async function popular(shelf: Shelf, k: number, exclude: ReadonlySet<number> = new Set()): Promise<Answer> {
  const known = popularEntries(shelf, k, exclude);
  // a quarter of the places for new items, and every place the known items leave empty (a new category)
  const fresh = await newItemsFor(shelf, Math.max(Math.floor(k / 4), k - known.length), []);
  const list = known.slice(0, k - fresh.length);
  fresh.forEach((e, j) => {
    list.splice(Math.min(list.length, 4 * (j + 1) - 1), 0, e);
  });
  return answer(shelf, 'popular', await arrange(shelf, list, k));
}

/** The newest catalogue items that pass the filter (a placement's `fallback: "new"`). */
export async function newest(shelf: Shelf, k: number): Promise<Answer> {
  return answer(shelf, 'new', await arrange(shelf, await newItemsFor(shelf, k, []), k));
}

/** What an unknown user gets: the placement's fallback (popular by default). */
export async function fallback(shelf: Shelf, k: number, exclude: ReadonlySet<number> = new Set()): Promise<Answer> {
  if (shelf.placement?.fallback === 'new') return newest(shelf, k);
  return popular(shelf, k, exclude);
}

/** Ids of the items a user or basket is about, strongest first (for exploration and explanations). */
function contextIds(model: ServingModel, items: ArrayLike<number>, strengths: ArrayLike<number>): string[] {
  return Array.from(items, (i, j) => ({ i, s: strengths[j] }))
    .sort((a, b) => b.s - a.s)
    .slice(0, 20)
    .map(({ i }) => model.ids.id(i));
}

/** The user's history as the basket the blend and the explanations work from. */
const historyBasket = (user: UserRecord): WeightedItem[] => Array.from(user.items, (index, j) => ({ index, strength: user.strengths[j] }));

/** Adds to each model item of a list the basket items that contribute most to its score. */
async function explain(shelf: Shelf, basket: readonly WeightedItem[], list: Entry[]): Promise<Entry[]> {
  const indices = list.filter((e) => e.index !== undefined).map((e) => e.index as number);
  const reasons = await because(shelf.model, basket, indices);
  return list.map((e) => (e.index !== undefined && reasons.get(e.index)?.length ? { ...e, because: reasons.get(e.index) } : e));
}

export interface ListOptions {
  /** add `because` to each item: the history or basket items behind it */
  explain?: boolean;
}

export async function forUser(
  shelf: Shelf,
  user: UserRecord | null,
  k: number,
  excludePurchased: boolean,
  opts: ListOptions = {},
): Promise<Answer> {
  if (!user) return fallback(shelf, k);
  const exclude = new Set<number>([...shelf.excluded, ...(excludePurchased ? user.items : [])]);
  const basket = historyBasket(user);
  const scored = await rank(shelf.model, user.vector, basket, candidatesFor(shelf, k), exclude, shelf.plan);
  const context = contextIds(shelf.model, user.items, user.strengths);
  let list = await arrange(shelf, entries(shelf, scored), k, (n, taken) => newItemsFor(shelf, n, context, taken));
  if (opts.explain) list = await explain(shelf, basket, list);
  return answer(shelf, 'personalized', list);
}

/** Splits request item ids into known model indices (with summed strengths), new catalogue items and unknown ids. */
export function resolveItems(
  model: ServingModel,
  ids: readonly string[],
  strengths?: readonly number[],
): { items: WeightedItem[]; unknown: string[] } {
  const byIndex = new Map<number, number>();
  const unknown: string[] = [];
  ids.forEach((id, j) => {
    const index = model.ids.indexOf(id);
    if (index === undefined) {
      if (!unknown.includes(id)) unknown.push(id);
    } else byIndex.set(index, (byIndex.get(index) ?? 0) + (strengths?.[j] ?? 1));
  });
  return { items: [...byIndex].map(([index, strength]) => ({ index, strength })), unknown };
}

/** The transient user vector of a basket/session: the ALS user step over the given items. */
export function sessionVector(model: ServingModel, items: readonly WeightedItem[]): Float32Array {
  return model.foldIn(items);
}

export async function forBasket(
  shelf: Shelf,
  ids: readonly string[],
  k: number,
  excludeGiven: boolean,
  strengths?: readonly number[],
  opts: ListOptions = {},
): Promise<Answer> {
  const { model } = shelf;
  const { items, unknown } = resolveItems(model, ids, strengths);
  // ids the model does not know are ignored for scoring; new catalogue items among them still
  // inform exploration
  const extra = unknown.length ? { ignoredItems: unknown } : {};
  if (items.length === 0) {
    // Nothing the model can score: a basket of new catalogue items is answered by what their
    // titles and categories relate to (as `similar` does for one new item), then the fallback.
    const given = new Set(ids);
    const left = excludeGiven ? given : new Set<string>();
    const seeds = (await contentOf(shelf, unknown)).filter((c) => c.title || c.categories.length).map((c) => c.id);
    const related = seeds.length ? await contentNeighbours(shelf, seeds, k, left) : [];
    if (related.length) {
      // then what the placement falls back to (popular, or the newest items), after the related ones
      const listed = new Set([...related.map((e) => e.id), ...left]);
      const rest = shelf.placement?.fallback === 'new' ? await newItemsFor(shelf, k, []) : popularEntries(shelf, k, new Set());
      const list = [...related, ...rest.filter((e) => !listed.has(e.id)).map((e) => ({ ...e, score: 0 }))];
      const explore = (n: number, t: Set<string>) => newItemsFor(shelf, n, ids, new Set([...t, ...left]));
      return answer(shelf, 'session', await arrange(shelf, list, k, explore), extra);
    }
    const fresh = await newItemsFor(shelf, Math.min(k, shelf.placement?.explorationSlots ?? 0), ids, given);
    const base = await fallback(shelf, k);
    return {
      ...base,
      ...extra,
      items: fresh.length
        ? [...(await present(shelf, fresh)), ...base.items].slice(0, k).map((it, j) => ({ ...it, position: j + 1 }))
        : base.items,
    };
  }
  const exclude = new Set<number>([...shelf.excluded, ...(excludeGiven ? items.map((x) => x.index) : [])]);
  const scored = await rank(model, sessionVector(model, items), items, candidatesFor(shelf, k), exclude, shelf.plan);
  const taken = new Set(excludeGiven ? ids : []);
  let list = await arrange(shelf, entries(shelf, scored), k, (n, t) => newItemsFor(shelf, n, ids, new Set([...t, ...taken])));
  if (opts.explain) list = await explain(shelf, items, list);
  return answer(shelf, 'session', list, extra);
}

/**
 * Items related by content alone to `seeds` (items the model cannot score yet; the first 20):
 * the model's popular items (titles at hand) by their best content score against any seed, with
 * a hair of popularity to order ties and the placement's boosts applied as in any other list,
 * and the new catalogue items most related to the seeds; best first, `taken` ids left out.
 */
async function contentNeighbours(shelf: Shelf, seedIds: readonly string[], k: number, taken: ReadonlySet<string>): Promise<Entry[]> {
  const { model } = shelf;
  const ids = seedIds.slice(0, 20);
  const match = contentMatcher(await contentOf(shelf, ids));
  const related = (await newItemsFor(shelf, k, match, new Set(taken))).filter((e) => e.score > 0);
  const { items, titles, counts } = model.catalog.popular;
  const plan = shelf.plan;
  const candidates: Entry[] = [];
  const users = Math.max(1, model.manifest.userCount);
  for (let j = 0; j < items.length; j++) {
    const i = items[j];
    if (shelf.excluded.has(i) || !shelf.filter.passes(i) || taken.has(model.ids.id(i))) continue;
    const c = plan ? plan.classes[i] : 1;
    if (c === 0) continue;
    const codes = shelf.binding.categoryCodes(i);
    const cats = Array.from(codes, (code) => shelf.binding.categories.name(code) ?? '');
    const content = match({ title: titles[j], categories: cats });
    if (content <= 0.01) continue;
    const score = content + counts[j] / users / 100;
    candidates.push({ index: i, id: model.ids.id(i), score: plan ? score * plan.transforms[2 * c] + plan.transforms[2 * c + 1] : score });
  }
  return [...candidates, ...related].sort((a, b) => b.score - a.score);
}

/**
 * Items related to `id`: for an item the model knows, its factors' cosine neighbours, with new
 * catalogue items that share its category and title words merged in by their content score; for
 * a new item, content similarity alone (its category and title against the model's popular items
 * and the other new items).
 */
export async function similar(shelf: Shelf, id: string, k: number): Promise<Answer> {
  const { model } = shelf;
  const index = model.ids.indexOf(id);
  if (index === undefined) return answer(shelf, 'similar', await arrange(shelf, await contentNeighbours(shelf, [id], k, new Set([id])), k));
  // new catalogue items picked by how much they resemble it (not the k newest, then scored)
  const related = await newItemsFor(shelf, k, [id], new Set([id]));
  const scored: Scored[] = model.scorer
    .similar(index, candidatesFor(shelf, k) + shelf.excluded.size, shelf.plan ?? undefined)
    .filter((s) => !shelf.excluded.has(s.index));
  const list = [...entries(shelf, scored), ...related.filter((e) => e.score >= 0.3)];
  list.sort((a, b) => b.score - a.score);
  return answer(shelf, 'similar', await arrange(shelf, list, k));
}

/**
 * Scores for the caller's candidates in the given order. Candidates that fail the filter are
 * marked (`filteredOut`), not dropped; boosts apply; new catalogue items are listed with score 0;
 * ids neither the model nor the catalogue knows are reported in ignoredItems.
 */
export async function scoreCandidates(
  shelf: Shelf,
  vector: Float32Array | null,
  basket: readonly WeightedItem[],
  source: Source,
  candidates: readonly string[],
): Promise<Answer> {
  const { model } = shelf;
  const list: Entry[] = [];
  const unknown: string[] = [];
  const known: number[] = [];
  for (const id of candidates) {
    const index = model.ids.indexOf(id);
    if (index !== undefined) known.push(index);
    else if (shelf.binding.newItems.has(id)) list.push({ id, score: 0 });
    else if (!unknown.includes(id)) unknown.push(id);
  }
  const users = Math.max(1, model.manifest.userCount);
  const info = vector ? null : await model.catalog.describe(known);
  const dots = vector ? await blendedScores(model, vector, basket, known) : null;
  const scored = new Map<number, Entry>();
  known.forEach((index, j) => {
    let score = dots ? dots[j] : (info?.[j].count ?? 0) / users;
    const c = shelf.plan?.classes[index] ?? 1;
    if (shelf.plan && c > 0) score = score * shelf.plan.transforms[2 * c] + shelf.plan.transforms[2 * c + 1];
    const why = shelf.filter.whyNot(index, model.ids.id(index));
    scored.set(index, { index, id: model.ids.id(index), score, ...(why ? { filteredOut: why } : {}) });
  });
  const ordered: Entry[] = [];
  for (const id of candidates) {
    const index = model.ids.indexOf(id);
    const e = index !== undefined ? scored.get(index) : list.find((x) => x.id === id);
    if (e) ordered.push({ ...e });
  }
  const rec = await answer(shelf, vector ? source : 'popular', ordered);
  if (unknown.length) rec.ignoredItems = unknown;
  return rec;
}

/**
 * Catalogue search: every query word must appear in the title or id. Covers the model's most
 * popular items (catalog/popular.json, up to 10,000) and the new catalogue items; filters apply;
 * most popular first, new items after.
 */
export async function searchCatalog(
  shelf: Shelf,
  query: string,
  limit: number,
): Promise<{ id: string; title: string; popularity: number }[]> {
  const { model } = shelf;
  const words = query.toUpperCase().split(/\s+/).filter(Boolean);
  const { items, titles, counts } = model.catalog.popular;
  const hits: { index?: number; id: string; title: string; popularity: number }[] = [];
  for (let j = 0; j < items.length && hits.length < limit; j++) {
    const id = model.ids.id(items[j]);
    if (!shelf.filter.passes(items[j]) || shelf.excluded.has(items[j])) continue;
    if (words.every((w) => `${titles[j]} ${id}`.toUpperCase().includes(w)))
      hits.push({ index: items[j], id, title: titles[j], popularity: model.popularityShare(counts[j]) ?? 0 });
  }
  for (const r of shelf.binding.newItems.values()) {
    if (hits.length >= limit) break;
    if (shelf.filter.recordWhyNot(r) !== null) continue;
    if (words.every((w) => `${r.title ?? ''} ${r.id} ${categoriesOf(r).join(' ')}`.toUpperCase().includes(w)))
      hits.push({ id: r.id, title: r.title ?? '', popularity: 0 });
  }
  const records = await shelf.view.records(hits.map((h) => h.id));
  return hits.map((h) => {
    const r = records.get(h.id);
    return {
      id: h.id,
      title: r?.title ?? h.title,
      popularity: h.popularity,
      ...(r ? { available: r.available !== false && !r.deleted } : {}),
      ...(r?.price !== undefined ? { price: r.price } : {}),
      ...(r ? { category: categoriesOf(r)[0] } : {}),
    };
  });
}
