/**
 * The basket ("bought together") model's association gate (model/bought-together.ts): an item in
 * nearly every basket is bought with everything, so it belongs in no list, while pairs bought
 * together more than chance keep their place and order.
 */
import { describe, expect, it } from 'vitest';
import { associationGate, boughtTogether, DEFAULT_BOUGHT_TOGETHER } from '../../model/bought-together';
import { type NeighbourLists, quantise } from '../../model/item-model';
import { solverFor } from '../../model/item-solvers';
import { Rng } from '../../model/rng';
import { type Csr, csrFromTriples } from '../../model/sparse';

function matrix(rows: number[][], cols: number): Csr {
  const r: number[] = [],
    c: number[] = [];
  rows.forEach((items, b) => {
    for (const i of items) {
      r.push(b);
      c.push(i);
    }
  });
  return csrFromTriples(rows.length, cols, Int32Array.from(r), Int32Array.from(c), new Float32Array(r.length).fill(1));
}

function row(l: NeighbourLists, j: number): number[] {
  return Array.from(l.index.subarray(l.rowPtr[j], l.rowPtr[j + 1]));
}

/**
 * 3,000 baskets over 41 items: pairs (2i, 2i+1), i < 20, are bought together (each basket holds
 * two random pairs and one random single item); item 40, the "bag", is added to 95% of baskets
 * regardless of what else is in them.
 */
function plantedBaskets(seed: number): { baskets: Csr; bag: number; pairs: number } {
  const rng = new Rng(seed);
  const pairs = 20,
    bag = 2 * pairs;
  const rows: number[][] = [];
  for (let b = 0; b < 3000; b++) {
    const items = new Set<number>();
    for (let t = 0; t < 2; t++) {
      const p = rng.int(pairs);
      items.add(2 * p).add(2 * p + 1);
    }
    items.add(rng.int(2 * pairs));
    if (rng.next() < 0.95) items.add(bag);
    rows.push([...items]);
  }
  return { baskets: matrix(rows, bag + 1), bag, pairs };
}

describe('bought together: the association gate', () => {
  it('leaves out an item found in every basket, keeps associated pairs in their order, cuts to N', () => {
    // items 0,1 always together; 2 in every basket; 3 alone in one basket; 4 with 0 once
    const baskets = matrix([[0, 1, 2], [0, 1, 2], [0, 1, 2, 4], [2, 3], [2], [2]], 5);
    const raw = [
      0.9, 0.8, 0.3 /* row 0: 2, 1, 4 */, 0.7, 0.6 /* row 1: 2, 0 */, 0.5 /* row 2: 0 */, 0.4 /* row 3: 2 */, 0.2 /* row 4: 0 */,
    ];
    const lists = quantise(
      { n: 5, rowPtr: Int32Array.from([0, 3, 5, 6, 7, 8]), index: Int32Array.from([2, 1, 4, 2, 0, 0, 2, 0]), raw },
      'float16',
    );
    const gated = associationGate(lists, baskets, 0, 2, 'float16');
    expect([0, 1, 2, 3, 4].map((j) => row(gated, j))).toEqual([[1, 4], [0], [], [], [0]]);
    expect(row(associationGate(lists, baskets, 0, 1, 'float16'), 0)).toEqual([1]);
    // the weights kept are the ones given, stored again
    expect(gated.weight[0]).toBeCloseTo(0.8, 2);
  });

  it("stores what survives a dropped head on its own int8 scale, not the head's", () => {
    // item 2 is in every basket (lift 1) and heads item 0's candidates with a weight far above the rest
    const baskets = matrix([[0, 1, 2], [0, 1, 2], [0, 3, 2], [2], [2], [2], [1, 2], [3, 2]], 4);
    const candidates = quantise(
      { n: 4, rowPtr: Int32Array.from([0, 3, 3, 3, 3]), index: Int32Array.from([2, 1, 3]), raw: [1, 0.006, 0.002] },
      'float16',
    );
    const gated = associationGate(candidates, baskets, 0, 2, 'int8');
    expect(row(gated, 0)).toEqual([1, 3]);
    expect(gated.weight[0] / gated.weight[1]).toBeCloseTo(3, 1);
    expect(gated.int8?.q[0]).toBe(127);
  });

  it('a stricter z drops pairs whose excess over chance is within noise', () => {
    // 0 and 1 share 3 of 0's 4 baskets while 1 is in half of all baskets: expected 2, excess 1 < 2·√(4·½·½) = 2
    const baskets = matrix([[0, 1], [0, 1], [0, 1], [0], [1], [1], [1], [2], [2], [2], [2], [2]], 3);
    const lists = quantise({ n: 3, rowPtr: Int32Array.from([0, 1, 1, 1]), index: Int32Array.from([1]), raw: [1] }, 'float16');
    expect(row(associationGate(lists, baskets, 0, 5, 'float16'), 0)).toEqual([1]);
    expect(row(associationGate(lists, baskets, 2, 5, 'float16'), 0)).toEqual([]);
  });

  it('keeps a bag bought with everything out of the lists the plain regression puts it high in', async () => {
    const { baskets, bag, pairs } = plantedBaskets(7);
    const plain = await solverFor(baskets.cols).fit(baskets, DEFAULT_BOUGHT_TOGETHER);
    const nearTop = Array.from({ length: bag }, (_, j) => row(plain, j).slice(0, 3)).filter((l) => l.includes(bag)).length;
    // the trap is real: without the gate the bag is among the first three of most lists
    expect(nearTop).toBeGreaterThan(bag / 2);
    const gated = await boughtTogether(baskets, DEFAULT_BOUGHT_TOGETHER);
    const withBag = Array.from({ length: bag }, (_, j) => row(gated, j)).filter((l) => l.includes(bag)).length;
    expect(withBag).toBeLessThanOrEqual(2);
    for (let p = 0; p < pairs; p++) {
      expect(row(gated, 2 * p)[0]).toBe(2 * p + 1);
      expect(row(gated, 2 * p + 1)[0]).toBe(2 * p);
    }
  });
});
