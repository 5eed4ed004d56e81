/**
 * How a request narrows and reshapes scoring, applied inside the scorers (not after them), so a
 * filter that removes most of the catalogue still yields k items and a boost changes the ranking
 * itself rather than a re-sorted top-k.
 *
 * Every item has a class (one byte): class 0 = the item is filtered out and never returned;
 * class c ≥ 1 = its score becomes  score · mul[c] + add[c]  (transforms[2c], transforms[2c+1]).
 * Class 1 is conventionally the identity (mul 1, add 0), used for items no rule touches. The
 * classes come from the catalogue (availability, category, price) and the placement's boosts
 * (services/merchandising.ts builds them, services/shelf.ts caches them); a request without
 * any has no plan.
 *
 * Guarantees every scorer keeps: `classes.length` equals the model's item count; an item of a
 * class without a transform entry, or whose transformed score is −∞ or NaN, is never returned.
 * The int8 path's scores are float32, with `add` rounded in query units (inference/int8.ts).
 */
export interface ScoringPlan {
  /** one class per item index (length = the model's item count) */
  readonly classes: Uint8Array;
  /** (mul, add) per class, flattened: [mul0, add0, mul1, add1, …]; class 0's entry is unused */
  readonly transforms: Float32Array;
}

/** The identity transform table for `classes` classes (every class c ≥ 1: mul 1, add 0). */
export function identityTransforms(classes: number): Float32Array {
  const t = new Float32Array(2 * classes);
  for (let c = 1; c < classes; c++) t[2 * c] = 1;
  return t;
}

/** The score an item of class `c` ends with (NaN-free: a filtered item has none). */
export function transformed(plan: ScoringPlan, index: number, score: number): number | null {
  const c = plan.classes[index];
  if (c === 0) return null;
  return score * plan.transforms[2 * c] + plan.transforms[2 * c + 1];
}
