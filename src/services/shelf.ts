/**
 * A shelf: everything one answer depends on besides the user — the model version, the live
 * catalogue as that version sees it, the effective filter and placement, and the scoring plan
 * they make — and the steps every list goes through after scoring: the placement's diversity
 * cap, pins and exploration slots, then presentation (titles, prices, images from the catalogue
 * over the model's own, positions, and why an item is where it is).
 */
import type { Scored } from '@edge-recs/core/topk';
import { AppError, unknownItemMessage } from '../errors';
import type { ScoringPlan } from '../inference/plan';
import { type CatalogBinding, type CatalogView, categoriesOf, DELETED, UNAVAILABLE } from '../models/live-catalog';
import type { ServingModel } from '../models/model';
import type { RecommendedItem } from '../schemas';
import type { CatalogRecord } from '../storage/catalog-store';
import {
  activeBoosts,
  activePins,
  buildPlan,
  CompiledFilter,
  compileRecordBoosts,
  effectiveFilter,
  type FilteredOut,
  type ItemFilter,
  isBoosted,
  type Placement,
  type RecordBoost,
} from './merchandising';

export interface Shelf {
  model: ServingModel;
  view: CatalogView;
  binding: CatalogBinding;
  filter: CompiledFilter;
  placement: Placement | undefined;
  plan: ScoringPlan | null;
  /** model indices the request excludes by id */
  excluded: Set<number>;
  /** the placement's boosts as a test on new items' records (null: no boosts) */
  recordBoost: RecordBoost | null;
  now: number;
}

/** Plans by binding, for the filter + boosts they were built for and the binding's version. */
const plans = new WeakMap<CatalogBinding, Map<string, ScoringPlan | null>>();
const MAX_PLANS = 16;

export async function shelfFor(
  model: ServingModel,
  view: CatalogView,
  request: ItemFilter | undefined,
  placement: Placement | undefined,
  now = Date.now(),
): Promise<Shelf> {
  const binding = await view.binding(model);
  const effective = effectiveFilter(placement, request);
  const filter = new CompiledFilter(binding, effective);
  const boosts = activeBoosts(placement, now);
  const { exclude, ...shape } = effective;
  const key = `${binding.version}|${JSON.stringify(shape)}|${JSON.stringify(boosts)}`;
  let cache = plans.get(binding);
  if (!cache) {
    cache = new Map();
    plans.set(binding, cache);
  }
  let plan = cache.get(key);
  if (plan === undefined) {
    plan = buildPlan(filter, boosts);
    cache.set(key, plan);
    for (const k of cache.keys()) {
      if (cache.size <= MAX_PLANS) break;
      cache.delete(k);
    }
  }
  const excluded = new Set((exclude ?? []).map((id) => model.ids.indexOf(id)).filter((i): i is number => i !== undefined));
  return { model, view, binding, filter, placement, plan, excluded, recordBoost: compileRecordBoosts(binding, boosts), now };
}

/**
 * The item a related-items answer is about (similar, bought together): AppError item_not_found
 * when neither the model nor the catalogue knows it, or when it was deleted — its page is gone,
 * so are the lists hanging off it.
 */
export function checkSeed(shelf: Shelf, id: string): void {
  const index = shelf.model.ids.indexOf(id);
  if (index === undefined && !shelf.binding.newItems.has(id))
    throw new AppError('item_not_found', unknownItemMessage(id, shelf.model.version));
  if (index !== undefined && shelf.filter.whyNot(index) === 'deleted')
    throw new AppError('item_not_found', `item ${id} was deleted from the catalogue`);
}

/** One entry of a list before presentation. */
export interface Entry {
  /** the model's index (absent for a new item the model does not know) */
  index?: number;
  id: string;
  score: number;
  pinned?: true;
  exploration?: true;
  /** a placement boost changed the score of this new item (model items: the plan says so) */
  boosted?: true;
  filteredOut?: FilteredOut;
  /** model indices of the history/basket items behind it (explain=true) */
  because?: number[];
}

/** How many candidates to ask the scorer for so the placement's rules can still fill k. */
export function candidatesFor(shelf: Shelf, k: number): number {
  const p = shelf.placement;
  const pins = p?.pins?.length ?? 0;
  return p?.diversity ? Math.min(k * 5, k + 200) + pins : k + pins;
}

