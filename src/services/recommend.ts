/**
 * Recommendation logic as plain functions over one shelf (never a Hono Context): personalised
 * top-k for a known user, session/basket fold-in, similar items, candidate scoring, popular
 * fallbacks and title search. Every function uses a single model version from start to end, and
 * the catalogue's filters and the placement's rules apply to every answer.
 */
import type { WeightedItem } from '@edge-recs/core/foldin';
import type { Scored } from '@edge-recs/core/topk';
import { categoriesOf, HAS_RECORD } from '../models/live-catalog';
import type { ServingModel } from '../models/model';
import type { Answer, CatalogItem, Source } from '../schemas';
import type { CatalogRecord } from '../storage/catalog-store';
import { because, blendedScores, rank } from './blend';
import { activeBoosts, activePins } from './merchandising';
import {
  arrange,
  boostedNew,
  candidatesFor,
  capFills,
  contentMatcher,
  contentOf,
  type Entry,
  enoughForCap,
  entries,
  interleave,
  liftedNew,
  newCandidatesFor,
  newItemsFor,
  omitting,
  placementSummary,
  present,
  type Shelf,
  withLifted,
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
  // only boosts reorder the list (a plan alone may just filter): without them the scan stops at k
  const reorder = plan !== null && activeBoosts(shelf.placement, shelf.now).length > 0;
  const out: Entry[] = [];
  for (let j = 0; j < items.length && (reorder || out.length < k); j++) {
    const i = items[j];
    if (exclude.has(i) || shelf.excluded.has(i) || !shelf.filter.passes(i)) continue;
    const c = plan ? plan.classes[i] : 1;
    if (c === 0) continue;
    const share = counts[j] / users;
    out.push({ index: i, id: shelf.model.ids.id(i), score: plan ? share * plan.transforms[2 * c] + plan.transforms[2 * c + 1] : share });
  }
  if (reorder) out.sort((a, b) => b.score - a.score || (a.index ?? 0) - (b.index ?? 0));
  return out.slice(0, k);
}

/**
 * The most popular items that pass the filter, with new catalogue items (the model does not know
 * them yet) at every fourth position — and in every place the known items leave empty — so a
 * product added this morning is sellable at once.
 */
export async function popular(
  shelf: Shelf,
  k: number,
  exclude: ReadonlySet<number> = new Set(),
  taken: ReadonlySet<string> = new Set(),
): Promise<Answer> {
  return answer(shelf, 'popular', await arrange(shelf, await popularList(shelf, k, exclude, taken), k));
}

/**
 * The popular list before the placement's rules: enough known items for a diversity cap to still
 * fill k (candidatesFor), new items at every fourth place — a quarter of the places and every
 * place the known items leave empty; under a cap, a new item it leaves out gives its place to the
 * next new one (interleave) — and new items a boost lifts ranked by their boosted score among the
 * known ones. Each item once; ids in `taken` left out.
 */
export async function popularList(
  shelf: Shelf,
  k: number,
  exclude: ReadonlySet<number>,
  taken: ReadonlySet<string> = new Set(),
): Promise<Entry[]> {
  // as enoughForCap: wider while the cap leaves fewer than k of the known items and more exist
  let n = candidatesFor(shelf, k);
  let known = popularEntries(shelf, n, exclude).filter((e) => !taken.has(e.id));
  while (known.length >= n - taken.size && n < shelf.model.itemCount && !capFills(shelf, known, k)) {
    n *= 4;
    known = popularEntries(shelf, n, exclude).filter((e) => !taken.has(e.id));
  }
  const lifted = liftedNew(shelf, taken);
  // under a diversity cap every new item is a candidate: the cap may leave out any number of them
  const skip = new Set([...taken, ...lifted.map((e) => e.id)]);
  const plain = await newItemsFor(shelf, newCandidatesFor(shelf, k), [], skip);
  const list = interleave(shelf, withLifted(known, lifted), plain, 4, n);
  if (list.length >= n) return list;
  // places nothing else fills (a shelf of a category the model has few items of) take the new
  // items no longer young enough to be promoted: still sellable, after everything else
  for (const e of list) skip.add(e.id);
  const aged = await newItemsFor(shelf, newCandidatesFor(shelf, k), [], skip, 'aged');
  return interleave(shelf, list, aged, Number.POSITIVE_INFINITY, n);
}

