/** Shared command-line plumbing for the trainer's commands (commander options, number parsing). */

import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { DEFAULT_PARAMS, type IalsParams } from '../ials';

export function num(kind: 'int' | 'float', min = -Infinity) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n)) || n < min) {
      throw new InvalidArgumentError(`expected ${kind === 'int' ? 'an integer' : 'a number'} ≥ ${min}`);
    }
    return n;
  };
}

/** Adds the iALS hyperparameter options (defaults from DEFAULT_PARAMS). */
export function hyperparameterOptions(cmd: Command): Command {
  const d = DEFAULT_PARAMS;
  return cmd
    .option('--factors <n>', 'latent dimensions', num('int', 1), d.factors)
    .option('--iterations <n>', 'ALS epochs', num('int', 1), d.iterations)
    .option('--regularization <x>', 'L2 regularisation λ', num('float', 0), d.regularization)
    .option('--reg-exponent <x>', 'frequency scaling ν of λ (Rendle et al. 2022)', num('float', 0), d.regExponent)
    .option('--alpha <x>', 'confidence scale: c = 1 + alpha·f(strength)', num('float', 0), d.alpha)
    .option('--confidence <f>', 'f in the confidence: linear (strength) or log1p', d.confidence)
    .option('--unobserved-weight <x>', 'weight w0 of unobserved pairs', num('float', 0), d.unobservedWeight)
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
