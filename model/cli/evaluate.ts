/**
 * `npm run evaluate -- --input <csv> [--model <artifact dir> [--write]] [hyperparameters] [--eval-seed N]`
 * Runs the strong-generalisation protocol (see model/evaluate.ts). Without --model: iALS with the
 * given/default hyperparameters against popularity. With --model: what that artifact serves,
 * retrained on the split with its own hyperparameters — the blend of iALS and the item model when
 * it has one (as `train --eval` measures it), else iALS — and --write stores those metrics in its
 * manifest (re-signing it when a key is set), every field as `train --eval` writes it.
 *
 * --write refuses what it cannot measure rather than store other numbers under the served
 * model's name: an artifact whose item model was imported (its lists cannot be retrained here),
 * one whose factors were not trained by this trainer (Spark), and a split that holds out nobody.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { type Manifest, manifestSchema } from '@edge-recs/core/manifest';
import { signManifest } from '@edge-recs/core/signing';
import { Command } from 'commander';
import type { BlendParams } from '../blend';
import { compareSeed, servedReport } from '../compare';
import { loadInteractions } from '../data';
import { type EvaluationReport, evaluateIals, strongGeneralizationSplit } from '../evaluate';
import { DEFAULT_PARAMS, type IalsParams } from '../ials';
import { DEFAULT_ITEM_PARAMS, type ItemModelParams } from '../item-model';
import type { SolverOptions } from '../item-solvers';
import { fmt, hyperparameterOptions, num, paramsFrom, run, signingKey } from './common';

const program = hyperparameterOptions(
  new Command('evaluate')
    .description('Strong-generalisation evaluation of iALS (or of what a model artifact serves) against a popularity baseline')
    .requiredOption('--input <file>', 'interactions CSV (.csv or .csv.gz)')
    .option('--model <dir>', 'evaluate what this artifact serves, with its hyperparameters')
    .option('--write', 'with --model: store the metrics in the artifact manifest')
    .option('--eval-seed <n>', 'seed of the held-out split', num('int', 0), 2024)
    .option('--holdout <fraction>', 'fraction of eligible users held out', num('float', 0), 0.1)
    .option('--key-file <file>', 'Ed25519 private key for re-signing (default $MODEL_SIGNING_KEY)'),
);

/** How the artifact's item model was made, when this trainer can make it again: its params, blend and solver. */
function itemModelOf(
  section: NonNullable<Manifest['itemModel']>,
): { item: ItemModelParams; blend: BlendParams; solver: SolverOptions } | string {
  const p = section.params;
  if (section.algorithm !== 'edlae' && section.algorithm !== 'edlae-local')
    return `its item model is "${section.algorithm}" (lists made elsewhere), which evaluate cannot retrain`;
  const n = (key: keyof ItemModelParams) => (typeof p[key] === 'number' ? (p[key] as number) : (DEFAULT_ITEM_PARAMS[key] as number));
  return {
    item: {
      lambda: n('lambda'),
      dropout: n('dropout'),
      popularityDebias: n('popularityDebias'),
      neighbours: section.neighbours,
      weightType: section.weightType,
    },
    blend: section.blend,
    solver:
      section.algorithm === 'edlae'
        ? { solver: 'exact' }
        : {
            solver: 'approximate',
            approximate: {
              ...(typeof p.neighbourhood === 'number' ? { neighbourhood: p.neighbourhood } : {}),
              threads: availableParallelism(),
            },
          },
  };
}

await run(async () => {
  program.parse();
  const o = program.opts();
  let params: IalsParams = paramsFrom(o);
  let manifest: Manifest | undefined;
  if (o.write && !o.model) throw new Error('--write needs --model (the artifact whose manifest gets the metrics)');
  if (o.model) {
    manifest = manifestSchema.parse(JSON.parse(await readFile(join(o.model, 'manifest.json'), 'utf8')));
    params = { ...DEFAULT_PARAMS, ...(manifest.trainer.hyperparameters as Partial<IalsParams>) };
    console.log(`hyperparameters from ${o.model}: ${JSON.stringify(params)}`);
  }
  // what --model serves, and whether this command can measure it
  const served = manifest?.itemModel ? itemModelOf(manifest.itemModel) : null;
  if (o.write && manifest) {
    if (manifest.trainer.algorithm !== 'ials')
      throw new Error(
        `cannot --write: ${o.model} was made by ${manifest.trainer.algorithm}, not this trainer; evaluate would measure another model`,
      );
    if (typeof served === 'string') throw new Error(`cannot --write: ${served}; iALS-only metrics would be stored as the served model's`);
  }
  const ds = await loadInteractions(o.input);
  if (manifest && manifest.data.sha256 !== ds.digest)
    console.log(
      `warning: ${o.input} is not the data ${o.model} was trained on (${manifest.data.source}, sha256 ${manifest.data.sha256.slice(0, 12)}…)`,
    );
  const t0 = performance.now();
  const split = { seed: o.evalSeed, holdoutFraction: o.holdout };
  const cut = strongGeneralizationSplit(ds.matrix, split);
  // averages over nobody would print (and store) zeros as if measured
  if (cut.test.length === 0)
    throw new Error(
      `the split holds out no user (${o.holdout} of the users with ≥ 5 items rounds to 0 among ${ds.matrix.rows} users): nothing to measure`,
    );

  let report: EvaluationReport;
  if (served && typeof served !== 'string') {
    const r = await compareSeed(ds.matrix, {
      seed: o.evalSeed,
      split: cut,
      ials: params,
      item: served.item,
      blend: served.blend,
      easeLambdas: [],
      solver: served.solver,
      threads: availableParallelism(),
    });
    report = servedReport(r, o.holdout);
  } else {
    if (typeof served === 'string') console.log(`note: ${o.model} serves a blend, but ${served}: measuring its factors alone`);
    report = await evaluateIals(ds.matrix, params, split, { threads: availableParallelism() });
  }
  console.log(
    `strong generalisation: ${report.protocol.testUsers} held-out users (seed ${o.evalSeed}), ${report.protocol.trainUsers} training users, ${((performance.now() - t0) / 1000).toFixed(1)}s`,
  );
  if (report.factors) {
    console.log(`  iALS        ${fmt(report.factors)}`);
    if (report.itemModel) console.log(`  item model  ${fmt(report.itemModel)}`);
    console.log(`  blend       ${fmt(report.model)} (served)`);
  } else console.log(`  iALS        ${fmt(report.model)}`);
  console.log(`  popularity  ${fmt(report.popularity)}`);
  if (o.write && manifest) {
    // every field as train --eval writes it: `model` is what is served (the blend when there is an item model)
    manifest.metrics = {
      protocol: report.protocol,
      model: report.model,
      popularity: report.popularity,
      ...(report.factors ? { factors: report.factors } : {}),
      ...(report.itemModel ? { itemModel: report.itemModel } : {}),
    };
    const manifestPath = join(o.model, 'manifest.json');
    const bytes = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
    const key = await signingKey(o.keyFile);
    if (key) await writeFile(join(o.model, 'manifest.sig'), `${JSON.stringify(await signManifest(bytes, key))}\n`);
    await writeFile(manifestPath, bytes);
    console.log(`metrics written to ${manifestPath}${key ? ' (re-signed)' : ' (unsigned: the old signature no longer matches)'}`);
  }
});
