/**
 * The shopper simulation's known-rate mode, without a deployment: how `--click-probability` and
 * `--purchase-probability` parse, which key an answer takes its probabilities from, and the
 * verdict of known rates against a report (the e2e test, test/e2e/experiment.test.ts, runs it
 * against `wrangler dev`).
 */
import { wilson } from '@edge-recs/core/stats';
import { describe, expect, it } from 'vitest';
import { judgeKnown, type MetricsReport, parseProbabilities, probabilityFor, type VariantTally } from '../../scripts/simulate-shoppers';

describe('--click-probability / --purchase-probability', () => {
  it('parses variant=p pairs', () => {
    expect(parseProbabilities('bundled=0.08,random-v1=0.03')).toEqual({ bundled: 0.08, 'random-v1': 0.03 });
    expect(parseProbabilities(' a = 0 , * = 1 ')).toEqual({ a: 0, '*': 1 });
  });

  it.each(['bundled', 'bundled=', 'bundled=1.5', 'bundled=-0.1', 'bundled=x', 'a=0.1,a=0.2', 'a=0.1,', '=0.1'])('rejects %j', (text) => {
    expect(() => parseProbabilities(text)).toThrow();
  });
});

describe('the probabilities of an answer', () => {
  const definition = {
    name: 'ranking',
    variants: [
      { name: 'bundled', weight: 1, modelVersion: 'bundled' },
      { name: 'random', weight: 1, modelVersion: 'random-v1' },
      { name: 'active', weight: 1 },
    ],
  };
  const answer = (variant: string | undefined, model: string) => ({ ...(variant ? { experiment: 'ranking', variant } : {}), model });

  it('takes the variant name first, then the model version the variant is defined with, then the model the answer carries, then *', () => {
    const table = { random: 0.2, 'random-v1': 0.3, '2026-01-01-abc': 0.4, '*': 0.5 };
    expect(probabilityFor(table, answer('random', 'random-v1'), definition)).toEqual({ key: 'random', p: 0.2 });
    expect(probabilityFor({ 'random-v1': 0.3, '*': 0.5 }, answer('random', 'random-v1'), definition)).toEqual({ key: 'random-v1', p: 0.3 });
    // the bundled variant's answers carry the bundled model's own version, not "bundled"
    expect(probabilityFor({ bundled: 0.1 }, answer('bundled', '2026-01-01-abc'), definition)).toEqual({ key: 'bundled', p: 0.1 });
    expect(probabilityFor(table, answer('active', '2026-01-01-abc'), definition)).toEqual({ key: '2026-01-01-abc', p: 0.4 });
    expect(probabilityFor(table, answer(undefined, 'other'), definition)).toEqual({ key: '*', p: 0.5 });
    expect(probabilityFor({ random: 0.2 }, answer(undefined, 'other'), definition)).toBeUndefined();
    // without the experiment's definition (no admin token), the defined model version is unknown
    expect(probabilityFor({ 'random-v1': 0.3 }, answer('random', 'x'), null)).toBeUndefined();
  });
});

describe('known rates against a report', () => {
  const tally = (variant: string, answers: number, click: number, purchase: number): VariantTally => ({
    experiment: 'known',
    variant,
    shoppers: answers,
    views: 0,
    answers,
    itemsShown: 10 * answers,
    clicks: 0,
    addToCarts: 0,
    purchases: 0,
    revenue: 0,
    known: { click, purchase, expectedConversions: answers * (1 - (1 - click * purchase) ** 10) },
  });
  const group = (variant: string, answers: number, clicks: number, purchases: number, converted: number) => ({
    experiment: 'known',
    variant,
    answers,
    itemsShown: 10 * answers,
    clicks,
    addToCarts: purchases,
    purchases,
    revenue: 0,
    rates: {
      ctr: wilson(clicks, 10 * answers),
      clicksPerAnswer: null,
      conversion: wilson(converted, answers),
      addToCartRate: null,
      revenuePer1000Answers: null,
    },
    versusControl: null,
  });

  it('puts each known value beside the report’s interval and says whether it holds it', () => {
    const report: MetricsReport = {
      from: '',
      to: '',
      placement: null,
      experiment: 'known',
      groupBy: 'variant',
      // bundled: 10.2% CTR of 4,000 items holds 0.10; random: 2.5% of 2,000 does not hold 0.04
      groups: [group('bundled', 400, 408, 120, 104), group('random', 200, 50, 10, 10)],
    };
    const before = new Map([
      [JSON.stringify(['known', 'random']), { answers: 7, itemsShown: 70, clicks: 0, addToCarts: 0, purchases: 0, revenue: 0 }],
    ]);
    const [bundled, random] = judgeKnown([tally('bundled', 400, 0.1, 0.3), tally('random', 200, 0.04, 0.2)], report, before, true);
    expect(bundled).toMatchObject({ variant: 'bundled', click: 0.1, purchase: 0.3, answersBefore: 0 });
    expect(bundled.rates.map((r) => [r.rate, r.contains])).toEqual([
      ['ctr', true],
      ['conversion', true],
      ['purchasesPerClick', true],
    ]);
    expect(bundled.rates[1].known).toBeCloseTo(1 - 0.97 ** 10, 12);
    expect(bundled.rates[2].measured).toEqual(wilson(120, 408));
    expect(random.answersBefore).toBe(7);
    expect(random.rates[0]).toMatchObject({ rate: 'ctr', known: 0.04, contains: false });
    expect(random.rates[0].measured?.high).toBeLessThan(0.04);
  });

  it('judges the CTR alone without purchase probabilities, and nothing without a report', () => {
    const [v] = judgeKnown([tally('bundled', 10, 0.1, 0)], null, null, false);
    expect(v.purchase).toBeNull();
    expect(v.rates).toEqual([{ rate: 'ctr', known: 0.1, measured: null, contains: null }]);
  });
});
