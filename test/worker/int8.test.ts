/**
 * The int8 WebAssembly SIMD kernel (src/inference/int8.wat), run inside workerd from the module
 * wrangler bundles, must rank exactly like a plain TypeScript scorer doing the same arithmetic
 * (int8 rows × 16-bit query, then the scales), with and without exclusions, across catalogue
 * sizes that do not fill its 8-row passes. How close int8 ranks to float32 is a quality question,
 * measured on real data by `npm run bench`.
 */

import { int8Supported, quantizeQuery, quantizeRows } from '@edge-recs/core/int8';
import { topK } from '@edge-recs/core/topk';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../model/rng';
import { createInt8Index } from '../../src/inference/int8-module';

function fixture(n: number, dims: number, seed: number) {
  const rng = new Rng(seed);
  const y = new Float32Array(n * dims).map(() => rng.normal());
  const { q, scales } = quantizeRows(y, n, dims);
  const deq = Float32Array.from(q, (x, k) => x * scales[Math.floor(k / dims)]);
  return { rng, q, scales, deq };
}

/** the kernel's arithmetic in plain TypeScript: exact integer dot, then the two scales */
function int8Reference(
  q: Int8Array,
  scales: Float32Array,
  n: number,
  dims: number,
  u: ArrayLike<number>,
  k: number,
  exclude?: Set<number>,
) {
  const { q: u16, scale } = quantizeQuery(u, dims);
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dims; d++) s += q[i * dims + d] * u16[d];
    scores[i] = Math.fround(Math.fround(s) * scales[i]) * scale;
  }
  return topK(scores, k, exclude);
}

function expectClose(got: number, want: number) {
  expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want)));
}

describe('int8 scoring kernel in workerd', () => {
  for (const [n, dims] of [
    [1, 16],
    [13, 64],
    [1000, 64],
    [10_003, 64],
    [2_501, 128],
    [777, 48],
  ] as const) {
    it(`ranks ${n} items × ${dims} dims exactly like the reference arithmetic`, async () => {
      const { rng, q, scales } = fixture(n, dims, n + dims);
      const index = await createInt8Index(n, dims);
      // load in two parts, as the Worker does from part files
      const half = Math.floor(n / 2);
      index.setRows(0, q.subarray(0, half * dims), scales.subarray(0, half));
      index.setRows(half, q.subarray(half * dims), scales.subarray(half));
      for (let v = 0; v < 3; v++) {
        const u = new Float32Array(dims).map(() => rng.normal());
        const exclude = new Set(Array.from({ length: Math.min(5, n - 1) }, () => rng.int(n)));
        for (const k of [1, 20, 100]) {
          const want = int8Reference(q, scales, n, dims, u, k, exclude);
          const got = index.topK(u, k, exclude);
          expect(got.map((s) => s.index)).toEqual(want.map((s) => s.index));
          got.forEach((s, j) => {
            expectClose(s.score, want[j].score);
          });
          expect(got.every((s) => s.index < n && !exclude.has(s.index))).toBe(true);
        }
      }
    });
  }

  it('returns every item, best first, when k is at least the catalogue size, and nothing for k = 0', async () => {
    const n = 11,
      dims = 32;
    const { rng, q, scales } = fixture(n, dims, 5);
    const index = await createInt8Index(n, dims);
    index.setRows(0, q, scales);
    const u = new Float32Array(dims).map(() => rng.normal());
    const got = index.topK(u, 50, [3]);
    expect(got.map((s) => s.index)).toEqual(int8Reference(q, scales, n, dims, u, 50, new Set([3])).map((s) => s.index));
    expect(got).toHaveLength(10);
    expect(index.topK(u, 0)).toEqual([]);
  });

  it('breaks ties by the lower index, like the reference', async () => {
    const n = 40,
      dims = 16;
    const index = await createInt8Index(n, dims);
    const q = new Int8Array(n * dims).fill(1);
    index.setRows(0, q, new Float32Array(n).fill(0.5));
    expect(index.topK(new Float32Array(dims).fill(1), 5).map((s) => s.index)).toEqual([0, 1, 2, 3, 4]);
  });

  it('finds the most similar items by cosine, without the item itself', async () => {
    const n = 500,
      dims = 64;
    const { q, scales, deq } = fixture(n, dims, 9);
    const index = await createInt8Index(n, dims);
    index.setRows(0, q, scales);
    const norm = (i: number) => Math.hypot(...deq.subarray(i * dims, (i + 1) * dims));
    const scores = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let d = 0; d < dims; d++) s += deq[i * dims + d] * deq[7 * dims + d];
      scores[i] = s / (norm(i) * norm(7));
    }
    const want = topK(scores, 10, new Set([7]));
    const got = index.similar(7, 10);
    expect(got.map((s) => s.index)).toEqual(want.map((s) => s.index));
    // float cosine as the reference: only the 16-bit query rounding separates them
    got.forEach((s, j) => {
      expect(s.score).toBeCloseTo(want[j].score, 4);
    });
  });

  it('gives back the dequantised rows it was loaded with', async () => {
    const n = 21,
      dims = 48;
    const { q, scales, deq } = fixture(n, dims, 3);
    const index = await createInt8Index(n, dims);
    index.setRows(0, q, scales);
    for (const i of [0, 5, 20]) expect(Array.from(index.row(i))).toEqual(Array.from(deq.subarray(i * dims, (i + 1) * dims)));
    const u = new Float32Array(dims).fill(0.25);
    const dots = index.dots(u, [2, 20]);
    expect(dots[0]).toBeCloseTo(
      deq.subarray(2 * dims, 3 * dims).reduce((a, x) => a + x * 0.25, 0),
      4,
    );
  });

  it('accepts only dimension counts the kernel can score exactly', async () => {
    expect(int8Supported(64)).toBe(true);
    expect(int8Supported(4)).toBe(false);
    expect(int8Supported(1024)).toBe(false);
    await expect(createInt8Index(10, 20)).rejects.toThrow(/multiple of 16/);
  });
});
