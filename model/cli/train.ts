/**
 * `npm run train -- --input <csv|csv.gz> --out <dir> [hyperparameters] [--eval] [--tune]`
 * Loads interactions, trains iALS and the item-item model (EASE/EDLAE neighbour lists, plus the
 * "bought together" lists when the input has baskets) on all users, optionally runs the
 * strong-generalisation evaluation (a separate training on 90% of users), and writes a signed
 * artifact. --tune picks the item model's and the blend's hyperparameters on a validation split
 * cut from the training users (with --eval: from the evaluation split's training users only).
 * The item model is exact EASE up to MAX_EXACT_ITEMS items and local EASE (model/local-ease.ts)
 * above (--item-solver forces either); --tune needs the exact one and is skipped above the bound.
 *
 * Nothing is reported as measured that was not: when the evaluation split holds out no user (too
 * few users with ≥ 5 items) --eval stores no metrics, and --tune with an empty validation split
 * keeps the given parameters; the manifest records what --tune did. Fewer than 2 users or 2 items
 * is refused: there is nothing to factorise.
 */

import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { writeArtifact } from '../artifact-fs';
import { factorStats } from '../blend';
import { boughtTogether, DEFAULT_BOUGHT_TOGETHER } from '../bought-together';
import { compareSeed, servedReport } from '../compare';
import { loadInteractions } from '../data';
import { type EvaluationReport, type Split, strongGeneralizationSplit } from '../evaluate';
import { foldInConstants, type IalsParams } from '../ials';
import { trainIalsParallel } from '../ials-parallel';
import { itemModelArtifact } from '../item-artifact';
import { algorithmOf, SOLVER_CHOICES, type SolverChoice, type SolverOptions, solverFor } from '../item-solvers';
import { DEFAULT_NEIGHBOURHOOD } from '../local-ease';
import type { Csr } from '../sparse';
import { MAX_EXACT_ITEMS } from '../spd-inverse';
import { tuneItemModel } from '../tune';
import { fmt, hyperparameterOptions, itemsReportLines, num, paramsFrom, run, signingKey, versionId } from './common';
import { blendFrom, blendOptions, itemModelOptions, itemParamsFrom } from './item-options';

const program = blendOptions(
  itemModelOptions(
    hyperparameterOptions(
      new Command('train')
        .description('Train iALS on interaction data and write a model artifact')
        .requiredOption(
          '--input <path>',
          'interactions CSV (.csv or .csv.gz), or a directory of them: generic user_id,item_id[,weight][,timestamp] or UCI Online Retail',
        )
        .requiredOption('--out <dir>', 'artifact directory to write')
        .option('--items <file>', 'item metadata CSV: item_id and any of title, category, price, available, image_url')
        .option('--user-ids <kind>', "raw, or hashed when the input is the Worker's event export (ids are keyed hashes)", 'raw')
        .option('--eval', 'also run the strong-generalisation evaluation and store its metrics in the manifest')
        .option('--eval-seed <n>', 'seed of the evaluation split', num('int', 0), 2024)
        .option('--version <id>', 'model version id (default: creation time + content digest)', versionId)
        .option('--key-file <file>', 'Ed25519 private key (base64 PKCS#8); default $MODEL_SIGNING_KEY')
        .option('--users-per-shard <n>', 'users per user-factor shard file', num('int', 1), 2000)
        .option('--threads <n>', 'worker threads (default: all cores)', num('int', 1), availableParallelism())
        .option(
          '--item-solver <kind>',
          `item model solver: ${SOLVER_CHOICES.join(', ')} (auto: exact up to ${MAX_EXACT_ITEMS} items)`,
          'auto',
        )
        .option(
          '--item-neighbourhood <M>',
          'approximate item model: co-occurring items in each regression',
          num('int', 1),
          DEFAULT_NEIGHBOURHOOD,
        )
        .option('--tune', 'pick the item model and blend hyperparameters on a validation split of the training users')
        .option('--no-progress', 'plain log lines instead of a progress bar'),
    ),
  ),
);

