/**
 * The shared package's maths and rules, run in both runtimes that use them (workerd and Node):
 * the one timestamp parser, the top-k heap every scorer shares, the int8 arithmetic the kernel
 * reproduces, the stable shard hash, the one artifact-file check, and the exact split of a
 * folded-in score over the user's items that explanations rest on.
 */
import { sha256Hex } from '@edge-recs/core/bytes';
import { foldIn, foldInContributions, foldInSystem } from '@edge-recs/core/foldin';
import { fnv1a, fnv1aBytes } from '@edge-recs/core/hash';
import { decodeFactorPart, encodeFactorPart, int8Dot, int8Supported, quantizeQuery, quantizeRows } from '@edge-recs/core/int8';
import { fileMismatch, type Manifest } from '@edge-recs/core/manifest';
import { shardOf } from '@edge-recs/core/shards';
import { parseTimestamp } from '@edge-recs/core/time';
import { TopHeap, topK } from '@edge-recs/core/topk';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describe('timestamps', () => {
  it('reads ISO 8601, epoch seconds and epoch milliseconds to the same instant', () => {
    const ms = Date.UTC(2026, 10, 23, 12, 0, 0);
    expect(parseTimestamp('2026-11-23T12:00:00Z')).toBe(ms);
    expect(parseTimestamp(ms / 1000)).toBe(ms);
    expect(parseTimestamp(String(ms / 1000))).toBe(ms);
    expect(parseTimestamp(ms)).toBe(ms);
    expect(parseTimestamp(String(ms))).toBe(ms);
    expect(parseTimestamp('2026-11-23 12:00')).toBe(ms);
    expect(parseTimestamp('2026-11-23T13:00:00.000+01:00')).toBe(ms);
    expect(parseTimestamp('2026-11-23')).toBe(Date.UTC(2026, 10, 23));
  });

  it('refuses junk, non-finite and non-positive times', () => {
    for (const bad of ['yesterday', '', 'NaN', '-5', '12/1/2010 8:26', '2026-13-45', Number.NaN, Number.POSITIVE_INFINITY, 0, -1])
      expect(parseTimestamp(bad)).toBeNaN();
  });

  it('refuses dates and clock times that do not exist, which Date would roll over', () => {
    for (const bad of [
      '2026-02-30',
      '2026-02-29T00:00:00Z',
      '2026-04-31 10:00',
      '2026-11-23T24:00:00Z',
      '2026-11-23T12:60Z',
      '2026-11-23T12:00:60Z',
    ])
      expect(parseTimestamp(bad)).toBeNaN();
    expect(parseTimestamp('2028-02-29T23:59:59.999Z')).toBe(Date.UTC(2028, 1, 29, 23, 59, 59, 999));
    expect(parseTimestamp('2026-11-23T00:30:00+01:00')).toBe(Date.UTC(2026, 10, 22, 23, 30));
  });
});

describe('top-k', () => {
  it('keeps the k best scores, ties to the lower index, exactly like a full sort', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 200 }), fc.integer({ min: 0, max: 30 }), (scores, k) => {
        const want = scores
          .map((score, index) => ({ index, score }))
          .sort((a, b) => b.score - a.score || a.index - b.index)
          .slice(0, k);
        expect(topK(scores, k)).toEqual(want);
      }),
    );
  });

  it('skips excluded items and NaN scores, and reports the running threshold', () => {
    expect(topK([3, Number.NaN, 9, 1], 2, new Set([2]))).toEqual([
      { index: 0, score: 3 },
      { index: 3, score: 1 },
    ]);
    const heap = new TopHeap(2);
    expect(heap.threshold()).toBe(Number.NEGATIVE_INFINITY);
    heap.offer(0, 5);
    heap.offer(1, 7);
    heap.offer(2, 6);
    expect(heap.threshold()).toBe(6);
    expect(heap.sorted(2)).toEqual([
      { index: 1, score: 14 },
      { index: 2, score: 12 },
    ]);
  });
});

