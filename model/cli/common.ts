/** Shared command-line plumbing for the trainer's commands (commander options, number parsing). */

import { readFile } from 'node:fs/promises';
import { manifestSchema } from '@edge-recs/core/manifest';
import { type Command, InvalidArgumentError } from 'commander';
import type { z } from 'zod';
import type { ItemsReport } from '../data';
import { DEFAULT_PARAMS, type IalsParams } from '../ials';

const foldIn = manifestSchema.shape.foldIn.shape;
const itemModel = manifestSchema.shape.itemModel.unwrap().shape;

/**
 * What the manifest schema (core/manifest.ts) allows for the values some options end up as: the
 * options are checked against these very schemas when parsed, so a value the artifact would refuse
 * fails at once with the flag's name, not as a schema dump after the whole training.
 */
export const MANIFEST_BOUNDS = {
  /** --factors: the manifest's dims */
  dims: manifestSchema.shape.dims,
  /** --regularization, import-spark --reg-param: the fold-in's λ */
  regularization: foldIn.regularization,
  unobservedWeight: foldIn.unobservedWeight,
  alpha: foldIn.alpha,
  regExponent: foldIn.regExponent,
  neighbours: itemModel.neighbours,
  factorWeight: itemModel.blend.shape.factorWeight,
} satisfies Record<string, z.ZodType<number>>;

/** "> 0", "≤ 1024", … from a failed check of a number schema. */
function boundOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'too_small') return `${issue.inclusive ? '≥' : '>'} ${issue.minimum}`;
  if (issue.code === 'too_big') return `${issue.inclusive ? '≤' : '<'} ${issue.maximum}`;
  return issue.message;
}

/**
 * A commander parser for a number option: an integer or any finite number, at least `bound`, or
 * within what a schema (MANIFEST_BOUNDS) accepts. Commander names the flag in its one-line error:
 * "option '--regularization <x>' argument '0' is invalid. expected a number > 0 (…)".
 */
export function num(kind: 'int' | 'float', bound: number | z.ZodType<number> = -Infinity) {
  const what = kind === 'int' ? 'an integer' : 'a number';
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n))) throw new InvalidArgumentError(`expected ${what}`);
    if (typeof bound === 'number') {
      if (n < bound) throw new InvalidArgumentError(`expected ${what} ≥ ${bound}`);
    } else {
      const r = bound.safeParse(n);
      if (!r.success) throw new InvalidArgumentError(`expected ${what} ${boundOf(r.error.issues[0])} (what the model manifest allows)`);
    }
    return n;
  };
}

/** A commander parser for --version: what the manifest accepts as a version id (it names storage keys). */
export function versionId(v: string): string {
  if (!manifestSchema.shape.version.safeParse(v).success)
    throw new InvalidArgumentError('expected 1 to 100 of A-Z a-z 0-9 . _ - (what the model manifest allows)');
  return v;
}

/** Adds the iALS hyperparameter options (defaults from DEFAULT_PARAMS). */
export function hyperparameterOptions(cmd: Command): Command {
  const d = DEFAULT_PARAMS;
  return cmd
    .option('--factors <n>', 'latent dimensions', num('int', MANIFEST_BOUNDS.dims), d.factors)
    .option('--iterations <n>', 'ALS epochs', num('int', 1), d.iterations)
    .option('--regularization <x>', 'L2 regularisation λ', num('float', MANIFEST_BOUNDS.regularization), d.regularization)
    .option('--reg-exponent <x>', 'frequency scaling ν of λ (Rendle et al. 2022)', num('float', MANIFEST_BOUNDS.regExponent), d.regExponent)
    .option('--alpha <x>', 'confidence scale: c = 1 + alpha·f(strength)', num('float', MANIFEST_BOUNDS.alpha), d.alpha)
    .option('--confidence <f>', 'f in the confidence: linear (strength) or log1p', d.confidence)
    .option('--unobserved-weight <x>', 'weight w0 of unobserved pairs', num('float', MANIFEST_BOUNDS.unobservedWeight), d.unobservedWeight)
    .option('--cg-steps <n>', 'conjugate-gradient steps per row', num('int', 1), d.cgSteps)
    .option('--solver <name>', 'cg (fast) or cholesky (exact reference)', d.solver)
    .option(
      '--popularity-exponent <x>',
      'β: unobserved weight of item i ∝ (count_i + 1)^β (0 = uniform)',
      num('float'),
      d.popularityExponent,
    )
    .option('--seed <n>', 'random seed', num('int', 0), d.seed);
}

export function paramsFrom(o: Record<string, unknown>): IalsParams {
  if (o.solver !== 'cg' && o.solver !== 'cholesky') throw new Error(`--solver must be cg or cholesky, got ${String(o.solver)}`);
  if (o.confidence !== 'linear' && o.confidence !== 'log1p')
    throw new Error(`--confidence must be linear or log1p, got ${String(o.confidence)}`);
  return {
    factors: o.factors as number,
    iterations: o.iterations as number,
    regularization: o.regularization as number,
    regExponent: o.regExponent as number,
    alpha: o.alpha as number,
    unobservedWeight: o.unobservedWeight as number,
    cgSteps: o.cgSteps as number,
    solver: o.solver,
    seed: o.seed as number,
    initScale: DEFAULT_PARAMS.initScale,
    popularityExponent: o.popularityExponent as number,
    confidence: o.confidence,
  };
}

/** The Ed25519 private key: MODEL_SIGNING_KEY, or the first line of --key-file. */
export async function signingKey(keyFile?: string): Promise<string | undefined> {
  if (keyFile) return (await readFile(keyFile, 'utf8')).trim().split('\n')[0];
  return process.env.MODEL_SIGNING_KEY?.trim() || undefined;
}

/** The items file's summary line and its first warnings, as train and import-spark print them. */
export function itemsReportLines(r: ItemsReport): string[] {
  return [
    `items file: ${r.applied} rows applied, ${r.unknownIds} unknown ids, ${r.badValues} bad values${r.duplicates ? `, ${r.duplicates} rows repeating an earlier item (later values win)` : ''}${r.malformed ? `, ${r.malformed} malformed rows skipped` : ''} (${r.rows} rows in ${r.file})`,
    ...r.warnings.map((w) => `  line ${w.line}: ${w.reason}`),
  ];
}

export function fmt(m: object): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}=${(v as number).toFixed(4)}`)
    .join('  ');
}

export async function run(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