/**
 * The newest catalogue items that pass the filter, then — when fewer than k of them do (a
 * category shelf with no new product yet) — the most popular known items that pass, after them
 * with score 0: a placement's `fallback: "new"` never answers an empty list while items pass.
 * Ids in `taken` left out.
 */
async function newestList(shelf: Shelf, k: number, taken: ReadonlySet<string> = new Set()): Promise<Entry[]> {
  // all of them under a diversity cap, so the cap still fills k when k of them pass it
  const fresh = await newItemsFor(shelf, newCandidatesFor(shelf, k), [], new Set(taken), 'all');
  if (fresh.length >= k && capFills(shelf, fresh, k)) return fresh;
  const listed = new Set([...taken, ...fresh.map((e) => e.id)]);
  const known = popularEntries(shelf, candidatesFor(shelf, k) + listed.size, new Set()).filter((e) => !listed.has(e.id));
  return [...fresh, ...known.map((e) => ({ ...e, score: 0 }))];
}

/** A placement's `fallback: "new"`: the newest catalogue items that pass the filter (newestList). */
export async function newest(shelf: Shelf, k: number, taken: ReadonlySet<string> = new Set()): Promise<Answer> {
  return answer(shelf, 'new', await arrange(shelf, await newestList(shelf, k, taken), k));
}

/**
 * A list of the model's scored items for a user or basket as arrange takes it: the new items a
 * boost lifts ranked among them by their boosted score, and — for the places they leave empty (a
 * filter few known items pass) — the new items that pass the filter, most related to `context`
 * first; new items for the exploration slots from the same context. None of `taken`.
 */
async function scoredWithNew(
  shelf: Shelf,
  scored: readonly Scored[],
  k: number,
  context: readonly string[],
  taken: ReadonlySet<string>,
): Promise<Entry[]> {
  const lifted = liftedNew(shelf, taken);
  const also = (which: 'fresh' | 'all') => (n: number, t: Set<string>) => newItemsFor(shelf, n, context, new Set([...t, ...taken]), which);
  // exploration promotes what is new; the places the known items leave empty take any sellable one
  return arrange(shelf, withLifted(entries(shelf, scored), lifted), k, { fill: also('all'), explore: also('fresh') });
}

/** What an unknown user gets: the placement's fallback (popular by default); ids in `taken` left out. */
export async function fallback(
  shelf: Shelf,
  k: number,
  exclude: ReadonlySet<number> = new Set(),
  taken: ReadonlySet<string> = new Set(),
): Promise<Answer> {
  if (shelf.placement?.fallback === 'new') return newest(shelf, k, taken);
  return popular(shelf, k, exclude, taken);
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
  /** a user without a record: the new products of their history, left out of the fallback (ResolvedUser) */
  seen?: readonly string[];
}

