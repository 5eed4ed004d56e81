/**
 * Side-by-side strong-generalisation evaluation (the protocol of model/evaluate.ts) of everything
 * the item model is judged against, on one split seed:
 *
 * - popularity: training users per item
 * - iALS alone: fold-in of the basket, dot products (what the edge serves today)
 * - item model alone: the sparse, quantised neighbour lists summed over the basket
 * - blend: the served score of model/blend.ts
 * - dense EASE (Steck 2019) for every λ of a grid, input the binary row of the folded-in items;
 *   the report keeps every λ, and `bestEase` takes each metric's maximum over the grid on the
 *   test users themselves (a baseline tuned on test: stronger than any honest tuning, so the
 *   comparison is conservative)
 *
 * - other item solvers (e.g. local EASE beside exact): the item model alone and the blend again,
 *   with the same iALS model, so only the neighbour lists differ
 *
 * The folded-in items come with their training strengths (e.g. purchase lines); a client posting
 * `{"items":[…]}` sends none, so iALS and the blend are also scored with strength 1 per item.
 */
import { foldIn, type WeightedItem } from '@edge-recs/core/foldin';
import { gram } from '@edge-recs/core/linalg';
import { topK } from '@edge-recs/core/topk';
import { type BlendModel, type BlendParams, blendScores, factorStats } from './blend';
import { type EvaluationReport, evaluatePopularity, type Metrics, rankingMetrics, type Split, strongGeneralizationSplit } from './evaluate';
import type { IalsModel, IalsParams } from './ials';
import { trainIalsParallel } from './ials-parallel';
import { denseEase, type ItemModelParams, itemGram, type NeighbourLists } from './item-model';
import { type SolverOptions, solverFor } from './item-solvers';
import type { Csr } from './sparse';

export interface CompareOptions {
  seed: number;
  ials: IalsParams;
  item: ItemModelParams;
  blend: BlendParams;
  /** λ grid of dense EASE (empty: skip it) */
  easeLambdas: number[];
  /** the item model's solver (default: auto, exact up to MAX_EXACT_ITEMS) */
  solver?: SolverOptions;
  /** further solvers scored beside it on the same split and iALS model */
  otherSolvers?: SolverOptions[];
  /** the split to use, when the caller already cut it (e.g. another holdout fraction); else strongGeneralizationSplit(m, {seed}) */
  split?: Split;
  threads?: number;
  log?: (line: string) => void;
}

export interface SeedReport {
  seed: number;
  testUsers: number;
  trainUsers: number;
  popularity: Metrics;
  ials: Metrics;
  ialsStrength1: Metrics;
  item: Metrics;
  blend: Metrics;
  blendStrength1: Metrics;
  ease: { lambda: number; metrics: Metrics }[];
  /** per metric, the maximum over the λ grid (and the λ that reached it) */
  bestEase: Metrics & { lambda: Record<keyof Metrics, number> };
  seconds: { ials: number; item: number; easePerLambda: number };
  /** one entry per `otherSolvers` */
  others: { solver: string; item: Metrics; blend: Metrics; blendStrength1: Metrics; seconds: number }[];
}

/**
 * A split's comparison as the artifact's manifest records it: the protocol, and what is served
 * (the blend) beside popularity, the factors alone and the item model alone.
 */
export function servedReport(r: SeedReport, holdoutFraction: number): EvaluationReport {
  return {
    protocol: {
      name: 'strong-generalization',
      seed: r.seed,
      holdoutFraction,
      minItems: 5,
      foldInFraction: 0.8,
      testUsers: r.testUsers,
      trainUsers: r.trainUsers,
    },
    model: r.blend,
    popularity: r.popularity,
    factors: r.ials,
    itemModel: r.item,
  };
}

function mean(all: Metrics[]): Metrics {
  const out: Metrics = { 'recall@20': 0, 'recall@50': 0, 'ndcg@100': 0 };
  for (const m of all) for (const k of Object.keys(out) as (keyof Metrics)[]) out[k] += m[k] / all.length;
  return out;
}

/** Ranks every test user with `score` (basket items excluded) and averages the metrics. */
export function evaluateScorer(test: Split['test'], score: (basket: readonly WeightedItem[]) => ArrayLike<number>): Metrics {
  return mean(
    test.map((t) => {
      const ranked = topK(score(t.foldIn), 100, new Set(t.foldIn.map((x) => x.index))).map((s) => s.index);
      return rankingMetrics(ranked, t.heldOut);
    }),
  );
}

export const strengthOne = (basket: readonly WeightedItem[]): WeightedItem[] => basket.map((b) => ({ index: b.index, strength: 1 }));

/** Everything needed to score a basket with the trained models of one split. */
export interface TrainedModels {
  ials: IalsModel;
  lists: NeighbourLists;
  blend: BlendModel;
  foldInGram: Float64Array;
}

export async function trainModels(
  train: Csr,
  opts: Pick<CompareOptions, 'ials' | 'item' | 'blend' | 'threads' | 'solver'>,
): Promise<TrainedModels & { seconds: { ials: number; item: number } }> {
  const t0 = performance.now();
  const ials = await trainIalsParallel(train, opts.ials, { threads: opts.threads });
  const t1 = performance.now();
  const lists = await solverFor(train.cols, opts.solver).fit(train, opts.item);
  const t2 = performance.now();
  return { ...assemble(ials, lists, opts.blend), seconds: { ials: (t1 - t0) / 1000, item: (t2 - t1) / 1000 } };
}

