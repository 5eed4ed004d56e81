/**
 * "Bought together": the item model fitted on baskets (Online Retail invoices, or a generic
 * `session_id`) instead of users, so its neighbours are what goes into the same order. Learned
 * with the same EASE/EDLAE solver and popularity debiasing (model/item-model.ts) rather than
 * raw co-occurrence counts, which rank bestsellers next to everything.
 *
 * The regression still gives an item found in nearly every basket a positive weight from every
 * other item (it "predicts" that item well), yet being bought with everything says nothing about
 * being bought with this: its lift is 1. So the fitted lists pass an association gate: item k
 * stays in item j's list only if the baskets holding both outnumber what independence predicts
 * by `associationZ` binomial standard deviations (O_jk − c_j·p_k > z·√(c_j·p_k·(1 − p_k)),
 * p_k = c_k / baskets). The fit keeps twice N candidates so the gate seldom leaves a list short.
 *
 * The sanity checks here compare it with raw co-occurrence, popularity and the user-level
 * model: how popular the listed neighbours are, how much the lists overlap, and how well each
 * completes held-out baskets (leave one item out, predict it from the rest).
 */

import { type ItemModelParams, type NeighbourLists, quantise } from './item-model';
import { type SolverOptions, solverFor } from './item-solvers';
import { Rng } from './rng';
import { type Csr, selectRows, transpose } from './sparse';

export interface BoughtTogetherParams extends ItemModelParams {
  /** z: standard deviations by which a pair's shared baskets must beat independence (0: only more than expected) */
  associationZ: number;
}

/** Baskets differ from user histories (smaller, more of them): a lighter debias keeps lists on topic. */
export const DEFAULT_BOUGHT_TOGETHER: BoughtTogetherParams = {
  lambda: 200,
  dropout: 0.5,
  popularityDebias: 0.25,
  neighbours: 20,
  weightType: 'int8',
  associationZ: 2,
};

/**
 * @param baskets  baskets × items; only which entries are non-zero matters
 */
export async function boughtTogether(
  baskets: Csr,
  params: BoughtTogetherParams = DEFAULT_BOUGHT_TOGETHER,
  solver: SolverOptions = {},
): Promise<NeighbourLists> {
  // candidates in float16, quantised once after the gate: int8 rows are scaled to their largest
  // weight, so re-quantising what survives a dropped head would leave it on the head's coarse grid
  const candidates = await solverFor(baskets.cols, solver).fit(baskets, {
    ...params,
    neighbours: params.neighbours * 2,
    weightType: 'float16',
  });
  return associationGate(candidates, baskets, params.associationZ, params.neighbours, params.weightType);
}

/**
 * Drops from each list the neighbours not bought with the item more often than chance (see the
 * header), keeps the first `keep` of the rest in order and stores them as `weightType`.
 * @param lists  candidates, best first, stored finer than the result (float16 for an int8 result)
 * Cost: one pass over every basket per item in it, Σ|basket|², as the Gram matrix.
 */
export function associationGate(
  lists: NeighbourLists,
  baskets: Csr,
  z: number,
  keep: number,
  weightType: ItemModelParams['weightType'],
): NeighbourLists {
  const n = lists.itemCount;
  const byItem = transpose(baskets);
  const total = baskets.rows;
  const count = new Float64Array(n);
  for (let j = 0; j < n; j++) count[j] = byItem.rowPtr[j + 1] - byItem.rowPtr[j];
  // slot[k] = position of k in j's candidate list + 1 (0: not a candidate), reset after each row
  const slot = new Int32Array(n);
  let longest = 0;
  for (let j = 0; j < n; j++) longest = Math.max(longest, lists.rowPtr[j + 1] - lists.rowPtr[j]);
  const shared = new Float64Array(longest);
  const rowPtr = new Int32Array(n + 1);
  const index: number[] = [],
    raw: number[] = [];
  for (let j = 0; j < n; j++) {
    const start = lists.rowPtr[j],
      end = lists.rowPtr[j + 1];
    for (let p = start; p < end; p++) slot[lists.index[p]] = p - start + 1;
    shared.fill(0, 0, end - start);
    for (let q = byItem.rowPtr[j]; q < byItem.rowPtr[j + 1]; q++) {
      if (byItem.values[q] === 0) continue;
      const b = byItem.colIdx[q];
      for (let t = baskets.rowPtr[b]; t < baskets.rowPtr[b + 1]; t++) {
        const s = slot[baskets.colIdx[t]];
        if (s && baskets.values[t] !== 0) shared[s - 1]++;
      }
    }
    let kept = 0;
    for (let p = start; p < end && kept < keep; p++) {
      const k = lists.index[p];
      slot[k] = 0;
      const share = count[k] / total;
      const expected = count[j] * share;
      const excess = shared[p - start] - expected;
      if (excess > 0 && excess > z * Math.sqrt(expected * (1 - share))) {
        index.push(k);
        raw.push(lists.weight[p]);
        kept++;
      }
    }
    for (let p = start; p < end; p++) slot[lists.index[p]] = 0;
    rowPtr[j + 1] = index.length;
  }
  return quantise({ n, rowPtr, index: Int32Array.from(index), raw }, weightType);
}