/** Entries from scorer output. */
export const entries = (shelf: Shelf, scored: readonly Scored[]): Entry[] =>
  scored.map((s) => ({ index: s.index, id: shelf.model.ids.id(s.index), score: s.score }));

/** The first category of an entry, for the diversity cap. */
async function primaryCategories(shelf: Shelf, list: readonly Entry[]): Promise<(string | undefined)[]> {
  return list.map((e) => {
    if (e.index !== undefined) {
      const c = shelf.binding.categoryCodes(e.index);
      return c.length ? shelf.binding.categories.name(c[0]) : undefined;
    }
    const r = shelf.binding.newItems.get(e.id);
    return r ? categoriesOf(r)[0] : undefined;
  });
}

/**
 * Applies the placement's rules to a scored list and cuts it to k, each item once:
 * 1. pins: each pinned item (while it is available, not deleted and passes the filter) at its
 *    position — the merchant's choice, so a pin may exceed the diversity cap, but it uses up its
 *    category's room;
 * 2. diversity: at most `maxPerCategory` items per (first) category, best first, counting the pins;
 * 3. exploration: up to `explorationSlots` new items at evenly spread positions, chosen by
 *    `explore` (the caller knows the context: the user's history, the basket), within the cap.
 * Callers pass more than k entries when a cap is set (candidatesFor), so the cap still fills k.
 */
export async function arrange(
  shelf: Shelf,
  list: Entry[],
  k: number,
  explore?: (n: number, taken: Set<string>) => Promise<Entry[]>,
): Promise<Entry[]> {
  const p = shelf.placement;
  const pins = activePins(p, shelf.now)
    .map((pin) => ({ pin, entry: pinEntry(shelf, pin.itemId) }))
    .filter((x): x is { pin: (typeof x)['pin']; entry: Entry } => x.entry !== null);
  const taken = new Set(pins.map((x) => x.entry.id));
  const cap = p?.diversity?.maxPerCategory ?? Number.POSITIVE_INFINITY;
  const perCategory = new Map<string, number>();
  /** Up to `limit` of the candidates, in order, that are not taken and whose category has room. */
  const admit = async (candidates: readonly Entry[], limit: number): Promise<Entry[]> => {
    const cats = Number.isFinite(cap) ? await primaryCategories(shelf, candidates) : [];
    const admitted: Entry[] = [];
    for (let j = 0; j < candidates.length && admitted.length < limit; j++) {
      const e = candidates[j];
      if (taken.has(e.id)) continue;
      const c = cats[j];
      if (c !== undefined) {
        const n = (perCategory.get(c) ?? 0) + 1;
        if (n > cap) continue;
        perCategory.set(c, n);
      }
      taken.add(e.id);
      admitted.push(e);
    }
    return admitted;
  };
  if (Number.isFinite(cap)) {
    const cats = await primaryCategories(
      shelf,
      pins.map((x) => x.entry),
    );
    for (const c of cats) if (c !== undefined) perCategory.set(c, (perCategory.get(c) ?? 0) + 1);
  }
  let out: Entry[] = [];
  // in chunks, so a long candidate list is not categorised beyond what k needs
  for (let from = 0; from < list.length && out.length < k; from += 2 * k)
    out.push(...(await admit(list.slice(from, from + 2 * k), k - out.length)));
  if (explore && p?.explorationSlots) {
    const n = Math.min(p.explorationSlots, k);
    // more than n, so the cap can still leave n
    const fresh = await admit(await explore(Number.isFinite(cap) ? n * 4 : n, new Set(taken)), n);
    fresh.forEach((e, j) => {
      const at = Math.min(out.length, Math.ceil(((j + 1) * k) / (n + 1)) - 1);
      out.splice(at, 0, { ...e, exploration: true });
    });
    out = out.slice(0, k);
  }
  for (const { pin, entry } of pins) {
    const at = Math.min(Math.max(pin.position, 1) - 1, out.length);
    out.splice(at, 0, { ...entry, pinned: true });
  }
  return out.slice(0, k);
}

/**
 * A pinned item as an entry, or null while it is unavailable, deleted or unknown, or while the
 * request's filter (over the placement's) leaves it out: a pin places an item, it never puts one
 * on a shelf whose filter excludes it (a category shelf, a price band, `exclude`).
 */
