/**
 * `npm run evaluate -- --input <csv> [--model <artifact dir>] [hyperparameters] [--seed N]`
 * Runs the strong-generalisation protocol (see model/evaluate.ts) with the hyperparameters of an
 * existing artifact (--model) or the given/default ones, prints iALS against popularity, and with
 * --model --write stores the metrics in that artifact's manifest (re-signing it when a key is set).
 */

import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { manifestSchema } from '@edge-recs/core/manifest';
import { signManifest } from '@edge-recs/core/signing';
import { Command } from 'commander';
import { loadInteractions } from '../data';
import { evaluateIals } from '../evaluate';
import { DEFAULT_PARAMS, type IalsParams } from '../ials';
import { fmt, hyperparameterOptions, num, paramsFrom, run, signingKey } from './common';

const program = hyperparameterOptions(
  new Command('evaluate')
    .description('Strong-generalisation evaluation of iALS against a popularity baseline')
    .requiredOption('--input <file>', 'interactions CSV (.csv or .csv.gz)')
    .option('--model <dir>', 'take hyperparameters from this artifact')
    .option('--write', 'with --model: store the metrics in the artifact manifest')
    .option('--eval-seed <n>', 'seed of the held-out split', num('int', 0), 2024)
    .option('--holdout <fraction>', 'fraction of eligible users held out', num('float', 0), 0.1)
    .option('--key-file <file>', 'Ed25519 private key for re-signing (default $MODEL_SIGNING_KEY)'),
);

await run(async () => {
  program.parse();
  const o = program.opts();
  let params: IalsParams = paramsFrom(o);
  let manifestPath: string | undefined;
  if (o.model) {
    manifestPath = join(o.model, 'manifest.json');
    const manifest = manifestSchema.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
    params = { ...DEFAULT_PARAMS, ...(manifest.trainer.hyperparameters as Partial<IalsParams>) };
    console.log(`hyperparameters from ${o.model}: ${JSON.stringify(params)}`);
  }
  const ds = await loadInteractions(o.input);
  const t0 = performance.now();
  const report = await evaluateIals(
    ds.matrix,
    params,
    { seed: o.evalSeed, holdoutFraction: o.holdout },
    { threads: availableParallelism() },
  );
  console.log(
    `strong generalisation: ${report.protocol.testUsers} held-out users (seed ${o.evalSeed}), ${report.protocol.trainUsers} training users, ${((performance.now() - t0) / 1000).toFixed(1)}s`,
  );
  console.log(`  iALS        ${fmt(report.model)}`);
  console.log(`  popularity  ${fmt(report.popularity)}`);
  if (o.write && manifestPath) {
    const manifest = manifestSchema.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
    manifest.metrics = { protocol: report.protocol, model: report.model, popularity: report.popularity };
    const bytes = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
    const key = await signingKey(o.keyFile);
    if (key) await writeFile(join(o.model, 'manifest.sig'), `${JSON.stringify(await signManifest(bytes, key))}\n`);
    await writeFile(manifestPath, bytes);
    console.log(`metrics written to ${manifestPath}${key ? ' (re-signed)' : ' (unsigned: the old signature no longer matches)'}`);
  }
});
