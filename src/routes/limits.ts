/**
 * Request limits that depend on configuration (MAX_K, MAX_BASKET_ITEMS, MAX_CANDIDATES), checked
 * by the routes after schema validation: the schemas know the hard ceilings, the config the
 * deployment's own.
 */
import type { Config } from '../config';
import { AppError } from '../errors';
import { kMessage } from '../schemas';

/** k as asked, or the default; above MAX_K is a `k_out_of_range` (with the message of every k error: app.ts). */
export function checkK(k: number | undefined, config: Config): number {
  const value = k ?? config.defaultK;
  if (value > config.maxK) throw new AppError('k_out_of_range', kMessage(config.maxK));
  return value;
}

/** A basket or session must name 1..MAX_BASKET_ITEMS items. */
export function checkBasket(items: readonly string[], config: Config, field = 'items'): void {
  if (items.length === 0) throw new AppError('empty_basket', `${field} must contain at least one item id`);
  if (items.length > config.maxBasketItems)
    throw new AppError('too_many_items', `${field} has ${items.length} entries; the limit is ${config.maxBasketItems}`);
}

export function checkCandidates(candidates: readonly string[], config: Config): void {
  if (candidates.length > config.maxCandidates)
    throw new AppError('too_many_items', `candidates has ${candidates.length} entries; the limit is ${config.maxCandidates}`);
}
