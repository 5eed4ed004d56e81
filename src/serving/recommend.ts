/**
 * Recommendation logic as plain functions over one ServingModel (never a Hono Context):
 * personalised top-k for a known user, session/basket fold-in, similar items, and candidate
 * scoring. Every function uses a single model version from start to end.
 */
import { foldIn, type WeightedItem } from '../core/foldin';
import type { Scored } from '../core/topk';
import { topK } from '../core/topk';
import type { ServingModel } from './model';
import type { UserRecord } from './users';

export type Source = 'personalized' | 'session' | 'popular' | 'similar';

export interface RecommendedItem {
  id: string;
  score: number;
  title: string;
}

export interface Recommendation {
  model: string;
  source: Source;
  items: RecommendedItem[];
  /** request items the model does not know (ignored) */
  ignoredItems?: string[];
}

function present(model: ServingModel, scored: readonly Scored[]): RecommendedItem[] {
  return scored.map(({ index, score }) => ({
    id: model.catalog.ids[index],
    score: Number(score.toFixed(6)),
    title: model.catalog.titles[index],
  }));
}

/** Most popular items (share of training users who bought each), skipping `exclude`. */
export function popular(model: ServingModel, k: number, exclude: ReadonlySet<number> = new Set()): Recommendation {
  const users = Math.max(1, model.manifest.userCount);
  const out: Scored[] = [];
  for (const index of model.catalog.popularity) {
    if (out.length >= k) break;
    if (!exclude.has(index)) out.push({ index, score: model.catalog.counts[index] / users });
  }
  return { model: model.version, source: 'popular', items: present(model, out) };
}

export async function forUser(model: ServingModel, user: UserRecord | null, k: number, excludePurchased: boolean): Promise<Recommendation> {
  if (!user) return popular(model, k);
  const exclude = excludePurchased ? user.items : [];
  const scored = await model.scorer.topK(user.vector, k, exclude);
  return { model: model.version, source: 'personalized', items: present(model, scored) };
}

/** Splits request item ids into known model indices (with summed strengths) and unknown ids. */
export function resolveItems(model: ServingModel, ids: readonly string[], strengths?: readonly number[]): { items: WeightedItem[]; unknown: string[] } {
  const byIndex = new Map<number, number>();
  const unknown: string[] = [];
  ids.forEach((id, j) => {
    const index = model.indexById.get(id);
    if (index === undefined) {
      if (!unknown.includes(id)) unknown.push(id);
    } else byIndex.set(index, (byIndex.get(index) ?? 0) + (strengths?.[j] ?? 1));
  });
  return { items: [...byIndex].map(([index, strength]) => ({ index, strength })), unknown };
}

/** The transient user vector of a basket/session: the ALS user step over the given items. */
export function sessionVector(model: ServingModel, items: readonly WeightedItem[]): Float32Array {
  return foldIn(model.itemFactors, model.gram, model.dims, model.itemCount, model.manifest.foldIn, items, model.itemWeights);
}

export async function forBasket(model: ServingModel, ids: readonly string[], k: number, excludeGiven: boolean, strengths?: readonly number[]): Promise<Recommendation> {
  const { items, unknown } = resolveItems(model, ids, strengths);
  const given = new Set(items.map((x) => x.index));
  if (items.length === 0) {
    return { ...popular(model, k), ignoredItems: unknown };
  }
  const scored = await model.scorer.topK(sessionVector(model, items), k, excludeGiven ? given : []);
  const rec: Recommendation = { model: model.version, source: 'session', items: present(model, scored) };
  if (unknown.length) rec.ignoredItems = unknown;
  return rec;
}

/** Items whose factors point the same way (cosine similarity), excluding the item itself. */
export function similar(model: ServingModel, index: number, k: number): Recommendation {
  const { dims, itemFactors, inverseNorms, itemCount } = model;
  const scores = new Float32Array(itemCount);
  const q = index * dims;
  const qn = inverseNorms[index];
  for (let i = 0; i < itemCount; i++) {
    let s = 0;
    const o = i * dims;
    for (let d = 0; d < dims; d++) s += itemFactors[o + d] * itemFactors[q + d];
    scores[i] = s * qn * inverseNorms[i];
  }
  return { model: model.version, source: 'similar', items: present(model, topK(scores, k, new Set([index]))) };
}

/** Scores for the caller's candidates in the given order; unknown candidates are reported. */
export async function scoreCandidates(model: ServingModel, vector: Float32Array | null, source: Source, candidates: readonly string[]): Promise<Recommendation> {
  const { unknown } = resolveItems(model, candidates);
  const known = candidates.filter((id) => model.indexById.has(id));
  let all: ArrayLike<number>;
  if (vector) all = await model.scorer.scores(vector);
  else {
    const users = Math.max(1, model.manifest.userCount);
    all = model.catalog.counts.map((c) => c / users);
  }
  const scored = known.map((id) => ({ index: model.indexById.get(id)!, score: all[model.indexById.get(id)!] }));
  const rec: Recommendation = { model: model.version, source: vector ? source : 'popular', items: present(model, scored) };
  if (unknown.length) rec.ignoredItems = unknown;
  return rec;
}

/** Catalogue search: every query word must appear in the title; most popular first. */
export function searchCatalog(model: ServingModel, query: string, limit: number): { id: string; title: string; popularity: number }[] {
  const words = query.toUpperCase().split(/\s+/).filter(Boolean);
  const users = Math.max(1, model.manifest.userCount);
  const out: { id: string; title: string; popularity: number }[] = [];
  for (const index of model.catalog.popularity) {
    if (out.length >= limit) break;
    const title = model.catalog.titles[index];
    const haystack = `${title} ${model.catalog.ids[index]}`.toUpperCase();
    if (words.every((w) => haystack.includes(w))) out.push({ id: model.catalog.ids[index], title, popularity: model.catalog.counts[index] / users });
  }
  return out;
}
