/**
 * The shop's rules meet the model's scores: catalogue filters and a placement's boosts become a
 * ScoringPlan (applied inside the scorers), and a placement's pins, diversity cap and
 * exploration slots reshape the list the scorer returns.
 *
 * Filters (query parameters on GETs, a `filter` object in POST bodies, and a placement's default
 * filter): `categories` (any of), `minPrice`/`maxPrice` (items without a price never pass a price
 * bound), `exclude` (ids), `includeUnavailable` (default false). Deleted items never pass.
 * A request's fields override the placement's, and the two `exclude` lists add up.
 *
 * Boosts: `score · multiply + add` for items matching ids, a category or a declared facet
 * attribute, between `startsAt` and `endsAt` (campaigns expire by themselves). Boosts that match
 * the same item compose (multiplies multiply, adds add). `multiply` is meant for the positive
 * scores lists are made of; `add` shifts any score.
 */

import type { z } from 'zod';
import type { ScoringPlan } from '../inference/plan';
import type { CatalogBinding } from '../models/live-catalog';
import { categoriesOf, DELETED, facetKey, UNAVAILABLE } from '../models/live-catalog';
import type { FilteredOut as FilteredOutReason, StoredPlacement } from '../schemas';
import type { CatalogRecord } from '../storage/catalog-store';

export interface ItemFilter {
  categories?: string[];
  minPrice?: number;
  maxPrice?: number;
  exclude?: string[];
  includeUnavailable?: boolean;
}

export interface BoostRule {
  match: { ids?: string[]; category?: string; attribute?: { name: string; value: string | number | boolean } };
  multiply?: number;
  add?: number;
  startsAt?: string;
  endsAt?: string;
}

export interface PinRule {
  itemId: string;
  /** 1-based */
  position: number;
  endsAt?: string;
}

export type Fallback = 'popular' | 'trending' | 'new' | 'none';

export interface Placement {
  name: string;
  description?: string;
  filter?: ItemFilter;
  boosts?: BoostRule[];
  pins?: PinRule[];
  diversity?: { maxPerCategory: number };
  /** what an unknown user gets (default popular) */
  fallback?: Fallback;
  /** up to this many new items in personalised and session lists */
  explorationSlots?: number;
  updatedAt: number;
}

/** A filter as requests and placements write it (`category`: one name or several). */
export interface FilterInput {
  category?: string | string[];
  minPrice?: number;
  maxPrice?: number;
  exclude?: string[];
  includeUnavailable?: boolean;
}

export function toItemFilter(f: FilterInput | undefined): ItemFilter | undefined {
  if (!f) return undefined;
  return {
    categories: f.category === undefined ? undefined : Array.isArray(f.category) ? f.category : [f.category],
    minPrice: f.minPrice,
    maxPrice: f.maxPrice,
    exclude: f.exclude,
    includeUnavailable: f.includeUnavailable,
  };
}

/** Most boosts a placement may have: their combinations must fit the class byte (2^7 + filtered). */
export const MAX_BOOSTS = 7;

/** A stored placement (as an admin wrote it) as the rules it stands for: the one conversion. */
export function placementRules(stored: StoredPlacement): Placement {
  return { ...stored, filter: toItemFilter(stored.filter) };
}

/** The filter a request runs with: the placement's, overridden field by field by the request's. */
export function effectiveFilter(placement: Placement | undefined, request: ItemFilter | undefined): ItemFilter {
  const base = placement?.filter ?? {};
  const req = request ?? {};
  return {
    categories: req.categories ?? base.categories,
    minPrice: req.minPrice ?? base.minPrice,
    maxPrice: req.maxPrice ?? base.maxPrice,
    includeUnavailable: req.includeUnavailable ?? base.includeUnavailable ?? false,
    exclude: [...(base.exclude ?? []), ...(req.exclude ?? [])],
  };
}

const active = (r: { startsAt?: string; endsAt?: string }, now: number) =>
  !(r.startsAt && Date.parse(r.startsAt) > now) && !(r.endsAt && Date.parse(r.endsAt) <= now);