async function trainWithProgress(m: Csr, params: IalsParams, label: string, progress: boolean, threads: number) {
  const bar = progress
    ? new cliProgress.SingleBar(
        { format: `${label} [{bar}] epoch {value}/{total} | loss {loss} | {epochSeconds}s/epoch | {elapsed}s`, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const t0 = performance.now();
  bar?.start(params.iterations, 0, { loss: '-', epochSeconds: '-', elapsed: '0' });
  const model = await trainIalsParallel(m, params, {
    threads,
    computeLoss: true,
    onEpoch: (r) => {
      const payload = {
        loss: r.loss?.toFixed(4) ?? '-',
        epochSeconds: r.seconds.toFixed(2),
        elapsed: ((performance.now() - t0) / 1000).toFixed(1),
      };
      if (bar) bar.update(r.epoch, payload);
      else console.log(`${label} epoch ${r.epoch}/${params.iterations} loss ${payload.loss} ${payload.epochSeconds}s`);
    },
  });
  bar?.stop();
  return { model, seconds: (performance.now() - t0) / 1000 };
}

/** Users with at least the 5 items the evaluation split requires of a held-out user. */
function eligibleUsers(m: Csr): number {
  let n = 0;
  for (let u = 0; u < m.rows; u++) if (m.rowPtr[u + 1] - m.rowPtr[u] >= 5) n++;
  return n;
}

await run(async () => {
  program.parse();
  const o = program.opts();
  const params = paramsFrom(o);
  if (o.userIds !== 'raw' && o.userIds !== 'hashed') throw new Error(`--user-ids must be raw or hashed, got ${o.userIds}`);
  const t0 = performance.now();
  const ds = await loadInteractions(o.input, { itemsFile: o.items });
  const m = ds.matrix;
  console.log(
    `loaded ${basename(o.input)} (${ds.layout}): ${ds.stats.rows} rows, ${ds.stats.used} used → ${m.rows} users × ${m.cols} items, ${m.rowPtr[m.rows]} pairs in ${((performance.now() - t0) / 1000).toFixed(1)}s`,
  );
  if (Object.keys(ds.stats.filtered).length) console.log(`filtered: ${JSON.stringify(ds.stats.filtered)}`);
  if (ds.stats.malformed) {
    console.log(`malformed rows skipped: ${ds.stats.malformed}`);
    for (const e of ds.stats.malformedExamples) console.log(`  ${e.file ? `${e.file} ` : ''}line ${e.line}: ${e.reason}`);
  }
  const { unaddressableUsers: unaddressable } = ds.stats;
  if (unaddressable.count) {
    console.log(
      `warning: ${unaddressable.count} user ids are not ids the API accepts (1–128 printable ASCII characters, no spaces): their rows train the model, but GET /v1/users/{id}/… cannot ask for them`,
    );
    for (const e of unaddressable.examples) console.log(`  ${e}`);
  }
  if (ds.items) for (const line of itemsReportLines(ds.items)) console.log(line);
  if (m.rows === 0 || m.cols === 0) throw new Error('no usable interactions in the input');
  // one user's or one item's factors carry no preference between items: a model that only looks trained
  if (m.rows < 2 || m.cols < 2)
    throw new Error(`too little data to train: ${m.rows} user(s) × ${m.cols} item(s); at least 2 users and 2 items are needed`);
  if (m.rows <= params.factors || m.cols <= params.factors)
    console.log(
      `warning: ${m.rows} users × ${m.cols} items is small for ${params.factors} factors: the factors can memorise the data (fewer --factors, or more data)`,
    );

  let item = itemParamsFrom(o),
    blend = blendFrom(o);
  if (!SOLVER_CHOICES.includes(o.itemSolver)) throw new Error(`--item-solver must be one of ${SOLVER_CHOICES.join(', ')}`);
  const solverOpts: SolverOptions = {
    solver: o.itemSolver as SolverChoice,
    approximate: { neighbourhood: o.itemNeighbourhood, threads: o.threads, log: (l) => console.log(`item model: ${l}`) },
  };
  // cut once: --tune (with --eval) tunes on its training users, and the evaluation uses it
  let evalSplit: Split | undefined;
  if (o.eval) {
    evalSplit = strongGeneralizationSplit(m, { seed: o.evalSeed });
    if (evalSplit.test.length === 0) {
      console.log(
        `--eval: no user could be held out (the split takes 10% of the ${eligibleUsers(m)} users with ≥ 5 items, rounded): nothing is measured and the manifest stores no metrics`,
      );
    } else if (evalSplit.test.length < 10) {
      console.log(`warning: --eval holds out only ${evalSplit.test.length} users: its metrics are noise more than measurement`);
    }
  }
  /** what --tune did, for the manifest's record of the item model */
  let tuneRecord: Record<string, number | string> = {};
  const exactFits = m.cols <= MAX_EXACT_ITEMS;
  if (o.tune && !exactFits) {
    console.log(`--tune skipped: it searches with exact EASE, limited to ${MAX_EXACT_ITEMS} items (got ${m.cols})`);
    tuneRecord = { tune: 'skipped: too many items for exact EASE' };
  }
  if (o.tune && exactFits) {
    const tt = performance.now();
    // with --eval, tune on that split's training users only, so the evaluation stays unseen
    const tuneOn = evalSplit ? evalSplit.train : m;
    const tuned = await tuneItemModel(tuneOn, {
      ials: params,
      item,
      blend,
      seed: o.evalSeed + 1,
      threads: o.threads,
      log: (l) => console.log(`tune: ${l}`),
    });
    if (tuned) {
      item = tuned.item;
      blend = tuned.blend;
      tuneRecord = { tune: 'validation split', 'tune.seed': o.evalSeed + 1, 'tune.validationUsers': tuned.validationUsers };
      console.log(
        `tuned in ${((performance.now() - tt) / 1000).toFixed(1)}s: ${JSON.stringify({ ...item, ...blend })} (validation ${fmt(tuned.validation)})`,
      );
    } else {
      tuneRecord = { tune: 'skipped: empty validation split' };
      console.log(
        `--tune: the validation split holds out no user (10% of the ${eligibleUsers(tuneOn)} training users with ≥ 5 items, rounded): nothing to tune on, keeping ${JSON.stringify({ ...item, ...blend })}`,
      );
    }
  }

  let evaluation: EvaluationReport | null = null;
  if (evalSplit && evalSplit.test.length > 0) {
    const te = performance.now();
    const r = await compareSeed(m, {
      seed: o.evalSeed,
      split: evalSplit,
      ials: params,
      item,
      blend,
      easeLambdas: [],
      solver: solverOpts,
      threads: o.threads,
    });
    // what the edge serves: the blend (every artifact carries the item model)
    evaluation = servedReport(r, 0.1);
    console.log(`evaluation (${r.testUsers} held-out users, ${((performance.now() - te) / 1000).toFixed(1)}s)`);
    console.log(`  iALS               ${fmt(r.ials)}`);
    console.log(`  item model         ${fmt(r.item)}`);
    console.log(`  blend              ${fmt(r.blend)}`);
    console.log(`  blend (strength 1) ${fmt(r.blendStrength1)}`);
    console.log(`  popularity         ${fmt(r.popularity)}`);
  }

  const { model, seconds } = await trainWithProgress(m, params, 'train', o.progress, o.threads);
  let itemModel: ReturnType<typeof itemModelArtifact> | undefined;
  let itemSeconds = 0;
  {
    const ti = performance.now();
    const solver = solverFor(m.cols, solverOpts);
    const lists = await solver.fit(m, item);
    const baskets = ds.baskets.matrix.rows > 0 ? await boughtTogether(ds.baskets.matrix, DEFAULT_BOUGHT_TOGETHER, solverOpts) : null;
    const algorithm = algorithmOf(solver);
    itemModel = itemModelArtifact({
      lists,
      boughtTogether: baskets,
      stats: factorStats(model.itemFactors, m.cols, params.factors),
      params: item,
      ...(baskets ? { boughtTogetherParams: DEFAULT_BOUGHT_TOGETHER } : {}),
      blend,
      algorithm,
      algorithmParams: { ...(algorithm === 'edlae-local' ? { neighbourhood: o.itemNeighbourhood } : {}), ...tuneRecord },
    });
    itemSeconds = (performance.now() - ti) / 1000;
    console.log(
      `item model${baskets ? ' and bought-together lists' : ''} (${solver.name}) in ${itemSeconds.toFixed(1)}s (${lists.rowPtr[m.cols]} neighbours, ${item.weightType})`,
    );
  }
  const itemCounts = new Float32Array(m.cols);
  for (let p = 0; p < m.rowPtr[m.rows]; p++) itemCounts[m.colIdx[p]]++;
  const key = await signingKey(o.keyFile);
  const manifest = await writeArtifact(o.out, {
    version: o.version,
    algorithm: 'ials',
    hyperparameters: { ...params },
    foldIn: foldInConstants(params),
    trainingSeconds: Number((seconds + itemSeconds).toFixed(2)),
    data: { source: basename(o.input), layout: ds.layout, sha256: ds.digest, users: m.rows, items: m.cols, interactions: m.rowPtr[m.rows] },
    dims: params.factors,
    itemIds: ds.itemIds,
    titles: ds.titles,
    fields: ds.fields,
    itemCounts,
    itemFactors: model.itemFactors,
    itemWeights: model.itemWeights,
    userIds: ds.userIds,
    userFactors: model.userFactors,
    userItems: m,
    evaluation,
    signingKey: key,
    usersPerShard: o.usersPerShard,
    userIdKind: o.userIds === 'hashed' ? 'hmac-sha256' : 'raw',
    itemModel,
  });
  console.log(
    `wrote model ${manifest.version} to ${o.out} (${key ? 'signed' : 'UNSIGNED: set MODEL_SIGNING_KEY to publish'}) in ${((performance.now() - t0) / 1000).toFixed(1)}s total`,
  );
});
