/** The benchmark's own pieces compute the right thing (their speed is measured by npm run bench). */

import { quantizeRows } from '@edge-recs/core/int8';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { benchBlend } from '../../bench/blend';
import { describeRow, measure, syntheticShape } from '../../bench/item-model';
import { buildInt8Graph, randomFactors, topKFloat32, topKInt8 } from '../../bench/kernels';
import { zipfMatrix } from '../../bench/synthetic';

describe('benchmark kernels', () => {
  const n = 5000,
    dims = 64;
  const y = randomFactors(n, dims, 3);
  const u = randomFactors(1, dims, 4);
  const ref = topKFloat32(y, n, dims, u, 20, new Float32Array(n)).map((s) => s.index);
  const { q, scales } = quantizeRows(y, n, dims);

  it('int8 TypeScript and int8 ONNX (MatMulInteger) agree with float32 on the top-20', async () => {
    const ts8 = topKInt8(q, scales, n, dims, u, 20, new Float32Array(n)).map((s) => s.index);
    expect(ts8.filter((i) => ref.includes(i)).length).toBeGreaterThanOrEqual(18);
    ort.env.wasm.numThreads = 1;
    const session = await ort.InferenceSession.create(buildInt8Graph(q, scales, n, dims));
    const out = await session.run({
      user: new ort.Tensor('float32', u, [1, dims]),
      k: new ort.Tensor('int64', BigInt64Array.from([20n]), [1]),
    });
    const onnx8 = Array.from(out.top_indices.data as BigInt64Array, Number);
    expect(onnx8.filter((i) => ref.includes(i)).length).toBeGreaterThanOrEqual(18);
  });

  it('generates a skewed synthetic matrix of the requested shape without duplicate pairs', () => {
    const m = zipfMatrix(2000, 500, 40_000, 1);
    expect(m.rows).toBe(2000);
    expect(m.rowPtr[m.rows]).toBeGreaterThan(30_000);
    const counts = new Int32Array(500);
    for (let u = 0; u < m.rows; u++) {
      const row = m.colIdx.subarray(m.rowPtr[u], m.rowPtr[u + 1]);
      expect(new Set(row).size).toBe(row.length);
      for (const i of row) counts[i]++;
    }
    expect(counts[0]).toBeGreaterThan(10 * counts[499]); // popular head, long tail
  });
});

describe('item model benchmark', () => {
  it('times local EASE on a synthetic catalogue of the stated shape and reports its phases', async () => {
    expect(syntheticShape(1000)).toEqual({ users: 5000, items: 1000, interactions: 50_000 });
    const r = await measure({ solver: 'local', data: 1000, neighbourhood: 16, threads: 1 });
    expect(r).toMatchObject({ users: 5000, items: 1000 });
    expect(r.pairs).toBeGreaterThan(40_000);
    expect(r.local?.gramEntries).toBeGreaterThan(0);
    expect(r.neighbours).toBeGreaterThan(1000);
    expect(describeRow(r)).toMatch(/^\| synthetic Zipf \| 5,000 × 1,000 \|.*local EASE M=16 \(1 thread\)/);
  });
});

describe('blend benchmark', () => {
  it('loads a synthetic catalogue with its item model through the Worker loader and times both rankings', async () => {
    const [row] = await benchBlend([5000], 32, 10, 3, 8);
    expect(row).toMatchObject({ items: 5000, basket: 3, neighbours: 8 });
    expect(row.factorsMs).toBeGreaterThan(0);
    expect(row.blendMs).toBeGreaterThan(0);
    expect(row.ratio).toBeCloseTo(row.blendMs / row.factorsMs, 10);
  });
});