/** Boosts in force at `now`. */
export function activeBoosts(placement: Placement | undefined, now: number): BoostRule[] {
  return (placement?.boosts ?? []).filter((b) => active(b, now));
}

/** Pins in force at `now`, by position. */
export function activePins(placement: Placement | undefined, now: number): PinRule[] {
  return (placement?.pins ?? []).filter((p) => active(p, now)).sort((a, b) => a.position - b.position);
}

/** Why an item does not pass a filter (null: it passes). */
export type FilteredOut = z.infer<typeof FilteredOutReason>;

/** A filter compiled against one binding: fast per-index tests. */
export class CompiledFilter {
  private readonly categoryCodes: Set<number> | null;
  private readonly excluded: Set<string>;
  readonly filter: ItemFilter;

  constructor(
    readonly binding: CatalogBinding,
    given: ItemFilter,
  ) {
    // an empty category list means any category, as leaving it out does: the API refuses [] now,
    // but a placement stored before that rule still holds it and must not empty every list
    const filter = given.categories?.length === 0 ? { ...given, categories: undefined } : given;
    this.filter = filter;
    this.categoryCodes = filter.categories
      ? new Set(filter.categories.map((c) => binding.categories.find(c)).filter((c): c is number => c !== undefined))
      : null;
    this.excluded = new Set(filter.exclude ?? []);
  }

  /** Why item `index` (with id `id`) fails the filter, or null when it passes. */
  whyNot(index: number, id?: string): FilteredOut | null {
    const f = this.binding.flags[index];
    if (f & DELETED) return 'deleted';
    if (f & UNAVAILABLE && !this.filter.includeUnavailable) return 'unavailable';
    if (this.categoryCodes) {
      const codes = this.binding.categoryCodes(index);
      let hit = false;
      for (let j = 0; j < codes.length && !hit; j++) hit = this.categoryCodes.has(codes[j]);
      if (!hit) return 'category';
    }
    if (this.filter.minPrice !== undefined || this.filter.maxPrice !== undefined) {
      const p = this.binding.price[index];
      if (!(p >= (this.filter.minPrice ?? Number.NEGATIVE_INFINITY) && p <= (this.filter.maxPrice ?? Number.POSITIVE_INFINITY)))
        return 'price';
    }
    if (id !== undefined && this.excluded.has(id)) return 'excluded';
    return null;
  }

  passes(index: number): boolean {
    return this.whyNot(index) === null;
  }

  /** The same test for a catalogue record the model does not know (a new item). */
  recordWhyNot(r: {
    id: string;
    deleted?: true;
    available?: boolean;
    category?: string;
    categories?: string[];
    price?: number;
  }): FilteredOut | null {
    if (r.deleted) return 'deleted';
    if (r.available === false && !this.filter.includeUnavailable) return 'unavailable';
    if (this.filter.categories) {
      const mine = [r.category, ...(r.categories ?? [])];
      if (!this.filter.categories.some((c) => mine.includes(c))) return 'category';
    }
    if (this.filter.minPrice !== undefined || this.filter.maxPrice !== undefined) {
      const p = r.price ?? Number.NaN;
      if (!(p >= (this.filter.minPrice ?? Number.NEGATIVE_INFINITY) && p <= (this.filter.maxPrice ?? Number.POSITIVE_INFINITY)))
        return 'price';
    }
    if (this.excluded.has(r.id)) return 'excluded';
    return null;
  }

  /** Whether anything at all is filtered: no plan is needed when nothing is and nothing is boosted. */
  get trivial(): boolean {
    return !this.filter.categories && this.filter.minPrice === undefined && this.filter.maxPrice === undefined && !this.binding.hasFlags;
  }
}

/**
 * The plan for a filter and the boosts in force: class 0 for items that fail the filter, and one
 * class per combination of matching boosts (class 1: none), with the composed transform.
 * Exclusions by id are left to the scorers' exclusion set (they are few and per request).
 * Returns null when there is nothing to apply.
 */
