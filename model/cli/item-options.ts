/** Command-line options of the item model and the blend (defaults from the code's defaults). */
import type { Command } from 'commander';
import { type BlendParams, DEFAULT_BLEND } from '../blend';
import { DEFAULT_ITEM_PARAMS, type ItemModelParams } from '../item-model';
import { MANIFEST_BOUNDS, num } from './common';

export function itemModelOptions(cmd: Command): Command {
  const d = DEFAULT_ITEM_PARAMS;
  return cmd
    .option('--item-lambda <x>', 'item model: L2 regularisation λ of EASE', num('float', 0), d.lambda)
    .option('--item-dropout <x>', 'item model: extra diagonal regularisation c·(XᵀX)_jj (EDLAE; 0 = EASE)', num('float', 0), d.dropout)
    .option('--item-debias <x>', 'item model: weights into item k scaled by (count_k + 1)^−γ', num('float', 0), d.popularityDebias)
    .option('--item-neighbours <n>', 'item model: neighbours kept per item', num('int', MANIFEST_BOUNDS.neighbours), d.neighbours)
    .option('--item-weights <type>', 'item model: int8 or float16 neighbour weights', d.weightType);
}

export function itemParamsFrom(o: Record<string, unknown>): ItemModelParams {
  if (o.itemWeights !== 'int8' && o.itemWeights !== 'float16')
    throw new Error(`--item-weights must be int8 or float16, got ${String(o.itemWeights)}`);
  return {
    lambda: o.itemLambda as number,
    dropout: o.itemDropout as number,
    popularityDebias: o.itemDebias as number,
    neighbours: o.itemNeighbours as number,
    weightType: o.itemWeights,
  };
}

export function blendOptions(cmd: Command): Command {
  const d = DEFAULT_BLEND;
  return cmd
    .option(
      '--blend-factor-weight <a>',
      'served score = a·z(factor score) + (1 − a)·normalised neighbour score',
      num('float', MANIFEST_BOUNDS.factorWeight),
      d.factorWeight,
    )
    .option('--blend-input <f>', 'neighbour input per basket item: binary or log1p (of its strength)', d.neighbourInput);
}

export function blendFrom(o: Record<string, unknown>): BlendParams {
  const a = o.blendFactorWeight as number;
  if (o.blendInput !== 'binary' && o.blendInput !== 'log1p')
    throw new Error(`--blend-input must be binary or log1p, got ${String(o.blendInput)}`);
  return { factorWeight: a, neighbourInput: o.blendInput };
}