export async function forUser(
  shelf: Shelf,
  user: UserRecord | null,
  k: number,
  excludePurchased: boolean,
  opts: ListOptions = {},
): Promise<Answer> {
  if (!user) {
    const seen = new Set(excludePurchased ? (opts.seen ?? []) : []);
    return fallback(seen.size ? omitting(shelf, (id) => seen.has(id)) : shelf, k, new Set(), seen);
  }
  const exclude = new Set<number>([...shelf.excluded, ...(excludePurchased ? user.items : [])]);
  // new catalogue products of the history: left out as the model's items are
  const others = new Set(excludePurchased ? (user.others ?? []) : []);
  const basket = historyBasket(user);
  const scored = await enoughForCap(shelf, k, (n) => rank(shelf.model, user.vector, basket, n, exclude, shelf.plan));
  const context = contextIds(shelf.model, user.items, user.strengths);
  // the purchases it leaves out are never pinned back in either
  const own = excludePurchased ? omitting(shelf, (id, i) => (i !== undefined ? exclude.has(i) : others.has(id))) : shelf;
  let list = await scoredWithNew(own, scored, k, context, others);
  if (opts.explain) list = await explain(own, basket, list);
  return answer(own, 'personalized', list);
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
  const given = new Set(ids);
  // the basket's items it leaves out are never pinned back in either
  if (excludeGiven) shelf = omitting(shelf, (id) => given.has(id));
  // ids the model does not know are ignored for scoring; new catalogue items among them still
  // inform exploration
  const extra = unknown.length ? { ignoredItems: unknown } : {};
  if (items.length === 0) {
    // Nothing the model can score: a basket of new catalogue items is answered by what their
    // titles and categories relate to (as `similar` does for one new item), then what the
    // placement falls back to (popular, or the newest items); the placement's rules apply to both.
    const left = excludeGiven ? new Set(ids) : new Set<string>();
    const seeds = (await contentOf(shelf, unknown)).filter((c) => c.title || c.categories.length).map((c) => c.id);
    const related = seeds.length ? await contentNeighbours(shelf, seeds, candidatesFor(shelf, k), left) : [];
    const listed = new Set([...related.map((e) => e.id), ...left]);
    const byNew = shelf.placement?.fallback === 'new';
    const rest = byNew ? await newestList(shelf, k, listed) : await popularList(shelf, k, new Set(), listed);
    // after related items, the fallback keeps its order (scores 0); alone, it keeps its scores
    const list = [...related, ...(related.length ? rest.map((e) => ({ ...e, score: 0 })) : rest)];
    const explore = (n: number, t: Set<string>) => newItemsFor(shelf, n, ids, new Set([...t, ...left]));
    const source: Source = related.length ? 'session' : byNew ? 'new' : 'popular';
    return answer(shelf, source, await arrange(shelf, list, k, { explore }), extra);
  }
  const exclude = new Set<number>([...shelf.excluded, ...(excludeGiven ? items.map((x) => x.index) : [])]);
  const u = sessionVector(model, items);
  const scored = await enoughForCap(shelf, k, (n) => rank(model, u, items, n, exclude, shelf.plan));
  let list = await scoredWithNew(shelf, scored, k, ids, new Set(excludeGiven ? ids : []));
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
  const related = (await newItemsFor(shelf, k, match, new Set(taken), 'all')).filter((e) => e.score > 0);
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
  // the item itself is never on its own list, nor pinned there
  shelf = omitting(shelf, (other) => other === id);
  if (index === undefined) return answer(shelf, 'similar', await arrange(shelf, await contentNeighbours(shelf, [id], k, new Set([id])), k));
  // new catalogue items picked by how much they resemble it (not the k newest, then scored)
  const related = await newItemsFor(shelf, k, [id], new Set([id]), 'all');
  const scored = await enoughForCap(shelf, k, (n) =>
    model.scorer.similar(index, n + shelf.excluded.size, shelf.plan ?? undefined).filter((s) => !shelf.excluded.has(s.index)),
  );
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
  const fresh = new Map<string, Entry>();
  const unknown = new Set<string>();
  const known: number[] = [];
  // each distinct candidate once (a candidate given twice is listed, and counted as shown, once)
  const distinct = [...new Set(candidates)];
  for (const id of distinct) {
    const index = model.ids.indexOf(id);
    if (index !== undefined) known.push(index);
    else if (shelf.binding.newItems.has(id)) {
      // a new item: no model score, but the placement's boosts and the filter apply as to any other
      const r = shelf.binding.newItems.get(id) as CatalogRecord;
      const why = shelf.filter.recordWhyNot(r);
      fresh.set(id, { id, ...boostedNew(shelf, r, 0), ...(why ? { filteredOut: why } : {}) });
    } else unknown.add(id);
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
  for (const id of distinct) {
    const index = model.ids.indexOf(id);
    const e = index !== undefined ? scored.get(index) : fresh.get(id);
    if (e) ordered.push({ ...e });
  }
  const rec = await answer(shelf, vector ? source : 'popular', ordered);
  if (unknown.size) rec.ignoredItems = [...unknown];
  return rec;
}

/** Popular items a search reads the catalogue's records for at a time. */
const SEARCH_CHUNK = 500;

/** What a search matches an item on: its title as served, its id and its categories. */
const searchText = (title: string | undefined, id: string, categories: readonly string[]) => `${title ?? ''} ${id} ${categories.join(' ')}`;

/** The categories of an item the model knows as the binding holds them (the catalogue's over the artifact's). */
function modelCategories(shelf: Shelf, index: number): string[] {
  const b = shelf.binding;
  return Array.from(b.categoryCodes(index), (c) => b.categories.name(c) ?? '').filter(Boolean);
}

/**
 * Catalogue search: every query word must appear in the item's title as served (the catalogue's
 * over the model's), its id or one of its categories (the catalogue's over the model's) — for an
 * item the model knows as for a new one. Covers the model's most popular items
 * (catalog/popular.json, up to 10,000) and the new catalogue items; filters apply; most popular
 * first, new items after. A placement's boosts reorder the matches (a boosted item
 * rises by its boosted popularity), its diversity cap applies, and its pins place an item only
 * when it matches the query (a search never lists what was not searched for).
 */
export async function searchCatalog(
  shelf: Shelf,
  query: string,
  limit: number,
): Promise<{ items: CatalogItem[]; placement?: NonNullable<Answer['placement']> }> {
  const { model, plan } = shelf;
  const words = query.toUpperCase().split(/\s+/).filter(Boolean);
  const matches = (text: string) => words.every((w) => text.toUpperCase().includes(w));
  const { items, titles, counts } = model.catalog.popular;
  const users = Math.max(1, model.manifest.userCount);
  const enough = candidatesFor(shelf, limit);
  // only boosts reorder the matches (a plan alone may just filter out-of-stock items): without
  // them the popular order is the answer's, and the scan stops once there are enough
  const reorder = plan !== null && activeBoosts(shelf.placement, shelf.now).length > 0;
  const hits: Entry[] = [];
  const share = new Map<string, number>();
  // a chunk of the popular items at a time: the catalogue's records (titles) are read only for
  // the items it has one for, and only as far as the scan goes
  for (let from = 0; from < items.length && (reorder || hits.length < enough); from += SEARCH_CHUNK) {
    const chunk: number[] = [];
    for (let j = from; j < Math.min(items.length, from + SEARCH_CHUNK); j++) {
      const i = items[j];
      if (!shelf.filter.passes(i) || shelf.excluded.has(i)) continue;
      if (plan && plan.classes[i] === 0) continue;
      chunk.push(j);
    }
    const recorded = chunk.filter((j) => shelf.binding.flags[items[j]] & HAS_RECORD).map((j) => model.ids.id(items[j]));
    const records = recorded.length ? await shelf.view.records(recorded) : new Map<string, CatalogRecord>();
    for (const j of chunk) {
      if (!reorder && hits.length >= enough) break;
      const i = items[j];
      const id = model.ids.id(i);
      if (!matches(searchText(records.get(id)?.title ?? titles[j], id, modelCategories(shelf, i)))) continue;
      const p = model.popularityShare(counts[j]) ?? 0;
      share.set(id, p);
      const c = plan ? plan.classes[i] : 1;
      hits.push({ index: i, id, score: plan ? (counts[j] / users) * plan.transforms[2 * c] + plan.transforms[2 * c + 1] : p });
    }
  }
  for (const r of shelf.binding.newItems.values()) {
    if (!reorder && hits.length >= enough) break;
    if (shelf.filter.recordWhyNot(r) !== null) continue;
    if (matches(searchText(r.title, r.id, categoriesOf(r)))) hits.push({ id: r.id, ...boostedNew(shelf, r, 0) });
  }
  if (reorder) hits.sort((a, b) => b.score - a.score);
  // a pin places an item only when it matches the query, wherever it ranks among the matches
  const p = shelf.placement;
  const pinIds = activePins(p, shelf.now).map((pin) => pin.itemId);
  const pinText = await contentOf(shelf, pinIds);
  const searched = new Set(
    pinText
      .filter((c) => {
        const i = model.ids.indexOf(c.id);
        return matches(searchText(c.title, c.id, i !== undefined ? modelCategories(shelf, i) : c.categories));
      })
      .map((c) => c.id),
  );
  const own: Shelf = p ? { ...shelf, placement: { ...p, pins: (p.pins ?? []).filter((pin) => searched.has(pin.itemId)) } } : shelf;
  const list = await arrange(own, hits, limit);
  const shown = await present(own, list);
  const placement = placementSummary(own, list);
  return {
    items: shown.map((it) => ({
      id: it.id,
      title: it.title,
      popularity: share.get(it.id) ?? 0,
      ...(it.available !== undefined ? { available: it.available } : {}),
      ...(it.price !== undefined ? { price: it.price } : {}),
      ...(it.category !== undefined ? { category: it.category } : {}),
      ...(it.boosted ? { boosted: true as const } : {}),
      ...(it.pinned ? { pinned: true as const } : {}),
    })),
    ...(placement ? { placement } : {}),
  };
}
