/**
 * `--tune`: picks the item model's and the blend's hyperparameters on a validation split cut
 * from the training users only (strong generalisation again: a seeded 10% of the training users
 * with ≥ 5 items are held out, 80% of their items folded in, the rest predicted).
 *
 * iALS keeps its given parameters and is trained once; the dense Gram matrix is built once and
 * inverted once per (λ, c) of the grid; every (γ, N) is a cheap re-sparsification of the same B,
 * and every blend weight a a re-combination of precomputed per-user factor scores. The objective
 * is NDCG@100 + Recall@20 (the two metrics the target names), with baskets folded in at strength 1
 * per item, as a client posting `{"items":[…]}` sends them.
 */
import type { WeightedItem } from '@edge-recs/core/foldin';
import { topK } from '@edge-recs/core/topk';
import { type BlendParams, neighbourScores, zParams } from './blend';
import { assemble, strengthOne, userVector } from './compare';
import { type Metrics, rankingMetrics, strongGeneralizationSplit } from './evaluate';
import type { IalsParams } from './ials';
import { trainIalsParallel } from './ials-parallel';
import { denseEase, type ItemModelParams, itemGram, type NeighbourLists, sparsify } from './item-model';
import type { Csr } from './sparse';
import { MAX_EXACT_ITEMS } from './spd-inverse';

export interface TuneGrid {
  lambda: number[];
  dropout: number[];
  popularityDebias: number[];
  neighbours: number[];
  factorWeight: number[];
}

export const DEFAULT_GRID: TuneGrid = {
  lambda: [30, 60, 100],
  dropout: [0.25, 0.5, 1],
  popularityDebias: [0.15, 0.25, 0.33],
  neighbours: [20, 30, 45],
  factorWeight: [0.1, 0.2, 0.25, 0.3, 0.4],
};

export interface TuneOptions {
  ials: IalsParams;
  /** starting point: weightType and anything the grid does not cover come from here */
  item: ItemModelParams;
  blend: BlendParams;
  /** seed of the validation split */
  seed: number;
  grid?: TuneGrid;
  threads?: number;
  log?: (line: string) => void;
}

export interface TuneResult {
  item: ItemModelParams;
  blend: BlendParams;
  validation: Metrics;
  /** held-out users of the validation split the metrics average over */
  validationUsers: number;
  /** every evaluated point, best first */
  trials: { item: ItemModelParams; factorWeight: number; metrics: Metrics }[];
}

const objective = (m: Metrics) => m['ndcg@100'] + m['recall@20'];

/**
 * @returns the best point of the grid, or null when the validation split holds out no user (too
 *   few training users with ≥ 5 items): every point would score the same zero, and the "best"
 *   would be whichever came first — the caller keeps its own parameters instead.
 */
export async function tuneItemModel(train: Csr, opts: TuneOptions): Promise<TuneResult | null> {
  const grid = opts.grid ?? DEFAULT_GRID;
  const log = opts.log ?? (() => {});
  if (train.cols > MAX_EXACT_ITEMS) throw new Error(`--tune needs the exact item model (≤ ${MAX_EXACT_ITEMS} items)`);
  const val = strongGeneralizationSplit(train, { seed: opts.seed });
  log(`validation split: ${val.test.length} held-out training users, ${val.trainUsers.length} fitting users`);
  if (val.test.length === 0) return null;
  const ials = await trainIalsParallel(val.train, opts.ials, { threads: opts.threads });
  const empty: NeighbourLists = {
    itemCount: train.cols,
    rowPtr: new Int32Array(train.cols + 1),
    index: new Int32Array(0),
    weight: new Float32Array(0),
    weightType: 'int8',
  };
  const base = assemble(ials, empty, opts.blend);
  const baskets: WeightedItem[][] = val.test.map((t) => strengthOne(t.foldIn));
  // z-normalised factor scores per validation user (independent of everything tuned here)
  const n = train.cols,
    D = ials.dims;
  const z = baskets.map((b) => {
    const u = userVector(base, b);
    const { shift, scale } = zParams(base.blend.stats, u);
    const s = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let d = 0; d < D; d++) v += ials.itemFactors[i * D + d] * u[d];
      s[i] = (v - shift) / scale;
    }
    return s;
  });
  const g = itemGram(val.train);
  const trials: TuneResult['trials'] = [];
  const scores = new Float64Array(n);
  for (const lambda of grid.lambda) {
    for (const dropout of grid.dropout) {
      const t0 = performance.now();
      const { b, diag } = await denseEase(g, n, lambda, dropout);
      for (const popularityDebias of grid.popularityDebias) {
        for (const neighbours of grid.neighbours) {
          const item: ItemModelParams = { ...opts.item, lambda, dropout, popularityDebias, neighbours };
          const lists = sparsify(b, n, diag, item);
          const per = grid.factorWeight.map(() => [] as Metrics[]);
          baskets.forEach((basket, t) => {
            // s = a·z + (1 − a)·n/rms, as blendScores in model/blend.ts
            const { scores: nb, rms } = neighbourScores(lists, basket, opts.blend);
            const exclude = new Set(basket.map((x) => x.index));
            grid.factorWeight.forEach((a, k) => {
              for (let i = 0; i < n; i++) scores[i] = a * z[t][i];
              if (rms > 0) for (const [i, v] of nb) scores[i] += ((1 - a) * v) / rms;
              per[k].push(
                rankingMetrics(
                  topK(scores, 100, exclude).map((s) => s.index),
                  val.test[t].heldOut,
                ),
              );
            });
          });
          grid.factorWeight.forEach((factorWeight, k) => {
            const metrics: Metrics = { 'recall@20': 0, 'recall@50': 0, 'ndcg@100': 0 };
            for (const m of per[k]) for (const key of Object.keys(metrics) as (keyof Metrics)[]) metrics[key] += m[key] / per[k].length;
            trials.push({ item, factorWeight, metrics });
          });
        }
      }
      const best = trials.reduce((x, y) => (objective(y.metrics) > objective(x.metrics) ? y : x));
      log(
        `λ=${lambda} c=${dropout}: ${((performance.now() - t0) / 1000).toFixed(1)}s; best so far ${JSON.stringify({ ...best.item, factorWeight: best.factorWeight })} ndcg@100=${best.metrics['ndcg@100'].toFixed(4)} recall@20=${best.metrics['recall@20'].toFixed(4)}`,
      );
    }
  }
  trials.sort((x, y) => objective(y.metrics) - objective(x.metrics));
  const best = trials[0];
  return {
    item: best.item,
    blend: { ...opts.blend, factorWeight: best.factorWeight },
    validation: best.metrics,
    validationUsers: val.test.length,
    trials,
  };
}
