/**
 * Statistics of experiment reports, computed from stored counts (never from samples):
 * - Wilson score interval for a proportion (CTR per item shown, conversion per answer): unlike
 *   the normal (Wald) interval it keeps its coverage at small counts and rates near 0 or 1, where
 *   click-through rates live;
 * - the pooled two-proportion z-test between a variant and the control;
 * - a normal interval for a mean from its sum and sum of squares (clicks or revenue per answer:
 *   the counters keep Σx and Σx² per answer, so the variance is exact), and Welch's z-test between
 *   two such means (the samples are answers, thousands per variant, so z rather than t).
 * The normal CDF comes from simple-statistics' error function (absolute error < 1.2e-7).
 */
import { errorFunction } from 'simple-statistics';

/** z of a two-sided 95% interval: Φ⁻¹(0.975). */
export const Z95 = 1.959963984540054;

export interface Interval {
  estimate: number;
  low: number;
  high: number;
}

export interface TestResult {
  /** treatment − control */
  difference: number;
  z: number;
  /** two-sided */
  pValue: number;
  /** pValue < 0.05 */
  significant: boolean;
}

/** Φ(z), the standard normal CDF. */
export function normalCdf(z: number): number {
  return 0.5 * (1 + errorFunction(z / Math.SQRT2));
}

/** Two-sided p-value of a z statistic. */
export function twoSidedP(z: number): number {
  return Math.min(1, 2 * (1 - normalCdf(Math.abs(z))));
}

/** Wilson score interval of `successes` out of `trials` (null without trials). */
export function wilson(successes: number, trials: number, z = Z95): Interval | null {
  if (!(trials > 0)) return null;
  const p = successes / trials;
  const z2 = z * z;
  const denom = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  // at 0 and at n the bound is exactly 0 or 1; the formula's rounding would leave ~1e-17
  return {
    estimate: p,
    low: successes <= 0 ? 0 : Math.max(0, centre - half),
    high: successes >= trials ? 1 : Math.min(1, centre + half),
  };
}

/** Pooled two-proportion z-test of x2/n2 (treatment) against x1/n1 (control). */
export function twoProportionTest(x1: number, n1: number, x2: number, n2: number): TestResult | null {
  if (!(n1 > 0 && n2 > 0)) return null;
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  const difference = p2 - p1;
  const z = se > 0 ? difference / se : 0;
  const pValue = se > 0 ? twoSidedP(z) : 1;
  return { difference, z, pValue, significant: pValue < 0.05 };
}

/** Mean and sample variance of n values from Σx and Σx². */
function moments(sum: number, sumSq: number, n: number): { mean: number; variance: number } {
  const mean = sum / n;
  const variance = n > 1 ? Math.max(0, (sumSq - n * mean * mean) / (n - 1)) : 0;
  return { mean, variance };
}

/**
 * Normal interval of a mean from Σx, Σx² and n. `nonNegative`: the values cannot be negative
 * (counts, revenue), so neither can the mean: the low end stops at 0. Null until the values
 * vary (fewer than two, or all equal: no purchase yet, one order value so far): a zero sample
 * variance is not a certain mean, and a zero-width interval would claim one.
 */
export function meanInterval(sum: number, sumSq: number, n: number, opts: { z?: number; nonNegative?: boolean } = {}): Interval | null {
  if (!(n > 1)) return null;
  const { mean, variance } = moments(sum, sumSq, n);
  if (!(variance > 0)) return null;
  const half = (opts.z ?? Z95) * Math.sqrt(variance / n);
  return { estimate: mean, low: opts.nonNegative ? Math.max(0, mean - half) : mean - half, high: mean + half };
}

/**
 * Welch's z-test of mean 2 (treatment) against mean 1 (control), from sums. Null while either
 * side's values do not vary (as `meanInterval`): its standard error would be 0 or rest on one
 * side alone, and "the same value every time" is too little data to test a difference with.
 */
export function welchTest(a: { sum: number; sumSq: number; n: number }, b: { sum: number; sumSq: number; n: number }): TestResult | null {
  if (!(a.n > 1 && b.n > 1)) return null;
  const ma = moments(a.sum, a.sumSq, a.n);
  const mb = moments(b.sum, b.sumSq, b.n);
  if (!(ma.variance > 0 && mb.variance > 0)) return null;
  const se = Math.sqrt(ma.variance / a.n + mb.variance / b.n);
  const difference = mb.mean - ma.mean;
  const z = difference / se;
  const pValue = twoSidedP(z);
  return { difference, z, pValue, significant: pValue < 0.05 };
}

/** Scales an interval (rates per 1,000 answers). */
export function scaled(i: Interval | null, by: number): Interval | null {
  return i && { estimate: i.estimate * by, low: i.low * by, high: i.high * by };
}