export function assemble(ials: IalsModel, lists: NeighbourLists, params: BlendParams): TrainedModels {
  const blend: BlendModel = {
    itemFactors: ials.itemFactors,
    dims: ials.dims,
    itemCount: ials.itemCount,
    stats: factorStats(ials.itemFactors, ials.itemCount, ials.dims),
    lists,
    params,
  };
  return { ials, lists, blend, foldInGram: gram(ials.itemFactors, ials.itemCount, ials.dims, ials.itemWeights) };
}

export function userVector(m: TrainedModels, basket: readonly WeightedItem[]): Float32Array {
  const { ials } = m;
  return foldIn(ials.itemFactors, m.foldInGram, ials.dims, ials.itemCount, ials.params, basket, ials.itemWeights);
}

export function factorScores(m: TrainedModels, basket: readonly WeightedItem[]): Float64Array {
  const u = userVector(m, basket);
  const { itemFactors: y, dims: D, itemCount } = m.ials;
  const s = new Float64Array(itemCount);
  for (let i = 0; i < itemCount; i++) {
    let v = 0;
    for (let d = 0; d < D; d++) v += y[i * D + d] * u[d];
    s[i] = v;
  }
  return s;
}

export function itemScores(lists: NeighbourLists, basket: readonly WeightedItem[]): Float64Array {
  const s = new Float64Array(lists.itemCount);
  for (const { index } of basket) for (let p = lists.rowPtr[index]; p < lists.rowPtr[index + 1]; p++) s[lists.index[p]] += lists.weight[p];
  return s;
}

export function blendFor(m: TrainedModels, basket: readonly WeightedItem[]): Float64Array {
  return blendScores(m.blend, userVector(m, basket), basket);
}

/** Dense EASE scores x·B for the binary basket row. */
function easeScores(b: Float64Array, n: number, basket: readonly WeightedItem[]): Float64Array {
  const s = new Float64Array(n);
  for (const { index } of basket) {
    const row = index * n;
    for (let k = 0; k < n; k++) s[k] += b[row + k];
  }
  return s;
}

export async function compareSeed(m: Csr, opts: CompareOptions): Promise<SeedReport> {
  const log = opts.log ?? (() => {});
  const split = opts.split ?? strongGeneralizationSplit(m, { seed: opts.seed });
  // averages over no users would read as measured zeros
  if (split.test.length === 0) throw new Error(`seed ${opts.seed}: the split holds out no users, there is nothing to measure`);
  const models = await trainModels(split.train, opts);
  log(`seed ${opts.seed}: iALS ${models.seconds.ials.toFixed(1)}s, item model ${models.seconds.item.toFixed(1)}s`);
  const t = split.test;
  const report: Omit<SeedReport, 'ease' | 'bestEase' | 'seconds' | 'others'> = {
    seed: opts.seed,
    testUsers: t.length,
    trainUsers: split.trainUsers.length,
    popularity: evaluatePopularity(split.train, t),
    ials: evaluateScorer(t, (b) => factorScores(models, b)),
    ialsStrength1: evaluateScorer(t, (b) => factorScores(models, strengthOne(b))),
    item: evaluateScorer(t, (b) => itemScores(models.lists, b)),
    blend: evaluateScorer(t, (b) => blendFor(models, b)),
    blendStrength1: evaluateScorer(t, (b) => blendFor(models, strengthOne(b))),
  };
  const others: SeedReport['others'] = [];
  for (const s of opts.otherSolvers ?? []) {
    const t0 = performance.now();
    const solver = solverFor(m.cols, s);
    const lists = await solver.fit(split.train, opts.item);
    const seconds = (performance.now() - t0) / 1000;
    log(`seed ${opts.seed}: ${solver.name} ${seconds.toFixed(1)}s`);
    const other = assemble(models.ials, lists, opts.blend);
    others.push({
      solver: solver.name,
      item: evaluateScorer(t, (b) => itemScores(lists, b)),
      blend: evaluateScorer(t, (b) => blendFor(other, b)),
      blendStrength1: evaluateScorer(t, (b) => blendFor(other, strengthOne(b))),
      seconds,
    });
  }
  const ease: SeedReport['ease'] = [];
  let easeSeconds = 0;
  if (opts.easeLambdas.length) {
    const g = itemGram(split.train);
    for (const lambda of opts.easeLambdas) {
      const t0 = performance.now();
      const { b } = await denseEase(g, m.cols, lambda, 0);
      easeSeconds = (performance.now() - t0) / 1000;
      ease.push({ lambda, metrics: evaluateScorer(t, (basket) => easeScores(b, m.cols, basket)) });
      log(
        `seed ${opts.seed}: dense EASE λ=${lambda} ${easeSeconds.toFixed(1)}s ndcg@100=${ease[ease.length - 1].metrics['ndcg@100'].toFixed(4)}`,
      );
    }
  }
  const bestEase = {
    'recall@20': 0,
    'recall@50': 0,
    'ndcg@100': 0,
    lambda: { 'recall@20': 0, 'recall@50': 0, 'ndcg@100': 0 },
  } as SeedReport['bestEase'];
  for (const e of ease)
    for (const k of ['recall@20', 'recall@50', 'ndcg@100'] as const)
      if (e.metrics[k] > bestEase[k]) {
        bestEase[k] = e.metrics[k];
        bestEase.lambda[k] = e.lambda;
      }
  return { ...report, ease, bestEase, seconds: { ...models.seconds, easePerLambda: easeSeconds }, others };
}
