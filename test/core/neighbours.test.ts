/**
 * Neighbour parts (core/neighbours.ts) as the edge reads them: a part whose weights would decode
 * to Infinity, NaN or a negative number is refused like any other malformed part, so the Worker
 * serves its items around it (src/models/item-model.ts) instead of answering null scores.
 */
import { encodeNeighbourPart, fromFloat16, NeighbourPart, type NeighbourRows, toFloat16 } from '@edge-recs/core/neighbours';
import { describe, expect, it } from 'vitest';

const buf = (b: Uint8Array) => b.slice().buffer as ArrayBuffer;
const SHAPE = { first: 0, count: 3, itemCount: 3 };
// item 0 lists 1 and 2, item 1 lists 0, item 2 lists nothing
const rowPtr = [0, 2, 3, 3];
const index = [1, 2, 0];
const half = (weights: number[]): NeighbourRows => ({ rowPtr, index, weightType: 'float16', float16: weights.map(toFloat16) });
const int8 = (q: number[], scales: number[]): NeighbourRows => ({ rowPtr, index, weightType: 'int8', int8: { q, scales } });
const part = (rows: NeighbourRows) => new NeighbourPart(buf(encodeNeighbourPart(rows, 0, 3)), SHAPE);

describe('neighbour part weights', () => {
  it('reads finite weights ≥ 0 back (zero and -0 included)', () => {
    expect(Array.from(part(half([0.75, 0.5, 65504])).row(0).weight)).toEqual([0.75, 0.5]);
    expect(Array.from(part(half([0.75, 0, -0])).row(1).weight)).toEqual([-0]);
    expect(Array.from(part(int8([127, 3, 127], [1 / 127, 0.5, 0])).row(0).weight)).toEqual([
      Math.fround(127 * Math.fround(1 / 127)),
      Math.fround(3 * Math.fround(1 / 127)),
    ]);
    expect(fromFloat16(toFloat16(1e6))).toBe(Number.POSITIVE_INFINITY); // what an unscaled import used to store
  });

  it('refuses a float16 Infinity or NaN, and a negative weight, naming the item', () => {
    expect(() => part(half([1e6, 0.5, 0.1]))).toThrow(/not a finite number ≥ 0 \(item 0: Infinity\)/);
    expect(() => part({ ...half([0.5, 0.5, 0.1]), float16: [toFloat16(0.5), toFloat16(0.5), 0x7e00] })).toThrow(/item 1: NaN/);
    expect(() => part(half([0.5, -0.25, 0.1]))).toThrow(/item 0: -0\.25/);
  });

  it('refuses an int8 row whose scale is not finite, or whose weights overflow float32', () => {
    expect(() => part(int8([127, 3, 127], [Number.POSITIVE_INFINITY, 1, 1]))).toThrow(/item 0: (Infinity|NaN)/);
    expect(() => part(int8([127, 0, 127], [1, Number.NaN, 1]))).toThrow(/item 1: NaN/);
    expect(() => part(int8([127, 3, 127], [1, 3e38, 1]))).toThrow(/item 1: Infinity/); // 127 · 3e38 > float32's largest
    expect(() => part(int8([127, -3, 127], [1, 1, 1]))).toThrow(/item 0: -3/);
  });
});
