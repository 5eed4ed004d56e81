/**
 * `npx tsx model/cli/compare.ts --input <csv|csv.gz> --seeds 2024,7,11 [--json out.json]`
 * Strong-generalisation comparison on each split seed (see model/compare.ts): popularity, iALS,
 * the item model alone, the served blend (with the training strengths and with strength 1 per
 * folded-in item), and dense EASE over a λ grid (best on test per metric). With the defaults
 * unless hyperparameters are given; --tune picks the item model and blend per seed on a
 * validation split cut from that seed's training users (never from its test users).
 * --item-solver picks the item model's solver (auto, exact, approximate); a list scores each further
 * solver beside the first with the same iALS model, e.g. `--item-solver exact,approximate
 * --ease-lambdas ''` to measure local EASE against exact EASE.
 */

import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { Command } from 'commander';
import { compareSeed, type SeedReport } from '../compare';
import { loadInteractions } from '../data';
import { type Metrics, strongGeneralizationSplit } from '../evaluate';
import { SOLVER_CHOICES, type SolverChoice, type SolverOptions } from '../item-solvers';
import { DEFAULT_NEIGHBOURHOOD } from '../local-ease';
import { tuneItemModel } from '../tune';
import { hyperparameterOptions, num, paramsFrom, run } from './common';
import { blendFrom, blendOptions, itemModelOptions, itemParamsFrom } from './item-options';

const program = blendOptions(
  itemModelOptions(
    hyperparameterOptions(
      new Command('compare')
        .description('Compare popularity, iALS, the item model, the served blend and dense EASE on several split seeds')
        .requiredOption('--input <path>', 'interactions CSV (.csv or .csv.gz)')
        .option('--seeds <list>', 'comma-separated split seeds', '2024,7,11')
        .option('--ease-lambdas <list>', 'λ grid of dense EASE (empty string: skip)', '10,20,35,50,75,100,150,200,300,500,800')
        .option(
          '--item-solver <list>',
          `item model solver(s): ${SOLVER_CHOICES.join(', ')}; further ones are scored beside the first`,
          'auto',
        )
        .option(
          '--item-neighbourhood <M>',
          'approximate item solver: co-occurring items per regression',
          num('int', 1),
          DEFAULT_NEIGHBOURHOOD,
        )
        .option('--tune', 'per seed, tune the item model and the blend on a validation split of its training users')
        .option('--threads <n>', 'worker threads', num('int', 1), availableParallelism())
        .option('--json <file>', 'also write the reports as JSON'),
    ),
  ),
);

const f4 = (x: number) => x.toFixed(4);
const row = (name: string, m: Metrics, ref?: Metrics) =>
  `  ${name.padEnd(22)} ndcg@100 ${f4(m['ndcg@100'])}${ref ? ` (${(m['ndcg@100'] / ref['ndcg@100']).toFixed(3)}×)` : '         '}  recall@20 ${f4(m['recall@20'])}${ref ? ` (${(m['recall@20'] / ref['recall@20']).toFixed(3)}×)` : '         '}  recall@50 ${f4(m['recall@50'])}`;

await run(async () => {
  program.parse();
  const o = program.opts();
  const ials = paramsFrom(o);
  const seeds = String(o.seeds)
    .split(',')
    .map((s) => Number(s.trim()));
  const lambdas = String(o.easeLambdas)
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(Number);
  const solvers: SolverOptions[] = String(o.itemSolver)
    .split(',')
    .map((s) => {
      const solver = s.trim() as SolverChoice;
      if (!SOLVER_CHOICES.includes(solver)) throw new Error(`--item-solver must be a list of ${SOLVER_CHOICES.join(', ')}, got ${s}`);
      return { solver, approximate: { neighbourhood: o.itemNeighbourhood, threads: o.threads } };
    });
  const ds = await loadInteractions(o.input);
  const m = ds.matrix;
  console.log(`${basename(o.input)} (${ds.layout}): ${m.rows} users × ${m.cols} items, ${m.rowPtr[m.rows]} pairs`);
  const reports: (SeedReport & { item_params: unknown; blend_params: unknown })[] = [];
  for (const seed of seeds) {
    let item = itemParamsFrom(o),
      blend = blendFrom(o);
    if (o.tune) {
      const train = strongGeneralizationSplit(m, { seed }).train;
      const tuned = await tuneItemModel(train, {
        ials,
        item,
        blend,
        seed: seed + 1,
        threads: o.threads,
        log: (l) => console.log(`  tune: ${l}`),
      });
      if (tuned) {
        item = tuned.item;
        blend = tuned.blend;
        console.log(`  tuned: ${JSON.stringify({ ...item, ...blend })}`);
      } else console.log('  tune: no validation users; keeping the given parameters');
    }
    const r = await compareSeed(m, {
      seed,
      ials,
      item,
      blend,
      easeLambdas: lambdas,
      solver: solvers[0],
      otherSolvers: solvers.slice(1),
      threads: o.threads,
      log: (l) => console.log(`  ${l}`),
    });
    reports.push({ ...r, item_params: item, blend_params: blend });
    const ref = lambdas.length ? r.bestEase : undefined;
    console.log(
      `seed ${seed}: ${r.testUsers} held-out users, ${r.trainUsers} training users${ref ? `; ratios against dense EASE best-on-test per metric (λ ${JSON.stringify(r.bestEase.lambda)})` : ''}`,
    );
    console.log(row('popularity', r.popularity, ref));
    console.log(row('iALS', r.ials, ref));
    console.log(row('iALS (strength 1)', r.ialsStrength1, ref));
    console.log(row('item model', r.item, ref));
    console.log(row('blend', r.blend, ref));
    console.log(row('blend (strength 1)', r.blendStrength1, ref));
    if (ref) console.log(row('dense EASE (best λ)', ref));
    for (const other of r.others) {
      console.log(`  ${other.solver} (${other.seconds.toFixed(1)}s), ratios against the ${solvers[0].solver} solver's rows above:`);
      console.log(row('  item model', other.item, r.item));
      console.log(row('  blend', other.blend, r.blend));
      console.log(row('  blend (strength 1)', other.blendStrength1, r.blendStrength1));
    }
  }
  if (o.json) await writeFile(o.json, JSON.stringify({ input: basename(o.input), reports }, null, 2) + '\n');
});