/** Top-N raw co-occurrence counts per item (the naive baseline), as neighbour lists with float weights. */
export function cooccurrenceLists(x: Csr, n: number): NeighbourLists {
  const t = transpose(x);
  const items = x.cols;
  const counts = new Float64Array(items);
  const rowPtr = new Int32Array(items + 1);
  const index: number[] = [],
    weight: number[] = [];
  for (let j = 0; j < items; j++) {
    counts.fill(0);
    for (let p = t.rowPtr[j]; p < t.rowPtr[j + 1]; p++) {
      const r = t.colIdx[p];
      for (let q = x.rowPtr[r]; q < x.rowPtr[r + 1]; q++) counts[x.colIdx[q]]++;
    }
    counts[j] = 0;
    const order = Array.from({ length: items }, (_, k) => k)
      .filter((k) => counts[k] > 0)
      .sort((a, b) => counts[b] - counts[a] || a - b)
      .slice(0, n);
    for (const k of order) {
      index.push(k);
      weight.push(counts[k]);
    }
    rowPtr[j + 1] = index.length;
  }
  return { itemCount: items, rowPtr, index: Int32Array.from(index), weight: Float32Array.from(weight), weightType: 'float16' };
}

/** Holds out a seeded fraction of the baskets (rows) for the completion check. */
export function splitBaskets(x: Csr, fraction: number, seed: number): { train: Csr; test: Csr; trainRows: number[] } {
  const rows = Array.from({ length: x.rows }, (_, r) => r);
  new Rng(seed).shuffle(rows);
  const cut = Math.round(x.rows * fraction);
  const trainRows = rows.slice(cut).sort((a, b) => a - b);
  return {
    test: selectRows(
      x,
      rows.slice(0, cut).sort((a, b) => a - b),
    ),
    train: selectRows(x, trainRows),
    trainRows,
  };
}

export interface ListStats {
  /** mean over items of the mean popularity percentile (0 = least, 1 = most popular) of their top-k */
  popularityPercentile: number;
  /** leave-one-out hit rate@10 on held-out baskets of ≥ 2 items */
  completionHitRate: number;
}

/**
 * @param popularity  per item, how many training rows contain it
 * @param heldOut     baskets never seen in training
 */
export function listStats(lists: NeighbourLists, popularity: ArrayLike<number>, heldOut: Csr, k = 10, seed = 1): ListStats {
  const n = lists.itemCount;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => popularity[a] - popularity[b] || a - b);
  const pct = new Float64Array(n);
  order.forEach((i, r) => {
    pct[i] = r / (n - 1);
  });
  let sum = 0,
    rows = 0;
  for (let j = 0; j < n; j++) {
    const end = Math.min(lists.rowPtr[j + 1], lists.rowPtr[j] + k);
    if (end === lists.rowPtr[j]) continue;
    let s = 0;
    for (let p = lists.rowPtr[j]; p < end; p++) s += pct[lists.index[p]];
    sum += s / (end - lists.rowPtr[j]);
    rows++;
  }
  const rng = new Rng(seed);
  let hits = 0,
    trials = 0;
  const scores = new Float64Array(n);
  for (let r = 0; r < heldOut.rows; r++) {
    const start = heldOut.rowPtr[r],
      size = heldOut.rowPtr[r + 1] - start;
    if (size < 2) continue;
    const target = heldOut.colIdx[start + rng.int(size)];
    scores.fill(0);
    const basket = new Set<number>();
    for (let p = start; p < start + size; p++) {
      const j = heldOut.colIdx[p];
      basket.add(j);
      if (j === target) continue;
      for (let q = lists.rowPtr[j]; q < lists.rowPtr[j + 1]; q++) scores[lists.index[q]] += lists.weight[q];
    }
    // rank of the target among items outside the rest of the basket; ties and zeros count against it
    const t = scores[target];
    let better = 0;
    if (t > 0) for (let i = 0; i < n; i++) if (i !== target && !basket.has(i) && scores[i] >= t) better++;
    if (t > 0 && better < 10) hits++;
    trials++;
  }
  return { popularityPercentile: rows ? sum / rows : 0, completionHitRate: trials ? hits / trials : 0 };
}

/** Fraction of the top-k lists' entries two models share, averaged over items with both lists. */
export function overlapAtK(a: NeighbourLists, b: NeighbourLists, k = 10): number {
  let sum = 0,
    rows = 0;
  for (let j = 0; j < a.itemCount; j++) {
    const la = a.index.subarray(a.rowPtr[j], Math.min(a.rowPtr[j + 1], a.rowPtr[j] + k));
    const lb = new Set(b.index.subarray(b.rowPtr[j], Math.min(b.rowPtr[j + 1], b.rowPtr[j] + k)));
    if (!la.length || !lb.size) continue;
    let shared = 0;
    for (const i of la) if (lb.has(i)) shared++;
    sum += shared / Math.min(la.length, lb.size);
    rows++;
  }
  return rows ? sum / rows : 0;
}

/** The same popular items for every item: the reference for "favours bestsellers". */
export function popularityLists(popularity: ArrayLike<number>, n: number): NeighbourLists {
  const items = popularity.length;
  const order = Array.from({ length: items }, (_, k) => k).sort((a, b) => popularity[b] - popularity[a] || a - b);
  const rowPtr = new Int32Array(items + 1),
    index: number[] = [],
    weight: number[] = [];
  for (let j = 0; j < items; j++) {
    for (const k of order.filter((k) => k !== j).slice(0, n)) {
      index.push(k);
      weight.push(popularity[k]);
    }
    rowPtr[j + 1] = index.length;
  }
  return { itemCount: items, rowPtr, index: Int32Array.from(index), weight: Float32Array.from(weight), weightType: 'float16' };
}
