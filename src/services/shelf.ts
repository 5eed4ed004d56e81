/**
 * A shelf: everything one answer depends on besides the user — the model version, the live
 * catalogue as that version sees it, the effective filter and placement, and the scoring plan
 * they make — and the steps every list goes through after scoring: the placement's diversity
 * cap, pins and exploration slots (a pin never bringing back what the list itself leaves out),
 * new items in the places a list leaves empty, then presentation (titles, prices, images from the
 * catalogue over the model's own, positions, and why an item is where it is).
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
  /**
   * Items this one list leaves out besides the filter — the item a related list is about, the
   * basket, the history a personalised list excludes (`index`: the model's, absent for a new item).
   * The list's own candidates already leave them out; a pin never brings one back either.
   */
  omit?: (id: string, index: number | undefined) => boolean;
}

/** The shelf for one list that leaves out `omit` (see Shelf.omit) besides what the shelf already does. */
export function omitting(shelf: Shelf, omit: (id: string, index: number | undefined) => boolean): Shelf {
  const before = shelf.omit;
  return { ...shelf, omit: before ? (id, index) => before(id, index) || omit(id, index) : omit };
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

/**
 * Scored candidates enough for the placement's diversity cap to fill k: `fetch(n)` is asked for
 * candidatesFor(k) first and, while the cap leaves fewer than k of them (the top of a shelf may
 * all share one category) and the scorer had more to give, for four times as many — so a cap
 * fills k whenever k capped items exist, at the cost of a wider top-k only where it is needed.
 */
export async function enoughForCap(shelf: Shelf, k: number, fetch: (n: number) => Promise<Scored[]> | Scored[]): Promise<Scored[]> {
  let n = candidatesFor(shelf, k);
  for (;;) {
    const scored = await fetch(n);
    if (scored.length < n || n >= shelf.model.itemCount || capFills(shelf, entries(shelf, scored), k)) return scored;
    n *= 4;
  }
}

/** Whether the placement's diversity cap (none: always) leaves at least k of `list`, after the pins. */
export function capFills(shelf: Shelf, list: readonly Entry[], k: number): boolean {
  if (!shelf.placement?.diversity) return true;
  const room = new Room(
    shelf,
    pinned(shelf).map((x) => x.entry),
  );
  return room.admit(list, k).length >= k;
}

/**
 * How many new items to ask newItemsFor for so the placement's rules can still fill k: all of
 * them under a diversity cap (they are at hand, and any number of them may share a category),
 * else as many as candidatesFor.
 */
export function newCandidatesFor(shelf: Shelf, k: number): number {
  return shelf.placement?.diversity ? Number.POSITIVE_INFINITY : candidatesFor(shelf, k);
}

/** Entries from scorer output. */
export const entries = (shelf: Shelf, scored: readonly Scored[]): Entry[] =>
  scored.map((s) => ({ index: s.index, id: shelf.model.ids.id(s.index), score: s.score }));

/** The first category of an entry, for the diversity cap (undefined: none, and no cap applies to it). */
function primaryCategory(shelf: Shelf, e: Entry): string | undefined {
  if (e.index !== undefined) {
    const c = shelf.binding.categoryCodes(e.index);
    return c.length ? shelf.binding.categories.name(c[0]) : undefined;
  }
  const r = shelf.binding.newItems.get(e.id);
  return r ? categoriesOf(r)[0] : undefined;
}

/**
 * The pins in force whose items may be listed, by position (pins at the same position in the
 * order given): each while it is available, not deleted and passes the filter, and never an item
 * the list itself leaves out (Shelf.omit).
 */
function pinned(shelf: Shelf): { position: number; entry: Entry }[] {
  const out: { position: number; entry: Entry }[] = [];
  for (const pin of activePins(shelf.placement, shelf.now)) {
    const entry = pinEntry(shelf, pin.itemId);
    if (entry) out.push({ position: pin.position, entry });
  }
  return out;
}

/**
 * Room on one list under the placement's diversity cap: the pins are counted first (a pin may
 * exceed the cap, but uses up its category's room), then each item as it is taken; an item
 * without a category is never held back by the cap. Each item once.
 */
class Room {
  readonly taken: Set<string>;
  readonly capped: boolean;
  private readonly cap: number;
  private readonly perCategory = new Map<string, number>();

  constructor(
    private readonly shelf: Shelf,
    pins: readonly Entry[],
  ) {
    this.cap = shelf.placement?.diversity?.maxPerCategory ?? Number.POSITIVE_INFINITY;
    this.capped = Number.isFinite(this.cap);
    this.taken = new Set(pins.map((e) => e.id));
    if (this.capped)
      for (const e of pins) {
        const c = primaryCategory(shelf, e);
        if (c !== undefined) this.perCategory.set(c, (this.perCategory.get(c) ?? 0) + 1);
      }
  }

  /** Takes `e` when it is not taken yet and its category has room; whether it did. */
  take(e: Entry): boolean {
    if (this.taken.has(e.id)) return false;
    if (this.capped) {
      const c = primaryCategory(this.shelf, e);
      if (c !== undefined) {
        const n = (this.perCategory.get(c) ?? 0) + 1;
        if (n > this.cap) return false;
        this.perCategory.set(c, n);
      }
    }
    this.taken.add(e.id);
    return true;
  }

  /** Up to `limit` of the candidates, in order, that it takes. */
  admit(candidates: Iterable<Entry>, limit: number): Entry[] {
    const out: Entry[] = [];
    if (limit <= 0) return out;
    for (const e of candidates) {
      if (this.take(e)) out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }
}

/** What a list adds to its own candidates (each called at most once, with the ids already taken). */
export interface Extras {
  /** up to `n` new items for the exploration slots, chosen by context (the user's history, the basket) */
  explore?: (n: number, taken: Set<string>) => Promise<Entry[]>;
  /** more items, after the list's own, for the places it leaves empty (up to `n`) */
  fill?: (n: number, taken: Set<string>) => Promise<Entry[]>;
}

/**
 * Applies the placement's rules to a scored list and cuts it to k, each item once:
 * 1. pins: each pinned item (while it is available, not deleted, passes the filter and is not
 *    one the list leaves out) at its position, pins at the same position one after the other in
 *    the order given — the merchant's choice, so a pin may exceed the diversity cap, but it uses
 *    up its category's room;
 * 2. diversity: at most `maxPerCategory` items per (first) category, best first, counting the
 *    pins; items without a category are not capped;
 * 3. fill: when the list leaves places empty, `fill` supplies more items after it, within the cap;
 * 4. exploration: up to `explorationSlots` new items (at most half of k) at evenly spread positions, chosen by
 *    `explore` (the caller knows the context: the user's history, the basket), within the cap.
 * Callers pass more than k entries when a cap is set (candidatesFor), so the cap still fills k.
 */
export async function arrange(shelf: Shelf, list: readonly Entry[], k: number, extras: Extras = {}): Promise<Entry[]> {
  const p = shelf.placement;
  const pins = pinned(shelf);
  const room = new Room(
    shelf,
    pins.map((x) => x.entry),
  );
  let out = room.admit(list, k);
  if (extras.fill && out.length < k) {
    // under a cap, all it has: the cap may leave out any number of them
    const more = await extras.fill(room.capped ? Number.POSITIVE_INFINITY : k - out.length, new Set(room.taken));
    out.push(...room.admit(more, k - out.length));
  }
  if (extras.explore && p?.explorationSlots) {
    // at most half the list: a short one (k = 2 with three slots) stays what the list is about
    const n = Math.min(p.explorationSlots, Math.floor(k / 2));
    // more than n, so the cap can still leave n
    const fresh = room.admit(await extras.explore(room.capped ? n * 4 : n, new Set(room.taken)), n);
    fresh.forEach((e, j) => {
      const at = Math.min(out.length, Math.ceil(((j + 1) * k) / (n + 1)) - 1);
      out.splice(at, 0, { ...e, exploration: true });
    });
    out = out.slice(0, k);
  }
  // by position; a pin never goes before one placed ahead of it (same position: the order given)
  let last = -1;
  for (const { position, entry } of pins) {
    const at = Math.min(Math.max(position - 1, last + 1), out.length);
    out.splice(at, 0, { ...entry, pinned: true });
    last = at;
  }
  return out.slice(0, k);
}

/**
 * `ranked` (best first) with an item of `fresh` at every `every`-th place and in every place
 * `ranked` leaves empty, up to `n` items — each taken under the placement's diversity cap as
 * arrange counts it (the pins first), so a fresh item the cap leaves out gives its place to the
 * next fresh one, not to a ranked one, and arrange then keeps the places as they are here.
 */
export function interleave(shelf: Shelf, ranked: readonly Entry[], fresh: readonly Entry[], every: number, n: number): Entry[] {
  const room = new Room(
    shelf,
    pinned(shelf).map((x) => x.entry),
  );
  const streams = [ranked, fresh];
  const at = [0, 0];
  /** the next item of stream `s` the room takes (the ones it does not are dropped: it never will) */
  const next = (s: number): Entry | undefined => {
    const list = streams[s];
    while (at[s] < list.length) {
      const e = list[at[s]++];
      if (room.take(e)) return e;
    }
    return undefined;
  };
  const out: Entry[] = [];
  while (out.length < n) {
    const first = out.length % every === every - 1 ? 1 : 0;
    const e = next(first) ?? next(1 - first);
    if (!e) break;
    out.push(e);
  }
  return out;
}

/**
 * A pinned item as an entry, or null while it is unavailable, deleted or unknown, while the
 * request's filter (over the placement's) leaves it out, or while the list itself leaves it out
 * (Shelf.omit: the item a related list is about, the basket, the history): a pin places an item,
 * it never puts one on a shelf whose filter excludes it (a category shelf, a price band,
 * `exclude`), nor brings back what the list excludes.
 */
function pinEntry(shelf: Shelf, id: string): Entry | null {
  const index = shelf.model.ids.indexOf(id);
  if (shelf.omit?.(id, index)) return null;
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
 * Up to `n` new items (the model does not know them yet) that pass the filter, most related to
 * `context` first (content similarity), then newest. `context`: the ids they are related to (the
 * first 20), or a matcher the caller built from them. `which`: "fresh" (created within
 * CATALOG_NEW_ITEM_SECONDS: what is promoted as new), "aged", or "all" (what a list may fill with).
 */
export async function newItemsFor(
  shelf: Shelf,
  n: number,
  context: readonly string[] | ((item: Described) => number),
  taken: Set<string> = new Set(),
  which: 'fresh' | 'aged' | 'all' = 'fresh',
): Promise<Entry[]> {
  if (n <= 0) return [];
  const fresh = shelf.binding.heldNewItems(shelf.now, which).filter((r) => !taken.has(r.id) && shelf.filter.recordWhyNot(r) === null);
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

/**
 * The new items a placement's boost lifts — a positive score from the 0 the model would give an
 * item it does not know (an `add` boost) — that pass the filter, best first, none of `taken`:
 * every list that ranks the model's items ranks these among them by that score.
 */
export function liftedNew(shelf: Shelf, taken: ReadonlySet<string> = new Set()): Entry[] {
  if (!shelf.recordBoost) return [];
  const out: Entry[] = [];
  // a boost names these items: however long ago they were added
  for (const r of shelf.binding.heldNewItems(shelf.now, 'all')) {
    if (taken.has(r.id) || shelf.filter.recordWhyNot(r) !== null) continue;
    const b = boostedNew(shelf, r, 0);
    if (b.boosted && b.score > 0) out.push({ id: r.id, ...b });
  }
  return out.sort((a, b) => b.score - a.score);
}

/** `list` (best first) with `lifted` (liftedNew) ranked among it by score; on a tie the list's item first. */
export function withLifted(list: readonly Entry[], lifted: readonly Entry[]): Entry[] {
  return lifted.length ? [...list, ...lifted].sort((a, b) => b.score - a.score) : [...list];
}

/**
 * A score as answers show it: 6 decimals, but never fewer than 4 significant digits, so a small
 * positive score (an imported job's weights rescaled by a power of two, a far-down blend) is
 * not shown as 0 beside the larger ones it ranks below.
 */
export const roundScore = (x: number): number => (Math.abs(x) >= 1e-3 || x === 0 ? Number(x.toFixed(6)) : Number(x.toPrecision(4)));

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
      score: roundScore(e.score),
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
