/**
 * Strong-generalisation evaluation: the held-out users are never seen in training.
 *
 * A seeded random `holdoutFraction` of the users with ≥ `minItems` items is removed from the
 * training matrix. For each of them a random 80% of their items is folded in (the same user step
 * the edge runs for a basket) and all items except the folded-in ones are ranked to predict the
 * remaining 20%:
 *   Recall@K = hits@K / min(K, |held-out|)          NDCG@K with binary gains, ideal over min(K, |held-out|)
 * A popularity ranking (number of training users per item) is scored on the same split.
 */
import { type FoldInParams, foldIn, type WeightedItem } from '@edge-recs/core/foldin';
import { gram } from '@edge-recs/core/linalg';
import { scoreAll, topK } from '@edge-recs/core/topk';
import { type IalsParams, trainIals } from './ials';
import { type ParallelOptions, trainIalsParallel } from './ials-parallel';
import { Rng } from './rng';
import { type Csr, selectRows } from './sparse';

export interface Metrics {
  'recall@20': number;
  'recall@50': number;
  'ndcg@100': number;
}

export interface EvaluationReport {
  protocol: {
    name: 'strong-generalization';
    seed: number;
    holdoutFraction: number;
    minItems: number;
    foldInFraction: number;
    testUsers: number;
    trainUsers: number;
  };
  /** what is served: the blend when there is an item model, else iALS */
  model: Metrics;
  popularity: Metrics;
  /** iALS alone and the item model alone, when the served model is the blend */
  factors?: Metrics;
  itemModel?: Metrics;
}

export interface SplitOptions {
  seed: number;
  holdoutFraction?: number;
  minItems?: number;
  foldInFraction?: number;
}

export interface Split {
  train: Csr;
  /** per test user: items to fold in and items to predict */
  test: { foldIn: WeightedItem[]; heldOut: number[] }[];
  trainUsers: number[];
}

export function strongGeneralizationSplit(m: Csr, opts: SplitOptions): Split {
  const holdoutFraction = opts.holdoutFraction ?? 0.1;
  const minItems = opts.minItems ?? 5;
  const foldInFraction = opts.foldInFraction ?? 0.8;
  const rng = new Rng(opts.seed);
  const eligible: number[] = [];
  for (let u = 0; u < m.rows; u++) if (m.rowPtr[u + 1] - m.rowPtr[u] >= minItems) eligible.push(u);
  rng.shuffle(eligible);
  const testSet = new Set(eligible.slice(0, Math.round(eligible.length * holdoutFraction)));
  const trainUsers: number[] = [];
  const test: Split['test'] = [];
  for (let u = 0; u < m.rows; u++) {
    if (!testSet.has(u)) {
      trainUsers.push(u);
      continue;
    }
    const items: WeightedItem[] = [];
    for (let p = m.rowPtr[u]; p < m.rowPtr[u + 1]; p++) items.push({ index: m.colIdx[p], strength: m.values[p] });
    rng.shuffle(items);
    const nFold = Math.floor(items.length * foldInFraction);
    test.push({ foldIn: items.slice(0, nFold), heldOut: items.slice(nFold).map((x) => x.index) });
  }
  return { train: selectRows(m, trainUsers), test, trainUsers };
}

/** Scores one ranking against the held-out items. */
export function rankingMetrics(ranked: readonly number[], heldOut: readonly number[]): Metrics {
  const truth = new Set(heldOut);
  const hitsAt = (k: number) => ranked.slice(0, k).reduce((n, i) => n + (truth.has(i) ? 1 : 0), 0);
  let dcg = 0;
  for (let r = 0; r < Math.min(100, ranked.length); r++) if (truth.has(ranked[r])) dcg += 1 / Math.log2(r + 2);
  let idcg = 0;
  for (let r = 0; r < Math.min(100, truth.size); r++) idcg += 1 / Math.log2(r + 2);
  return {
    'recall@20': hitsAt(20) / Math.min(20, truth.size),
    'recall@50': hitsAt(50) / Math.min(50, truth.size),
    'ndcg@100': idcg > 0 ? dcg / idcg : 0,
  };
}

function mean(all: Metrics[]): Metrics {
  const out: Metrics = { 'recall@20': 0, 'recall@50': 0, 'ndcg@100': 0 };
  for (const m of all) for (const k of Object.keys(out) as (keyof Metrics)[]) out[k] += m[k];
  for (const k of Object.keys(out) as (keyof Metrics)[]) out[k] = all.length ? out[k] / all.length : 0;
  return out;
}

/** Ranks with fold-in + dot products over item factors (what the edge serves). */
export function evaluateFactors(
  itemFactors: Float32Array,
  itemCount: number,
  dims: number,
  params: FoldInParams,
  test: Split['test'],
  itemWeights?: Float32Array,
  /** factors used for scoring, when they differ from the fold-in's (e.g. dequantised int8) */
  scoringFactors: Float32Array = itemFactors,
): Metrics {
  const g = gram(itemFactors, itemCount, dims, itemWeights);
  const scores = new Float32Array(itemCount);
  const per: Metrics[] = [];
  for (const t of test) {
    const u = foldIn(itemFactors, g, dims, itemCount, params, t.foldIn, itemWeights);
    scoreAll(scoringFactors, itemCount, dims, u, scores);
    const ranked = topK(scores, 100, new Set(t.foldIn.map((x) => x.index))).map((s) => s.index);
    per.push(rankingMetrics(ranked, t.heldOut));
  }
  return mean(per);
}

export function evaluatePopularity(train: Csr, test: Split['test']): Metrics {
  const counts = new Float32Array(train.cols);
  for (let p = 0; p < train.rowPtr[train.rows]; p++) counts[train.colIdx[p]]++;
  return mean(
    test.map((t) =>
      rankingMetrics(
        topK(counts, 100, new Set(t.foldIn.map((x) => x.index))).map((s) => s.index),
        t.heldOut,
      ),
    ),
  );
}

/**
 * Trains on the training users of a fresh split and evaluates model and popularity.
 * `opts.threads` > 1 trains on worker threads (same result, faster).
 */
export async function evaluateIals(m: Csr, params: IalsParams, split: SplitOptions, opts: ParallelOptions = {}): Promise<EvaluationReport> {
  const s = strongGeneralizationSplit(m, split);
  const model = (opts.threads ?? 1) > 1 ? await trainIalsParallel(s.train, params, opts) : trainIals(s.train, params, opts);
  return {
    protocol: {
      name: 'strong-generalization',
      seed: split.seed,
      holdoutFraction: split.holdoutFraction ?? 0.1,
      minItems: split.minItems ?? 5,
      foldInFraction: split.foldInFraction ?? 0.8,
      testUsers: s.test.length,
      trainUsers: s.trainUsers.length,
    },
    model: evaluateFactors(model.itemFactors, model.itemCount, model.dims, params, s.test, model.itemWeights),
    popularity: evaluatePopularity(s.train, s.test),
  };
}