function pinEntry(shelf: Shelf, id: string): Entry | null {
  const index = shelf.model.ids.indexOf(id);
  if (index !== undefined) return shelf.filter.whyNot(index, id) === null ? { index, id, score: 0 } : null;
  const r = shelf.binding.newItems.get(id);
  return r && shelf.filter.recordWhyNot(r) === null ? { id, score: 0 } : null;
}

const words = (s: string | undefined) =>
  new Set(
    (s ?? '')
      .toLowerCase()
      .split(/[^\p{L}\p{N}]+/u)
      .filter((w) => w.length > 1),
  );

type Described = { title?: string; categories: string[] };

function wordScore(wa: Set<string>, ca: readonly string[], wb: Set<string>, cb: readonly string[]): number {
  let shared = 0;
  for (const w of wa) if (wb.has(w)) shared++;
  const jaccard = wa.size + wb.size - shared > 0 ? shared / (wa.size + wb.size - shared) : 0;
  const category = ca.some((c) => cb.includes(c)) ? 0.5 : 0;
  return Math.min(1, jaccard + category);
}

/**
 * An item's best content score against any of `seeds`: Jaccard of their title words, plus 0.5
 * when they share a category (capped at 1) — how an item the model cannot score yet is related to
 * the items a user or basket is about. The seeds' titles are split once here and each item's once
 * per call, so scoring thousands of candidates against a basket stays linear.
 */
export function contentMatcher(seeds: readonly Described[]): (item: Described) => number {
  const prepared = seeds.map((s) => ({ w: words(s.title), categories: s.categories }));
  return (item) => {
    const w = words(item.title);
    let best = 0;
    for (const s of prepared) best = Math.max(best, wordScore(s.w, s.categories, w, item.categories));
    return best;
  };
}

/** What describes an item for content similarity (catalogue record over the model's title). */
export async function contentOf(shelf: Shelf, ids: readonly string[]): Promise<{ id: string; title?: string; categories: string[] }[]> {
  const records = await shelf.view.records(ids);
  const modelIndices = ids.map((id) => shelf.model.ids.indexOf(id));
  const known = modelIndices.filter((i): i is number => i !== undefined);
  const infos = new Map((await shelf.model.catalog.describe(known)).map((x, j) => [known[j], x]));
  return ids.map((id, j) => {
    const r = records.get(id) ?? shelf.binding.newItems.get(id);
    const i = modelIndices[j];
    return { id, title: r?.title ?? (i !== undefined ? infos.get(i)?.title : undefined), categories: r ? categoriesOf(r) : [] };
  });
}

/**
 * Up to `n` new items (the model does not know them yet; created within CATALOG_NEW_ITEM_SECONDS)
 * that pass the filter, most related to `context` first (content similarity), then newest.
 * `context`: the ids they are related to (the first 20), or a matcher the caller built from them.
 */
export async function newItemsFor(
  shelf: Shelf,
  n: number,
  context: readonly string[] | ((item: Described) => number),
  taken: Set<string> = new Set(),
): Promise<Entry[]> {
  if (n <= 0) return [];
  const fresh = shelf.binding.freshNewItems(shelf.now).filter((r) => !taken.has(r.id) && shelf.filter.recordWhyNot(r) === null);
  if (fresh.length === 0) return [];
  const match =
    typeof context === 'function' ? context : contentMatcher(context.length ? await contentOf(shelf, context.slice(0, 20)) : []);
  const scored = fresh.map((r, age) => ({ r, ...boostedNew(shelf, r, match({ title: r.title, categories: categoriesOf(r) })), age }));
  scored.sort((a, b) => b.score - a.score || a.age - b.age);
  return scored.slice(0, n).map(({ r, score, boosted }) => ({ id: r.id, score, ...(boosted ? { boosted } : {}) }));
}

/**
 * A new item's score after the placement's boosts (the plan covers only the model's items):
 * matched on its record's id, categories and declared attributes.
 */
export function boostedNew(shelf: Shelf, r: CatalogRecord, score: number): { score: number; boosted?: true } {
  const t = shelf.recordBoost?.(r);
  if (!t) return { score };
  const boosted = score * t.multiply + t.add;
  // a multiply on a score of 0 (a new item with no content match) changes nothing: not "boosted"
  return boosted === score ? { score } : { score: boosted, boosted: true };
}

