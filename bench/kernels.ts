/**
 * Scoring kernels for top-k over N items at D dims: the TypeScript float32 reference, a
 * TypeScript int8 kernel with per-row scales, the ONNX graphs in onnxruntime-web's WASM backend,
 * the central server's scorer (the same float32 graph in native onnxruntime-node), and the
 * Worker's own int8 WebAssembly SIMD kernel (src/inference/int8.wat), plus the machine's memory read bandwidth, so each variant can be
 * reported against the memory-streaming bound (bytes of the item matrix ÷ bandwidth). And the
 * int8 kernel under scoring plans (filters and boosts applied inside the scan), against itself
 * without one.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantizeRows } from '@edge-recs/core/int8';
import { topK } from '@edge-recs/core/topk';
import onnxProto from 'onnx-proto';
import { buildScoringGraph } from '../model/onnx';
import { Rng } from '../model/rng';
import { buildWasm } from '../scripts/build';
import { Int8Index } from '../src/inference/int8';
import { identityTransforms, type ScoringPlan } from '../src/inference/plan';

export function randomFactors(n: number, dims: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const f = new Float32Array(n * dims);
  for (let k = 0; k < f.length; k++) f[k] = rng.normal() * 0.1;
  return f;
}

/**
 * Memory read bandwidth in GB/s: native memcmp over two identical 128 MiB buffers (SIMD, reads
 * both), best of 5. A JavaScript summing loop would measure the CPU, not the memory.
 */
export function memoryBandwidth(): number {
  const bytes = 128 * 1024 * 1024;
  const a = Buffer.alloc(bytes, 1);
  const b = Buffer.alloc(bytes, 1);
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const t = performance.now();
    if (Buffer.compare(a, b) !== 0) throw new Error('buffers differ');
    best = Math.min(best, performance.now() - t);
  }
  return (2 * bytes) / (best / 1000) / 1e9;
}

/** scores = Y·u over float32 rows, then top-k */
export function topKFloat32(y: Float32Array, n: number, dims: number, u: Float32Array, k: number, scores: Float32Array) {
  for (let i = 0, o = 0; i < n; i++, o += dims) {
    let a0 = 0,
      a1 = 0,
      a2 = 0,
      a3 = 0;
    for (let d = 0; d < dims; d += 4) {
      a0 += y[o + d] * u[d];
      a1 += y[o + d + 1] * u[d + 1];
      a2 += y[o + d + 2] * u[d + 2];
      a3 += y[o + d + 3] * u[d + 3];
    }
    scores[i] = a0 + a1 + a2 + a3;
  }
  return topK(scores, k);
}

/** scores = scale_i · (q_i · u) over int8 rows (4× fewer bytes to stream), then top-k */
export function topKInt8(q: Int8Array, scales: Float32Array, n: number, dims: number, u: Float32Array, k: number, scores: Float32Array) {
  for (let i = 0, o = 0; i < n; i++, o += dims) {
    let a0 = 0,
      a1 = 0,
      a2 = 0,
      a3 = 0;
    for (let d = 0; d < dims; d += 4) {
      a0 += q[o + d] * u[d];
      a1 += q[o + d + 1] * u[d + 1];
      a2 += q[o + d + 2] * u[d + 2];
      a3 += q[o + d + 3] * u[d + 3];
    }
    scores[i] = (a0 + a1 + a2 + a3) * scales[i];
  }
  return topK(scores, k);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function timeIt(fn: () => unknown, minMs = 300, minReps = 5): number {
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || performance.now() - start < minMs) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  return median(times);
}

export async function timeItAsync(fn: () => Promise<unknown>, minMs = 300, minReps = 5): Promise<number> {
  await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || performance.now() - start < minMs) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return median(times);
}

const { onnx } = onnxProto;

/**
 * An int8 variant of the scoring graph for measurement: the user vector is quantised on the fly
 * (DynamicQuantizeLinear), scored with MatMulInteger against the int8 factors (stored D×N), and
 * rescaled by the per-row scales before TopK. Not yet part of the artifact (see BENCHMARKS.md).
 */
