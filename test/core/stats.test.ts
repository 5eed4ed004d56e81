/**
 * The statistics of experiment reports against values computed independently (Python's
 * statistics.NormalDist and the textbook formulas; the 10/100 Wilson interval is the one
 * Newcombe 1998 tabulates, 0.0552–0.1744).
 */
import { meanInterval, normalCdf, twoProportionTest, welchTest, wilson } from '@edge-recs/core/stats';
import { describe, expect, it } from 'vitest';

describe('experiment statistics', () => {
  it('Φ(1.96) is 0.9750021', () => {
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021048517796, 6);
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(-1.96)).toBeCloseTo(1 - 0.9750021048517796, 6);
  });

  it('Wilson intervals match the tabulated ones, including at 0 and at n', () => {
    const a = wilson(10, 100);
    expect(a?.estimate).toBe(0.1);
    expect(a?.low).toBeCloseTo(0.0552291370606751, 9);
    expect(a?.high).toBeCloseTo(0.17436566150491345, 9);
    const none = wilson(0, 50);
    expect(none?.low).toBe(0);
    expect(none?.high).toBeCloseTo(0.07134759913335872, 9);
    const all = wilson(7, 7);
    expect(all?.low).toBeCloseTo(0.6456695649333126, 9);
    expect(all?.high).toBe(1);
    expect(wilson(0, 0)).toBeNull();
    // exactly 0 and 1 at the ends for every n, not rounding residue
    for (const n of [3, 17, 1000, 12345]) {
      expect(wilson(0, n)?.low).toBe(0);
      expect(wilson(n, n)?.high).toBe(1);
    }
  });

  it('the pooled two-proportion test of 50/1000 against 70/1000 gives z = 1.8831, p = 0.0597', () => {
    const t = twoProportionTest(50, 1000, 70, 1000);
    expect(t?.difference).toBeCloseTo(0.02, 12);
    expect(t?.z).toBeCloseTo(1.883108942886774, 9);
    expect(t?.pValue).toBeCloseTo(0.05968560553242641, 6);
    expect(t?.significant).toBe(false);
    expect(twoProportionTest(5, 0, 1, 10)).toBeNull();
    expect(twoProportionTest(100, 1000, 160, 1000)?.significant).toBe(true);
  });

  it('means and Welch tests are computed exactly from sums and sums of squares', () => {
    // values 1, 2, 3, 4: mean 2.5, sample variance 5/3
    const m = meanInterval(10, 30, 4);
    const half = 1.959963984540054 * Math.sqrt(5 / 3 / 4);
    expect(m?.estimate).toBe(2.5);
    expect(m?.low).toBeCloseTo(2.5 - half, 12);
    expect(m?.high).toBeCloseTo(2.5 + half, 12);
    // values 0, 0, 0, 9 (revenue per answer): the normal interval would reach below 0
    const skewed = meanInterval(9, 81, 4);
    expect(skewed!.low).toBeLessThan(0);
    expect(meanInterval(9, 81, 4, { nonNegative: true })).toEqual({ ...skewed, low: 0 });
    // a = [0,0,10,0,5], b = [3,3,3,3,8,0]
    const t = welchTest({ sum: 15, sumSq: 125, n: 5 }, { sum: 20, sumSq: 100, n: 6 });
    expect(t?.difference).toBeCloseTo(1 / 3, 12);
    expect(t?.z).toBeCloseTo(0.14744195615489722, 9);
    expect(t?.pValue).toBeCloseTo(0.8827831911528259, 6);
  });

  it('give no interval and no test until the values vary, rather than a zero-width certainty', () => {
    // one answer; ten answers without revenue; six answers of exactly 2 each
    expect(meanInterval(7.5, 56.25, 1)).toBeNull();
    expect(meanInterval(0, 0, 10, { nonNegative: true })).toBeNull();
    expect(meanInterval(12, 24, 6)).toBeNull();
    expect(welchTest({ sum: 0, sumSq: 0, n: 10 }, { sum: 12, sumSq: 24, n: 6 })).toBeNull();
    expect(welchTest({ sum: 0, sumSq: 0, n: 10 }, { sum: 20, sumSq: 100, n: 6 })).toBeNull();
    // once both sides vary the test is back
    expect(welchTest({ sum: 2, sumSq: 4, n: 10 }, { sum: 20, sumSq: 100, n: 6 })).not.toBeNull();
  });
});