describe('int8 quantisation', () => {
  it('rounds rows to within half a step of their scale and scores like the float dot product', () => {
    const dims = 16;
    const rows = Float32Array.from({ length: 3 * dims }, (_, k) => Math.sin(k * 1.7) * (1 + (k % 5)));
    const { q, scales } = quantizeRows(rows, 3, dims);
    for (let k = 0; k < rows.length; k++)
      expect(Math.abs(q[k] * scales[Math.floor(k / dims)] - rows[k])).toBeLessThanOrEqual(scales[Math.floor(k / dims)] / 2 + 1e-6);
    const u = Float32Array.from({ length: dims }, (_, d) => Math.cos(d));
    const query = quantizeQuery(u, dims);
    for (let r = 0; r < 3; r++) {
      let exact = 0;
      for (let d = 0; d < dims; d++) exact += q[r * dims + d] * scales[r] * u[d];
      expect(int8Dot(query, q.subarray(r * dims, (r + 1) * dims), scales[r])).toBeCloseTo(exact, 3);
    }
  });

  it('writes a factor part the loader reads back row for row, and refuses a part of the wrong size or with a bad scale', () => {
    const dims = 16;
    const rows = 3;
    const f = Float32Array.from({ length: rows * dims }, (_, k) => Math.sin(k));
    const { q, scales } = quantizeRows(f, rows, dims);
    // a part taken from the middle of a larger array (subarray offsets) encodes the same bytes
    const bigger = new Int8Array(q.length + dims);
    bigger.set(q, dims);
    const part = encodeFactorPart(bigger.subarray(dims), scales, rows, dims);
    expect(part.byteLength).toBe(rows * (dims + 4));
    const back = decodeFactorPart(part.slice().buffer, rows, dims);
    if ('error' in back) throw new Error(back.error);
    expect([...back.q]).toEqual([...q]);
    expect([...back.scales]).toEqual([...scales]);
    expect(decodeFactorPart(part.slice(1).buffer, rows, dims)).toEqual({ error: expect.stringMatching(/not 3 int8 rows/) });
    const nan = part.slice();
    new DataView(nan.buffer).setFloat32(rows * dims, Number.NaN, true);
    expect(decodeFactorPart(nan.buffer, rows, dims)).toEqual({ error: expect.stringMatching(/scale/) });
  });

  it('knows which dims the kernel can score', () => {
    expect([16, 64, 128, 512].every(int8Supported)).toBe(true);
    expect([0, 8, 100, 528].some(int8Supported)).toBe(false);
  });
});

describe('hashing', () => {
  it('is FNV-1a (stable forever: trainer and edge assign users to the same shard)', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
    expect(fnv1aBytes(new TextEncoder().encode('xfoobarx'), 1, 7)).toBe(fnv1a('foobar'));
    expect(shardOf('17850', 3)).toBe(fnv1a('17850') % 3);
  });
});

describe('artifact files', () => {
  it('accepts only the exact bytes the manifest lists', async () => {
    const bytes = new TextEncoder().encode('hello');
    const manifest = { version: 'v', files: { 'a.bin': { bytes: 5, sha256: await sha256Hex(bytes) } } } as unknown as Manifest;
    expect(await fileMismatch(manifest, 'a.bin', bytes)).toBeNull();
    expect(await fileMismatch(manifest, 'a.bin', bytes.slice(0, 4))).toEqual({
      kind: 'size',
      message: 'a.bin has 4 bytes, manifest says 5',
    });
    expect(await fileMismatch(manifest, 'a.bin', new TextEncoder().encode('jello'))).toMatchObject({ kind: 'digest' });
    expect(await fileMismatch(manifest, 'b.bin', bytes)).toMatchObject({ kind: 'unlisted' });
  });
});

describe('fold-in explanations', () => {
  it("split the folded-in user's score of any item exactly over the user's items", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: 8 * 6, maxLength: 8 * 6 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 7 }),
        (dims, values, picked, target) => {
          const n = 8;
          const y = Float32Array.from(values.slice(0, n * dims));
          const g = new Float64Array(dims * dims);
          for (let i = 0; i < n; i++)
            for (let p = 0; p < dims; p++) for (let q = 0; q < dims; q++) g[p * dims + q] += y[i * dims + p] * y[i * dims + q];
          const params = { unobservedWeight: 0.5, alpha: 2, regularization: 0.1, regExponent: 0.5 };
          const items = picked.map((index, j) => ({ index, strength: j + 1 }));
          const x = foldIn(y, g, dims, n, params, items);
          const shares = foldInContributions(
            foldInSystem(y, g, dims, n, params, items),
            y,
            items,
            y.subarray(target * dims, (target + 1) * dims),
          );
          let score = 0;
          for (let p = 0; p < dims; p++) score += x[p] * y[target * dims + p];
          const sum = shares.reduce((s, c) => s + c, 0);
          expect(shares.length).toBe(items.length);
          expect(Math.abs(sum - score)).toBeLessThan(1e-5 * (1 + Math.abs(score)));
        },
      ),
    );
  });
});
