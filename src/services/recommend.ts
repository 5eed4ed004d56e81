/**
 * Recommendation logic as plain functions over one ServingModel (never a Hono Context):
 * personalised top-k for a known user, session/basket fold-in, similar items, and candidate
 * scoring. Every function uses a single model version from start to end.
 */
import type { WeightedItem } from '@edge-recs/core/foldin';
import type { Scored } from '@edge-recs/core/topk';
import type { ItemInfo } from '../models/catalog';
import type { ServingModel } from '../models/model';
import type { Recommendation, RecommendedItem, Source } from '../schemas';
import type { UserRecord } from './users';

export type { Recommendation };

function itemsOf(info: readonly ItemInfo[], scores: ArrayLike<number>): RecommendedItem[] {
  return info.map(({ id, title }, j) => ({ id, score: Number(scores[j].toFixed(6)), title }));
}

async function present(model: ServingModel, scored: readonly Scored[]): Promise<RecommendedItem[]> {
  return itemsOf(
    await model.catalog.describe(scored.map((s) => s.index)),
    scored.map((s) => s.score),
  );
}

/** Most popular items (share of training users who bought each), skipping `exclude`. */
export async function popular(model: ServingModel, k: number, exclude: ReadonlySet<number> = new Set()): Promise<Recommendation> {
  const users = Math.max(1, model.manifest.userCount);
  const { items, counts } = model.catalog.popular;
  const out: Scored[] = [];
  for (let j = 0; j < items.length && out.length < k; j++) {
    if (!exclude.has(items[j])) out.push({ index: items[j], score: counts[j] / users });
  }
  return { model: model.version, source: 'popular', items: await present(model, out) };
}

export async function forUser(model: ServingModel, user: UserRecord | null, k: number, excludePurchased: boolean): Promise<Recommendation> {
  if (!user) return popular(model, k);
  const exclude = excludePurchased ? user.items : [];
  const scored = await model.scorer.topK(user.vector, k, exclude);
  return { model: model.version, source: 'personalized', items: await present(model, scored) };
}

/** Splits request item ids into known model indices (with summed strengths) and unknown ids. */
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
  model: ServingModel,
  ids: readonly string[],
  k: number,
  excludeGiven: boolean,
  strengths?: readonly number[],
): Promise<Recommendation> {
  const { items, unknown } = resolveItems(model, ids, strengths);
  const given = new Set(items.map((x) => x.index));
  if (items.length === 0) {
    return { ...(await popular(model, k)), ignoredItems: unknown };
  }
  const scored = await model.scorer.topK(sessionVector(model, items), k, excludeGiven ? given : []);
  const rec: Recommendation = { model: model.version, source: 'session', items: await present(model, scored) };
  if (unknown.length) rec.ignoredItems = unknown;
  return rec;
}

/** Items whose factors point the same way (cosine similarity), excluding the item itself. */
export async function similar(model: ServingModel, index: number, k: number): Promise<Recommendation> {
  return { model: model.version, source: 'similar', items: await present(model, model.scorer.similar(index, k)) };
}

/** Scores for the caller's candidates in the given order; unknown candidates are reported. */
export async function scoreCandidates(
  model: ServingModel,
  vector: Float32Array | null,
  source: Source,
  candidates: readonly string[],
): Promise<Recommendation> {
  // one lookup per candidate: known ones keep their order (and repeats), unknown ones are listed once
  const known: number[] = [];
  const unknown: string[] = [];
  for (const id of candidates) {
    const index = model.ids.indexOf(id);
    if (index !== undefined) known.push(index);
    else if (!unknown.includes(id)) unknown.push(id);
  }
  const info = await model.catalog.describe(known);
  const users = Math.max(1, model.manifest.userCount);
  const scores = vector ? model.scorer.dots(vector, known) : info.map((x) => x.count / users);
  const rec: Recommendation = { model: model.version, source: vector ? source : 'popular', items: itemsOf(info, scores) };
  if (unknown.length) rec.ignoredItems = unknown;
  return rec;
}

/**
 * Catalogue search over the most popular items (catalog/popular.json, up to 10,000): every query
 * word must appear in the title or id; most popular first.
 */
export function searchCatalog(model: ServingModel, query: string, limit: number): { id: string; title: string; popularity: number }[] {
  const words = query.toUpperCase().split(/\s+/).filter(Boolean);
  const users = Math.max(1, model.manifest.userCount);
  const { items, titles, counts } = model.catalog.popular;
  const out: { id: string; title: string; popularity: number }[] = [];
  for (let j = 0; j < items.length && out.length < limit; j++) {
    const id = model.ids.id(items[j]);
    const haystack = `${titles[j]} ${id}`.toUpperCase();
    if (words.every((w) => haystack.includes(w))) out.push({ id, title: titles[j], popularity: counts[j] / users });
  }
  return out;
}