export function buildInt8Graph(q: Int8Array, scales: Float32Array, n: number, dims: number): Uint8Array {
  const qT = new Int8Array(n * dims);
  for (let i = 0; i < n; i++) for (let j = 0; j < dims; j++) qT[j * n + i] = q[i * dims + j];
  const vi = (name: string, t: number, shape: (number | string)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: t, shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    });
  const T = onnx.TensorProto.DataType;
  const INT = onnx.AttributeProto.AttributeType.INT;
  const graph = onnx.GraphProto.create({
    name: 'ials_scoring_int8',
    initializer: [
      onnx.TensorProto.create({ name: 'item_factors_q', dims: [dims, n], dataType: T.INT8, rawData: new Uint8Array(qT.buffer) }),
      onnx.TensorProto.create({
        name: 'item_scales',
        dims: [n],
        dataType: T.FLOAT,
        rawData: new Uint8Array(scales.buffer, scales.byteOffset, scales.byteLength),
      }),
    ],
    input: [vi('user', T.FLOAT, [1, dims]), vi('k', T.INT64, [1])],
    output: [vi('top_values', T.FLOAT, [1, 'k']), vi('top_indices', T.INT64, [1, 'k'])],
    node: [
      onnx.NodeProto.create({ opType: 'DynamicQuantizeLinear', input: ['user'], output: ['user_q', 'user_scale', 'user_zero'] }),
      onnx.NodeProto.create({ opType: 'MatMulInteger', input: ['user_q', 'item_factors_q', 'user_zero'], output: ['acc'] }),
      onnx.NodeProto.create({
        opType: 'Cast',
        input: ['acc'],
        output: ['acc_f'],
        attribute: [onnx.AttributeProto.create({ name: 'to', type: INT, i: T.FLOAT })],
      }),
      onnx.NodeProto.create({ opType: 'Mul', input: ['acc_f', 'item_scales'], output: ['scaled'] }),
      onnx.NodeProto.create({ opType: 'Mul', input: ['scaled', 'user_scale'], output: ['scores'] }),
      onnx.NodeProto.create({
        opType: 'TopK',
        input: ['scores', 'k'],
        output: ['top_values', 'top_indices'],
        attribute: [onnx.AttributeProto.create({ name: 'axis', type: INT, i: -1 })],
      }),
    ],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph })).finish();
}

export interface KernelRow {
  n: number;
  variant: string;
  ms: number;
  bytes: number;
}

/** The Worker's int8 kernel, compiled here from the same build/int8.wasm wrangler bundles. */
export async function int8Module(): Promise<WebAssembly.Module> {
  const path = (await buildWasm()).find((p) => p.endsWith('int8.wasm'))!;
  const { readFile } = await import('node:fs/promises');
  // Node's WebAssembly (the Worker types in this project's tsconfig omit compile())
  return (WebAssembly as unknown as { compile(b: Uint8Array): Promise<WebAssembly.Module> }).compile(await readFile(path));
}

