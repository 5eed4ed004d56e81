/**
 * Ranking with the item model beside the factors (core/blend.ts says what is computed):
 *   s_i = a·(u·y_i − u·ȳ)/√(uᵀΣu) + (1 − a)·n_i/rms(n),   then the plan's transform of i's class.
 * The factor part is an increasing affine map of u·y_i, so it folds into the plan's per-class
 * transforms and the scorer ranks it inside its kernel; the neighbour part touches only the
 * items the basket's lists name (≤ |basket|·N), which are left out of the kernel and scored
 * exactly here. The top-k of the union is the exact top-k of s. Without an item model this is
 * the scorer's plain top-k of u·y_i.
 */
import { neighbourInput, neighbourScores, zParams } from '@edge-recs/core/blend';
import type { WeightedItem } from '@edge-recs/core/foldin';
import { type Scored, TopHeap } from '@edge-recs/core/topk';
import type { ScoringPlan } from '../inference/plan';
import type { NeighbourRow } from '../models/item-model';
import type { ServingModel } from '../models/model';

/** What ranking a basket needs besides the kernel: the blend's map and the basket's neighbour scores. */
export interface BlendContext {
  /** s = mul·(u·y) + add for items no list touches */
  mul: number;
  add: number;
  /** (1 − a)·n_i/rms for touched items */
  boost: Map<number, number>;
  /** the basket items' own lists, by basket position (for explanations) */
  rows: NeighbourRow[];
}

export async function blendContext(
  model: ServingModel,
  u: ArrayLike<number>,
  basket: readonly WeightedItem[],
): Promise<BlendContext | null> {
  const im = model.itemModel;
  if (!im) return null;
  const a = im.blend.factorWeight;
  const { shift, scale } = zParams(im.stats, u);
  const rows = await im.neighbours.rows(basket.map((b) => b.index));
  const byItem = new Map(basket.map((b, j) => [b.index, rows[j]]));
  const { scores, rms } = neighbourScores((i) => byItem.get(i) ?? { index: [], weight: [] }, basket, im.blend, model.itemCount);
  // the scores become the boosts in place (one Map per request, not two)
  if (rms > 0) for (const [i, n] of scores) scores.set(i, ((1 - a) * n) / rms);
  else scores.clear();
  return { mul: a / scale, add: (-a * shift) / scale, boost: scores, rows };
}

/** The plan with the blend's affine map folded into every class's transform. */
function withBlend(plan: ScoringPlan, mul: number, add: number): ScoringPlan {
  const t = Float32Array.from(plan.transforms);
  for (let c = 1; c < t.length / 2; c++) {
    const m = plan.transforms[2 * c];
    t[2 * c] = m * mul;
    t[2 * c + 1] = plan.transforms[2 * c + 1] + m * add;
  }
  return { classes: plan.classes, transforms: t };
}

/**
 * The top-k of the blended (and planned) score for user vector `u` and basket/history `basket`,
 * skipping `exclude`.
 */
export async function rank(
  model: ServingModel,
  u: Float32Array,
  basket: readonly WeightedItem[],
  k: number,
  exclude: Set<number>,
  plan: ScoringPlan | null,
): Promise<Scored[]> {
  const ctx = await blendContext(model, u, basket);
  if (!ctx) return model.scorer.topK(u, k, exclude, plan ?? undefined);
  // the touched items, in index order (the heap breaks ties by offering order), scored exactly
  const kernelExclude = new Set(exclude);
  const candidates = new Int32Array(ctx.boost.size);
  let n = 0;
  for (const i of ctx.boost.keys()) {
    kernelExclude.add(i);
    if (!exclude.has(i) && (plan?.classes[i] ?? 1) !== 0) candidates[n++] = i;
  }
  const touched = Array.from(candidates.subarray(0, n).sort());
  const fromKernel = plan
    ? await model.scorer.topK(u, k, kernelExclude, withBlend(plan, ctx.mul, ctx.add))
    : (await model.scorer.topK(u, k, kernelExclude)).map((s) => ({ index: s.index, score: ctx.mul * s.score + ctx.add }));
  fromKernel.sort((x, y) => x.index - y.index);
  const dots = model.scorer.dots(u, touched);
  const heap = new TopHeap(k);
  let p = 0;
  touched.forEach((i, j) => {
    for (; p < fromKernel.length && fromKernel[p].index < i; p++) heap.offer(fromKernel[p].index, fromKernel[p].score);
    let s = ctx.mul * dots[j] + ctx.add + (ctx.boost.get(i) ?? 0);
    if (plan) {
      const c = plan.classes[i];
      s = s * plan.transforms[2 * c] + plan.transforms[2 * c + 1];
    }
    heap.offer(i, s);
  });
  for (; p < fromKernel.length; p++) heap.offer(fromKernel[p].index, fromKernel[p].score);
  return heap.sorted();
}

/** Blended scores of given items (re-ranking a caller's candidates), before any plan. */
export async function blendedScores(
  model: ServingModel,
  u: Float32Array,
  basket: readonly WeightedItem[],
  items: readonly number[],
): Promise<Float64Array> {
  const dots = model.scorer.dots(u, items);
  const ctx = await blendContext(model, u, basket);
  if (!ctx) return Float64Array.from(dots);
  return Float64Array.from(items, (i, j) => ctx.mul * dots[j] + ctx.add + (ctx.boost.get(i) ?? 0));
}

/**
 * Why each item ranks: the one to three basket/history items contributing most to its score —
 * through their neighbour lists when the item model names it (each list's term of n_i: its weight
 * times its item's input, 1 or 1 + log1p(strength)), otherwise through the factor part:
 * the exact split of the folded-in user's score (centred as the blend ranks it) over the basket
 * (ServingModel.factorContributions), positive shares only. For a user with a trained vector the
 * split is of their history's fold-in, which the trainer's user step approximates. An item of the
 * basket itself is explained by the others only, so it has no reasons when nothing else raises it
 * (the one item of a one-item basket, shown again).
 */
export async function because(
  model: ServingModel,
  basket: readonly WeightedItem[],
  items: readonly number[],
  max = 3,
): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  if (basket.length === 0) return out;
  const im = model.itemModel;
  const rows = im ? await im.neighbours.rows(basket.map((b) => b.index)) : [];
  // a list's weight times its basket item's input (1, or 1 + log1p(strength)): its term of n_i
  const inputs = im ? basket.map((b) => neighbourInput(im.blend, b.strength)) : [];
  const viaLists = new Map<number, { j: number; c: number }[]>();
  for (const i of items) {
    const named: { j: number; c: number }[] = [];
    rows.forEach((row, j) => {
      const p = row.index.indexOf(i);
      if (p >= 0 && basket[j].index !== i) named.push({ j, c: inputs[j] * row.weight[p] });
    });
    if (named.length) viaLists.set(i, named);
  }
  const rest = items.filter((i) => !viaLists.has(i));
  // with an item model the factor part ranks by u·(y − ȳ) (core/blend.ts): that is what is split
  const shares = model.factorContributions(basket, rest, im?.stats.mean);
  const viaFactors = new Map(
    rest.map((i, t) => [i, Array.from(shares[t], (c, j) => ({ j, c })).filter((x) => x.c > 0 && basket[x.j].index !== i)]),
  );
  for (const i of items) {
    const ranked = viaLists.get(i) ?? viaFactors.get(i) ?? [];
    ranked.sort((x, y) => y.c - x.c || x.j - y.j);
    out.set(
      i,
      ranked.slice(0, max).map((x) => basket[x.j].index),
    );
  }
  return out;
}
