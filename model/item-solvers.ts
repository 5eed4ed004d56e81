/**
 * Which item-item solver learns the neighbour lists: exact EASE/EDLAE (dense inverse) up to
 * MAX_EXACT_ITEMS items, local EASE (model/local-ease.ts, per-item regressions on co-occurrence
 * neighbourhoods) above it — or either on request, to compare them on data where both fit.
 * Apart from model/item-model.ts because local EASE builds on that module's pieces.
 */
import { type DenseEaseOptions, exactEase, type ItemItemSolver } from './item-model';
import { type LocalEaseOptions, localEase } from './local-ease';
import { MAX_EXACT_ITEMS } from './spd-inverse';

export type SolverChoice = 'auto' | 'exact' | 'approximate';

export const SOLVER_CHOICES: readonly SolverChoice[] = ['auto', 'exact', 'approximate'];

export interface SolverOptions {
  /** auto (default): exact up to MAX_EXACT_ITEMS items, approximate above */
  solver?: SolverChoice;
  exact?: DenseEaseOptions;
  approximate?: LocalEaseOptions;
}

/** The solver for an item count; 'exact' above the bound is refused rather than left to run out of memory. */
export function solverFor(itemCount: number, opts: SolverOptions = {}): ItemItemSolver {
  const choice = opts.solver ?? 'auto';
  if (choice === 'exact' && itemCount > MAX_EXACT_ITEMS)
    throw new Error(`${itemCount} items: exact EASE is limited to ${MAX_EXACT_ITEMS}; use the approximate solver`);
  if (choice === 'exact' || (choice === 'auto' && itemCount <= MAX_EXACT_ITEMS)) return exactEase(opts.exact);
  return localEase(opts.approximate);
}

/** The manifest's `itemModel.algorithm` for lists from a solver (see model/item-artifact.ts). */
export const algorithmOf = (solver: ItemItemSolver): string => (solver.name === 'exact-ease' ? 'edlae' : 'edlae-local');
