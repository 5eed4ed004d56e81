/** The evaluation protocol and its metrics, on cases small enough to check by hand. */
import { describe, expect, it } from 'vitest';
import { evaluateIals, rankingMetrics, strongGeneralizationSplit } from '../../model/evaluate';
import { DEFAULT_PARAMS } from '../../model/ials';
import { Rng } from '../../model/rng';
import { csrFromTriples } from '../../model/sparse';

describe('ranking metrics', () => {
  it('divides hits by min(K, |held-out|) and discounts by log2 of the rank', () => {
    // held-out {7, 9}; 7 at rank 1, 9 at rank 3
    const m = rankingMetrics([7, 1, 9, 2], [7, 9]);
    expect(m['recall@20']).toBe(1);
    const dcg = 1 + 1 / Math.log2(4);
    const idcg = 1 + 1 / Math.log2(3);
    expect(m['ndcg@100']).toBeCloseTo(dcg / idcg, 12);
    expect(rankingMetrics([1, 2, 3], [9])).toEqual({ 'recall@20': 0, 'recall@50': 0, 'ndcg@100': 0 });
  });

  it('caps the recall denominator at K', () => {
    const ranked = Array.from({ length: 60 }, (_, i) => i);
    const heldOut = Array.from({ length: 30 }, (_, i) => i * 2); // 0,2,…,58: 10 in the top 20
    expect(rankingMetrics(ranked, heldOut)['recall@20']).toBe(10 / 20);
    expect(rankingMetrics(ranked, heldOut)['recall@50']).toBe(25 / 30);
  });
});

function randomMatrix(users: number, items: number, perUser: number, seed: number) {
  const rng = new Rng(seed);
  const r: number[] = [],
    c: number[] = [];
  for (let u = 0; u < users; u++) {
    const n = 1 + rng.int(perUser);
    for (let k = 0; k < n; k++) {
      r.push(u);
      c.push(rng.int(items));
    }
  }
  return csrFromTriples(users, items, Int32Array.from(r), Int32Array.from(c), new Float32Array(r.length).fill(1));
}

describe('strong-generalisation split', () => {
  const m = randomMatrix(400, 50, 12, 3);

  it('holds out 10% of the users with at least 5 items, entirely', () => {
    const s = strongGeneralizationSplit(m, { seed: 1 });
    let eligible = 0;
    for (let u = 0; u < m.rows; u++) if (m.rowPtr[u + 1] - m.rowPtr[u] >= 5) eligible++;
    expect(s.test).toHaveLength(Math.round(eligible * 0.1));
    expect(s.train.rows + s.test.length).toBe(m.rows);
    for (const t of s.test) {
      const n = t.foldIn.length + t.heldOut.length;
      expect(n).toBeGreaterThanOrEqual(5);
      expect(t.foldIn.length).toBe(Math.floor(n * 0.8));
      const folded = new Set(t.foldIn.map((x) => x.index));
      for (const h of t.heldOut) expect(folded.has(h)).toBe(false);
    }
  });

  it('is seeded: same seed, same split; another seed, another split', () => {
    const a = strongGeneralizationSplit(m, { seed: 1 }),
      b = strongGeneralizationSplit(m, { seed: 1 }),
      c = strongGeneralizationSplit(m, { seed: 2 });
    expect(a.trainUsers).toEqual(b.trainUsers);
    expect(a.trainUsers).not.toEqual(c.trainUsers);
  });
});

describe('evaluation report', () => {
  it('scores a model with real structure above the popularity baseline', async () => {
    // two taste groups over disjoint halves of the catalogue
    const rng = new Rng(9);
    const r: number[] = [],
      c: number[] = [];
    for (let u = 0; u < 300; u++) {
      const half = u % 2;
      for (let k = 0; k < 8; k++) {
        r.push(u);
        c.push(half * 20 + rng.int(20));
      }
    }
    const m = csrFromTriples(300, 40, Int32Array.from(r), Int32Array.from(c), new Float32Array(r.length).fill(1));
    const report = await evaluateIals(
      m,
      { ...DEFAULT_PARAMS, factors: 4, iterations: 8, regularization: 0.1, regExponent: 0, unobservedWeight: 1, popularityExponent: 0 },
      { seed: 5 },
    );
    expect(report.protocol.testUsers).toBeGreaterThan(20);
    expect(report.model['ndcg@100']).toBeGreaterThan(report.popularity['ndcg@100'] + 0.1);
  });
});