export function buildPlan(filter: CompiledFilter, boosts: readonly BoostRule[]): ScoringPlan | null {
  if (filter.trivial && boosts.length === 0) return null;
  const b = filter.binding;
  const n = b.ids.count;
  const tests = boosts.slice(0, MAX_BOOSTS).map((rule): ((i: number) => boolean) => {
    const m = rule.match;
    if (m.ids) {
      const set = new Set(m.ids.map((id) => b.ids.indexOf(id)).filter((i): i is number => i !== undefined));
      return (i) => set.has(i);
    }
    if (m.category !== undefined) {
      const code = b.categories.find(m.category);
      return (i) => {
        if (code === undefined) return false;
        const codes = b.categoryCodes(i);
        for (let j = 0; j < codes.length; j++) if (codes[j] === code) return true;
        return false;
      };
    }
    if (m.attribute) {
      const facet = b.facets.get(m.attribute.name);
      const code = facet?.values.find(facetKey(m.attribute.value));
      return (i) => code !== undefined && facet?.codes[i] === code;
    }
    return () => false;
  });
  const classOf = new Map<number, number>([[0, 1]]);
  const transforms: number[] = [0, 0, 1, 0];
  const classes = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (!filter.passes(i)) continue;
    let combo = 0;
    for (let t = 0; t < tests.length; t++) if (tests[t](i)) combo |= 1 << t;
    let c = classOf.get(combo);
    if (c === undefined) {
      c = transforms.length / 2;
      classOf.set(combo, c);
      let mul = 1;
      let add = 0;
      for (let t = 0; t < tests.length; t++) {
        if (!(combo & (1 << t))) continue;
        mul *= boosts[t].multiply ?? 1;
        add += boosts[t].add ?? 0;
      }
      transforms.push(mul, add);
    }
    classes[i] = c;
  }
  return { classes, transforms: Float32Array.from(transforms) };
}

/** A boost's transform for one catalogue record, or null when no boost matches it. */
export type RecordBoost = (r: CatalogRecord) => { multiply: number; add: number } | null;

/**
 * The boosts as a test on catalogue records, for the items the plan's indices do not cover (new
 * items): the same rules as buildPlan's, matched on the record's id, categories and declared
 * (facet) attributes. Compiled once per request (id lists as sets), since it runs on every new
 * item a list considers. null when there are no boosts.
 */
export function compileRecordBoosts(binding: CatalogBinding, boosts: readonly BoostRule[]): RecordBoost | null {
  if (boosts.length === 0) return null;
  const rules = boosts.slice(0, MAX_BOOSTS).map((rule) => {
    const m = rule.match;
    const ids = m.ids ? new Set(m.ids) : null;
    const attr = m.attribute && binding.facets.has(m.attribute.name) ? m.attribute : null;
    // an attribute by type and value: a boost on `true` does not match the string "true", nor 1 the string "1"
    const test = (r: CatalogRecord): boolean =>
      ids
        ? ids.has(r.id)
        : m.category !== undefined
          ? categoriesOf(r).includes(m.category)
          : attr !== null && r.attributes?.[attr.name] === attr.value;
    return { test, multiply: rule.multiply ?? 1, add: rule.add ?? 0 };
  });
  return (r) => {
    let multiply = 1;
    let add = 0;
    let matched = false;
    for (const rule of rules) {
      if (!rule.test(r)) continue;
      matched = true;
      multiply *= rule.multiply;
      add += rule.add;
    }
    return matched ? { multiply, add } : null;
  };
}

/** Whether a boost changed item `index`'s score (for explaining a list). */
export function isBoosted(plan: ScoringPlan | null, index: number): boolean {
  if (!plan) return false;
  const c = plan.classes[index];
  return c > 1 && (plan.transforms[2 * c] !== 1 || plan.transforms[2 * c + 1] !== 0);
}