export async function benchKernels(sizes: number[], dims: number, k: number): Promise<KernelRow[]> {
  const ort = await import('onnxruntime-web');
  const ortNode = await import('onnxruntime-node');
  ort.env.wasm.numThreads = 1;
  const module = await int8Module();
  const rows: KernelRow[] = [];
  for (const n of sizes) {
    const y = randomFactors(n, dims, n);
    const u = randomFactors(1, dims, 7);
    const scores = new Float32Array(n);
    const { q, scales } = quantizeRows(y, n, dims);
    rows.push({ n, variant: 'TypeScript float32', ms: timeIt(() => topKFloat32(y, n, dims, u, k, scores)), bytes: y.byteLength });
    rows.push({
      n,
      variant: 'TypeScript int8 (per-row scale)',
      ms: timeIt(() => topKInt8(q, scales, n, dims, u, k, scores)),
      bytes: q.byteLength + scales.byteLength,
    });
    const graph = buildScoringGraph(n, dims, 'bench', 'item_factors.f32');
    const session = await ort.InferenceSession.create(graph, {
      externalData: [{ path: 'item_factors.f32', data: new Uint8Array(y.buffer) }],
    });
    const mask = new Float32Array(n);
    const feeds = {
      user: new ort.Tensor('float32', u, [1, dims]),
      mask: new ort.Tensor('float32', mask, [1, n]),
      k: new ort.Tensor('int64', BigInt64Array.from([BigInt(k)]), [1]),
    };
    rows.push({
      n,
      variant: 'ORT-web WASM float32 (Gemm+Add+TopK)',
      ms: await timeItAsync(() => session.run(feeds, ['top_values', 'top_indices'])),
      bytes: y.byteLength,
    });
    await session.release();
    // the central server's scorer (bench/central-server.ts): the same graph in native
    // onnxruntime-node, one intra-op thread, from files as it loads them
    const dir = await mkdtemp(join(tmpdir(), 'bench-ort-'));
    await writeFile(join(dir, 'scorer.onnx'), graph);
    await writeFile(join(dir, 'item_factors.f32'), new Uint8Array(y.buffer));
    const native = await ortNode.InferenceSession.create(join(dir, 'scorer.onnx'), { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const nativeFeeds = {
      user: new ortNode.Tensor('float32', u, [1, dims]),
      mask: new ortNode.Tensor('float32', mask, [1, n]),
      k: new ortNode.Tensor('int64', BigInt64Array.from([BigInt(k)]), [1]),
    };
    rows.push({
      n,
      variant: "onnxruntime-node native float32 (the central server's scorer)",
      ms: await timeItAsync(() => native.run(nativeFeeds)),
      bytes: y.byteLength,
    });
    await native.release();
    await rm(dir, { recursive: true });
    const int8 = await ort.InferenceSession.create(buildInt8Graph(q, scales, n, dims));
    const int8Feeds = { user: feeds.user, k: feeds.k };
    rows.push({
      n,
      variant: 'ORT-web WASM int8 (MatMulInteger+TopK)',
      ms: await timeItAsync(() => int8.run(int8Feeds)),
      bytes: q.byteLength + scales.byteLength,
    });
    await int8.release();
    const index = await Int8Index.create(module, n, dims);
    index.setRows(0, q, scales);
    rows.push({
      n,
      variant: 'own WASM SIMD int8 (fused top-k, src/inference/int8.wat)',
      ms: timeIt(() => index.topK(u, k)),
      bytes: q.byteLength + scales.byteLength,
    });
  }
  return rows;
}

export interface PlanRow {
  n: number;
  plan: string;
  /** median ms of one topK, plan copy included */
  ms: number;
  /** ms ÷ the same index's ms without a plan, from the same interleaved rounds */
  ratio: number;
  /** items returned (k unless fewer pass) */
  returned: number;
}

/**
 * The int8 kernel's topK under scoring plans (src/inference/plan.ts) against the same index
 * without a plan: every item of the identity class; 95% of items filtered out at random; 1%
 * boosted at random (× 1.2 + 2σ of a score, enough to reorder the top). The variants run in
 * interleaved rounds (shuffled), so a change in the machine's load shifts them all and the
 * ratios hold.
 */
export async function benchPlans(sizes: number[], dims: number, k: number): Promise<PlanRow[]> {
  const module = await int8Module();
  const rows: PlanRow[] = [];
  for (const n of sizes) {
    const { q, scales } = quantizeRows(randomFactors(n, dims, n), n, dims);
    const u = randomFactors(1, dims, 7);
    const index = await Int8Index.create(module, n, dims);
    index.setRows(0, q, scales);
    const rng = new Rng(n + 1);
    const classes = (f: () => number) => Uint8Array.from({ length: n }, f);
    // scores are sums of 64 products of N(0, 0.1²) values: σ = 0.08
    const sigma = Math.sqrt(dims) * 0.01;
    const plans: [string, ScoringPlan | undefined][] = [
      ['unfiltered (no plan)', undefined],
      ['identity plan (every item class 1)', { classes: classes(() => 1), transforms: identityTransforms(2) }],
      ['95% filtered (5% pass, at random)', { classes: classes(() => (rng.next() < 0.05 ? 1 : 0)), transforms: identityTransforms(2) }],
      ['99% filtered (1% pass, at random)', { classes: classes(() => (rng.next() < 0.01 ? 1 : 0)), transforms: identityTransforms(2) }],
      [
        '1% boosted (at random, × 1.2 + 2σ)',
        { classes: classes(() => (rng.next() < 0.01 ? 2 : 1)), transforms: Float32Array.from([0, 0, 1, 0, 1.2, 2 * sigma]) },
      ],
    ];
    // more rounds where they are short (200 at 100K items, 40 from 500K on)
    const rounds = Math.max(40, Math.round(2e7 / n));
    const times = plans.map(() => [] as number[]);
    const returned = plans.map(([, plan]) => index.topK(u, k, [], plan).length);
    // a fresh order each round, so no variant always follows the same one
    const order = Int32Array.from(plans, (_, j) => j);
    for (let r = 0; r < rounds; r++) {
      rng.shuffle(order);
      for (const j of order) {
        const t = performance.now();
        index.topK(u, k, [], plans[j][1]);
        times[j].push(performance.now() - t);
      }
    }
    const base = median(times[0]);
    plans.forEach(([plan], j) => {
      rows.push({ n, plan, ms: median(times[j]), ratio: median(times[j]) / base, returned: returned[j] });
    });
  }
  return rows;
}
