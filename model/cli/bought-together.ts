/**
 * `npx tsx model/cli/bought-together.ts --input <csv|csv.gz> [--seed N]`
 * Sanity check of the basket ("bought together") model: 10% of the baskets are held out; the
 * model (with and without its association gate), raw co-occurrence counts, popularity and the
 * user-level item model are fitted on the rest and compared on how popular their neighbours are,
 * how much their lists overlap, and how well they complete held-out baskets (leave one item out).
 * Prints a few lists with titles.
 */

import { basename } from 'node:path';
import { Command } from 'commander';
import {
  boughtTogether,
  cooccurrenceLists,
  DEFAULT_BOUGHT_TOGETHER,
  listStats,
  overlapAtK,
  popularityLists,
  splitBaskets,
} from '../bought-together';
import { loadInteractions } from '../data';
import { DEFAULT_ITEM_PARAMS, type NeighbourLists } from '../item-model';
import { solverFor } from '../item-solvers';
import { csrFromTriples } from '../sparse';
import { num, run } from './common';

const program = new Command('bought-together')
  .description('Fit the basket model on 90% of the baskets and compare it with co-occurrence, popularity and the user-level model')
  .requiredOption('--input <path>', 'interactions with baskets: UCI Online Retail, or a generic CSV with a session_id column')
  .option('--seed <n>', 'seed of the basket split', num('int', 0), 1)
  .option('--examples <list>', 'item ids to print lists for (default: three popular ones)');

await run(async () => {
  program.parse();
  const o = program.opts();
  const ds = await loadInteractions(o.input);
  const b = ds.baskets.matrix;
  if (b.rows === 0) throw new Error('the input has no baskets (Online Retail invoices or a session_id column)');
  const { train, test, trainRows } = splitBaskets(b, 0.1, o.seed);
  console.log(`${basename(o.input)}: ${b.rows} baskets (${train.rows} fitted, ${test.rows} held out) over ${b.cols} items`);
  // the user-level model sees only the fitted baskets' items, per user
  const r: number[] = [],
    c: number[] = [];
  trainRows.forEach((row, k) => {
    for (let p = train.rowPtr[k]; p < train.rowPtr[k + 1]; p++) {
      r.push(ds.baskets.user[row]);
      c.push(train.colIdx[p]);
    }
  });
  const users = csrFromTriples(ds.userIds.length, b.cols, Int32Array.from(r), Int32Array.from(c), new Float32Array(r.length).fill(1));
  users.values.fill(1);
  const popularity = new Float64Array(b.cols);
  for (let p = 0; p < train.rowPtr[train.rows]; p++) popularity[train.colIdx[p]]++;
  const t0 = performance.now();
  const models: Record<string, NeighbourLists> = {
    'bought together': await boughtTogether(train, DEFAULT_BOUGHT_TOGETHER),
  };
  console.log(`bought-together model fitted in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  // the same regression without the association gate, to show what the gate costs or gains
  models['without the gate'] = await solverFor(b.cols).fit(train, DEFAULT_BOUGHT_TOGETHER);
  models['co-occurrence'] = cooccurrenceLists(train, DEFAULT_BOUGHT_TOGETHER.neighbours);
  models['popularity'] = popularityLists(popularity, DEFAULT_BOUGHT_TOGETHER.neighbours);
  models['user-level model'] = await solverFor(b.cols).fit(users, DEFAULT_ITEM_PARAMS);
  console.log("model                 neighbours' popularity percentile (top 10)   basket completion HR@10");
  for (const [name, l] of Object.entries(models)) {
    const s = listStats(l, popularity, test);
    console.log(
      `  ${name.padEnd(20)} ${s.popularityPercentile.toFixed(3).padStart(10)}                              ${s.completionHitRate.toFixed(4)}`,
    );
  }
  const bt = models['bought together'];
  for (const other of ['without the gate', 'co-occurrence', 'popularity', 'user-level model'])
    console.log(`overlap@10 of bought together with ${other}: ${overlapAtK(bt, models[other]).toFixed(3)}`);
  const index = new Map(ds.itemIds.map((id, i) => [id, i]));
  const examples: number[] = o.examples
    ? String(o.examples)
        .split(',')
        .map((id) => index.get(id.trim()) ?? -1)
        .filter((i) => i >= 0)
    : Array.from({ length: b.cols }, (_, i) => i)
        .sort((x, y) => popularity[y] - popularity[x])
        .filter((_, k) => k === 5 || k === 50 || k === 500);
  for (const j of examples) {
    console.log(`\n${ds.itemIds[j]} ${ds.titles[j]} (in ${popularity[j]} baskets)`);
    for (const name of ['bought together', 'co-occurrence', 'user-level model']) {
      const l = models[name];
      const top = Array.from(l.index.subarray(l.rowPtr[j], Math.min(l.rowPtr[j + 1], l.rowPtr[j] + 5)));
      console.log(`  ${name}: ${top.map((k) => `${ds.titles[k] || ds.itemIds[k]} (${popularity[k]})`).join('; ')}`);
    }
  }
});