const round = (x: number) => Number(x.toFixed(6));

/**
 * Catalogue fields an answer shows for an item: for an item the model knows, its category, price
 * and availability as the binding holds them (the catalogue's record over the artifact's fields);
 * currency and image from the record, else the image from the artifact; for a new item, its record.
 */
function catalogFields(
  shelf: Shelf,
  index: number | undefined,
  r: CatalogRecord | undefined,
  image: string | undefined,
): Partial<RecommendedItem> {
  if (index === undefined) {
    if (!r) return {};
    const cats = categoriesOf(r);
    return {
      ...(cats.length ? { category: cats[0], categories: cats } : {}),
      ...(r.price !== undefined ? { price: r.price } : {}),
      ...(r.currency !== undefined ? { currency: r.currency } : {}),
      ...(r.imageUrl !== undefined ? { imageUrl: r.imageUrl } : {}),
      available: r.available !== false && !r.deleted,
    };
  }
  const b = shelf.binding;
  const cats = Array.from(b.categoryCodes(index), (c) => b.categories.name(c) ?? '').filter(Boolean);
  const price = b.price[index];
  const known = r !== undefined || shelf.model.fields !== null;
  const img = r?.imageUrl ?? (image || undefined);
  return {
    ...(cats.length ? { category: cats[0], categories: cats } : {}),
    ...(Number.isNaN(price) ? {} : { price }),
    ...(r?.currency !== undefined ? { currency: r.currency } : {}),
    ...(img !== undefined ? { imageUrl: img } : {}),
    ...(known ? { available: (b.flags[index] & (UNAVAILABLE | DELETED)) === 0 } : {}),
  };
}

/** Entries as the API shows them: positions from 1, titles and fields from the catalogue over the model's. */
export async function present(shelf: Shelf, list: readonly Entry[]): Promise<RecommendedItem[]> {
  const reasons = [...new Set(list.flatMap((e) => e.because ?? []))];
  const reasonInfo = reasons.length
    ? await contentOf(
        shelf,
        reasons.map((i) => shelf.model.ids.id(i)),
      )
    : [];
  const reasonTitle = new Map(reasons.map((i, j) => [i, reasonInfo[j]?.title ?? '']));
  const known = list.filter((e) => e.index !== undefined).map((e) => e.index as number);
  const infos = new Map((await shelf.model.catalog.describe(known)).map((x, j) => [known[j], x]));
  const records = await shelf.view.records(list.map((e) => e.id));
  const images = new Map<number, string>();
  if (shelf.model.images) {
    const urls = await shelf.model.images.of(known);
    known.forEach((i, j) => {
      images.set(i, urls[j]);
    });
  }
  return list.map((e, j) => {
    const r = records.get(e.id) ?? shelf.binding.newItems.get(e.id);
    const modelTitle = e.index !== undefined ? infos.get(e.index)?.title : undefined;
    return {
      id: e.id,
      score: round(e.score),
      title: r?.title ?? modelTitle ?? '',
      position: j + 1,
      ...catalogFields(shelf, e.index, r, e.index !== undefined ? images.get(e.index) : undefined),
      ...(e.index === undefined ? { new: true as const } : {}),
      ...(e.pinned ? { pinned: true as const } : {}),
      ...(e.exploration ? { exploration: true as const } : {}),
      ...(e.boosted || (e.index !== undefined && isBoosted(shelf.plan, e.index)) ? { boosted: true as const } : {}),
      ...(e.filteredOut ? { filteredOut: e.filteredOut } : {}),
      ...(e.because ? { because: e.because.map((i) => ({ id: shelf.model.ids.id(i), title: reasonTitle.get(i) ?? '' })) } : {}),
    };
  });
}

/** What the answer says about the placement that shaped it. */
export function placementSummary(shelf: Shelf, list: readonly Entry[]) {
  const p = shelf.placement;
  if (!p) return undefined;
  return {
    name: p.name,
    filter: shelf.filter.filter,
    boosts: activeBoosts(p, shelf.now).length,
    pins: list.filter((e) => e.pinned).length,
    ...(p.diversity ? { maxPerCategory: p.diversity.maxPerCategory } : {}),
    exploration: list.filter((e) => e.exploration).length,
  };
}
