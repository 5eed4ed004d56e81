/**
 * The int8 WebAssembly SIMD kernel (src/inference/int8.wat), run inside workerd from the module
 * wrangler bundles, must rank exactly like a plain TypeScript scorer doing the same arithmetic
 * (int8 rows × 16-bit query, then the scales), with and without exclusions, across catalogue
 * sizes that do not fill its 8-row passes — and so must its scoring-plan variant (filter classes
 * and per-class transforms applied inside the scan, src/inference/plan.ts), on every path it
 * takes through its blocks of rows. How close int8 ranks to float32 is a quality question,
 * measured on real data by `npm run bench`.
 */

import { int8Supported, quantizeQuery, quantizeRows } from '@edge-recs/core/int8';
import { type Scored, topK } from '@edge-recs/core/topk';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../model/rng';
import { createInt8Index } from '../../src/inference/int8-module';
import { identityTransforms, type ScoringPlan } from '../../src/inference/plan';

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

  it('ranks exactly when the first rows it scans are excluded or score lowest (its first, heap-filling chunk covers ~4·k rows)', async () => {
    const n = 2_000,
      dims = 32;
    const { rng, q, scales } = fixture(n, dims, 17);
    const index = await createInt8Index(n, dims);
    index.setRows(0, q, scales);
    const u = new Float32Array(dims).map(() => rng.normal());
    // the lowest-scoring rows moved to the front: the first chunk's heap holds only bad items
    const order = int8Reference(q, scales, n, dims, u, n, new Set()).map((s) => s.index);
    const low = new Set(order.slice(-300));
    for (const k of [1, 7, 20, 64]) {
      for (const exclude of [new Set(Array.from({ length: 4 * k + 8 }, (_, i) => i)), new Set([...low].slice(0, 4 * k))]) {
        const want = int8Reference(q, scales, n, dims, u, k, exclude);
        expect(index.topK(u, k, exclude).map((s) => s.index)).toEqual(want.map((s) => s.index));
      }
    }
    // a catalogue whose low scorers come first: reorder the rows
    const lowFirst = [...low, ...order.filter((i) => !low.has(i))];
    const q2 = new Int8Array(n * dims);
    const s2 = new Float32Array(n);
    lowFirst.forEach((from, to) => {
      q2.set(q.subarray(from * dims, (from + 1) * dims), to * dims);
      s2[to] = scales[from];
    });
    const reordered = await createInt8Index(n, dims);
    reordered.setRows(0, q2, s2);
    for (const k of [1, 20, 100])
      expect(reordered.topK(u, k).map((s) => s.index)).toEqual(int8Reference(q2, s2, n, dims, u, k, new Set()).map((s) => s.index));
  });

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

/**
 * The plan variant's arithmetic in plain TypeScript, in the kernel's (16-bit query) units: the
 * exact integer dot, times the row's multiplier (f32), then f32(f32(x · mul) + f32(add / query
 * scale)), then the query scale. Class 0, classes without a transform and scores that end up −∞
 * or NaN are never returned.
 * @param mult  per row: its scale (dot product) or 1/‖row‖ (cosine)
 */
function planReference(
  q: Int8Array,
  mult: Float32Array,
  dims: number,
  u: ArrayLike<number>,
  k: number,
  plan: ScoringPlan,
  exclude?: Set<number>,
): Scored[] {
  const n = mult.length;
  const { q: u16, scale } = quantizeQuery(u, dims);
  const classes = plan.transforms.length >> 1;
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = plan.classes[i];
    if (c === 0 || c >= classes) {
      scores[i] = Number.NaN;
      continue;
    }
    let s = 0;
    for (let d = 0; d < dims; d++) s += q[i * dims + d] * u16[d];
    const x = Math.fround(Math.fround(s) * mult[i]);
    const t = Math.fround(Math.fround(x * plan.transforms[2 * c]) + Math.fround(plan.transforms[2 * c + 1] / scale));
    scores[i] = t > -Infinity ? t * scale : Number.NaN;
  }
  return topK(scores, k, exclude);
}

function expectSame(got: Scored[], want: Scored[]) {
  expect(got.map((s) => s.index)).toEqual(want.map((s) => s.index));
  got.forEach((s, j) => {
    expectClose(s.score, want[j].score);
  });
}

/** an index of n random int8 rows (uniform in [−127, 127]) with scales in [0.5, 1.5) */
async function randomIndex(n: number, dims: number, seed: number) {
  const rng = new Rng(seed);
  const q = new Int8Array(n * dims).map(() => rng.int(255) - 127);
  const scales = new Float32Array(n).map(() => 0.5 + rng.next());
  const index = await createInt8Index(n, dims);
  index.setRows(0, q, scales);
  return { rng, q, scales, index };
}

/**
 * Plans that drive the kernel through each of its paths (int8.wat, scanPlan): mostly filtered
 * (dense blocks with the class-0 mask), nearly all filtered (sparse blocks with skipped groups and
 * one-group passes),
 * a few boosts among identity rows (identity passes and lane-by-lane transforms), random classes
 * with negative and zero multipliers, no identity class at all, and classes beyond the
 * transform table.
 */
function plans(n: number, rng: Rng, typical: number): Record<string, ScoringPlan> {
  const classes = (f: () => number) => Uint8Array.from({ length: n }, f);
  const t = (...pairs: number[]) => Float32Array.from(pairs);
  return {
    'mostly filtered': { classes: classes(() => (rng.next() < 0.9 ? 0 : 1)), transforms: identityTransforms(2) },
    'nearly all filtered': { classes: classes(() => (rng.next() < 0.99 ? 0 : 1)), transforms: identityTransforms(2) },
    'a few boosts': {
      classes: classes(() => (rng.next() < 0.02 ? 2 : rng.next() < 0.01 ? 3 : 1)),
      transforms: t(0, 0, 1, 0, 1, 2 * typical, 0.5, -typical),
    },
    'random classes': {
      classes: classes(() => rng.int(6)),
      transforms: t(0, 0, 1, 0, 2, 0.5 * typical, -1, typical, 0, 0.25 * typical, 0.3, 0),
    },
    'no identity class': { classes: classes(() => 1 + rng.int(2)), transforms: t(0, 0, 1.5, 0, 1, -typical) },
    'classes without a transform': { classes: classes(() => rng.int(8)), transforms: t(0, 0, 1, 0, 3, typical) },
  };
}

describe('int8 scoring kernel under a scoring plan', () => {
  for (const [n, dims] of [
    [1, 16],
    [13, 64],
    [1000, 64],
    [10_003, 64],
    [2_501, 128],
    [777, 48],
  ] as const) {
    it(`filters and transforms ${n} items × ${dims} dims exactly like the reference arithmetic`, async () => {
      const { rng, q, scales, index } = await randomIndex(n, dims, 31 * n + dims);
      // a typical |score|, so boosts and penalties move items across the top-k
      const typical = 127 * Math.sqrt(dims) * 0.5;
      for (const [name, plan] of Object.entries(plans(n, rng, typical))) {
        for (let v = 0; v < 2; v++) {
          const u = new Float32Array(dims).map(() => rng.normal());
          const exclude = new Set(Array.from({ length: Math.min(5, n - 1) }, () => rng.int(n)));
          for (const k of [1, 20, 100]) {
            const want = planReference(q, scales, dims, u, k, plan, exclude);
            const got = index.topK(u, k, exclude, plan);
            expect(got.length, name).toBe(want.length);
            expectSame(got, want);
            expect(got.every((s) => plan.classes[s.index] !== 0 && !exclude.has(s.index))).toBe(true);
          }
        }
      }
    });
  }

  it('returns k items, all passing, when a plan filters out 95% of a 1,000,000-item catalogue', async () => {
    const n = 1_000_000,
      dims = 16;
    const { rng, q, scales, index } = await randomIndex(n, dims, 77);
    const plan: ScoringPlan = {
      classes: Uint8Array.from({ length: n }, () => (rng.next() < 0.95 ? 0 : 1)),
      transforms: identityTransforms(2),
    };
    const u = new Float32Array(dims).map(() => rng.normal());
    const got = index.topK(u, 50, [], plan);
    expect(got).toHaveLength(50);
    expect(got.every((s) => plan.classes[s.index] === 1)).toBe(true);
    expectSame(got, planReference(q, scales, dims, u, 50, plan));
    // the unfiltered best items are mostly filtered out: the plan changed what came back
    const plain = new Set(index.topK(u, 50).map((s) => s.index));
    expect(got.filter((s) => plain.has(s.index)).length).toBeLessThan(25);
  });

  it('returns only the passing items, never filler, when fewer than k pass', async () => {
    const n = 10_003,
      dims = 32;
    const { rng, q, scales, index } = await randomIndex(n, dims, 5);
    const passing = [3, 4_000, 4_001, 9_999, 10_002, 17, 250];
    const classes = new Uint8Array(n);
    for (const i of passing) classes[i] = 1 + (i % 2);
    const plan: ScoringPlan = { classes, transforms: Float32Array.from([0, 0, 1, 0, 0.5, -1000]) };
    const u = new Float32Array(dims).map(() => rng.normal());
    const got = index.topK(u, 20, [4_000], plan);
    expect(got.map((s) => s.index).sort((a, b) => a - b)).toEqual(passing.filter((i) => i !== 4_000).sort((a, b) => a - b));
    expectSame(got, planReference(q, scales, dims, u, 20, plan, new Set([4_000])));
    // a plan that lets nothing through gives nothing
    expect(index.topK(u, 20, [], { classes: new Uint8Array(n), transforms: identityTransforms(2) })).toEqual([]);
  });

  it('ranks by the transformed score: a boost lifts the lowest item to the top, a penalty sinks the best', async () => {
    const n = 5_000,
      dims = 64;
    const { rng, index } = await randomIndex(n, dims, 11);
    const u = new Float32Array(dims).map(() => rng.normal());
    const all = index.topK(u, n);
    const best = all[0],
      worst = all[n - 1];
    const classes = new Uint8Array(n).fill(1);
    classes[worst.index] = 2;
    classes[best.index] = 3;
    const lift = 2 * (best.score - worst.score);
    const plan: ScoringPlan = { classes, transforms: Float32Array.from([0, 0, 1, 0, 1, lift, 1, -lift]) };
    const got = index.topK(u, 10, [], plan);
    expect(got[0].index).toBe(worst.index);
    expect(got[0].score).toBeCloseTo(worst.score + lift, 3);
    expect(got.map((s) => s.index)).not.toContain(best.index);
    // the rest keeps its order and scores
    expect(got.slice(1).map((s) => s.index)).toEqual(all.slice(1, 10).map((s) => s.index));
    expect(index.topK(u, n, [], plan)[n - 1].index).toBe(best.index);
  });

  it('finds the most similar items by cosine among those a plan lets through, transformed', async () => {
    const n = 3_001,
      dims = 64;
    const { rng, q, index } = await randomIndex(n, dims, 13);
    // the kernel's 1/‖row‖ in f32 (sqrt and division are correctly rounded through float64)
    const inv = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let ss = 0;
      for (let d = 0; d < dims; d++) ss += q[i * dims + d] ** 2;
      inv[i] = 1 / Math.fround(Math.sqrt(ss));
    }
    const plan = plans(n, rng, 0.5)['random classes'];
    for (const item of [0, 42, 3_000]) {
      const query = Float32Array.from(q.subarray(item * dims, (item + 1) * dims), (x) => x * inv[item]);
      const want = planReference(q, inv, dims, query, 10, plan, new Set([item]));
      const got = index.similar(item, 10, plan);
      expectSame(got, want);
      expect(got.every((s) => s.index !== item && plan.classes[s.index] !== 0)).toBe(true);
    }
  });

  it('resumes after a full candidate buffer with a plan', async () => {
    // scores rise with the index (one row, growing scales, ties in runs of three), so every pass
    // with a live row beats the running k-th score: each scan fills the kernel's 1,024-entry
    // candidate buffer (two entries a pass) and returns in the middle of a 128-row block
    const n = 160_001,
      dims = 16;
    const rng = new Rng(17);
    const q = new Int8Array(n * dims).fill(3);
    const scales = Float32Array.from({ length: n }, (_, i) => 1 + Math.floor(i / 3));
    const index = await createInt8Index(n, dims);
    index.setRows(0, q, scales);
    const transforms = Float32Array.from([0, 0, 1, 0, 1, 1000, 0.5, 0]);
    // every block scored whole (a quarter filtered), and every block sparse: two live passes of
    // its sixteen, one group each (the first group of pass 0, the second of pass 8)
    const dense: ScoringPlan = { classes: Uint8Array.from({ length: n }, () => rng.int(4)), transforms };
    const sparse: ScoringPlan = {
      classes: Uint8Array.from({ length: n }, (_, i) => (i % 128 === 0 || i % 128 === 68 ? 1 + rng.int(3) : 0)),
      transforms,
    };
    const u = new Float32Array(dims).fill(1);
    for (const plan of [dense, sparse]) {
      for (const k of [5, 1_500, 30_000]) {
        expectSame(index.topK(u, k, [0, 68, 159_872], plan), planReference(q, scales, dims, u, k, plan, new Set([0, 68, 159_872])));
      }
    }
  });

  it('gives exactly the unplanned result under a plan of identity classes', async () => {
    const n = 20_007,
      dims = 64;
    const { rng, index } = await randomIndex(n, dims, 19);
    const one: ScoringPlan = { classes: new Uint8Array(n).fill(1), transforms: identityTransforms(2) };
    // several identity classes: only the first is the kernel's fast path, the others are
    // transformed lane by lane, by x · 1 + 0 = x
    const several: ScoringPlan = { classes: Uint8Array.from({ length: n }, () => 1 + rng.int(3)), transforms: identityTransforms(4) };
    for (let v = 0; v < 3; v++) {
      const u = new Float32Array(dims).map(() => rng.normal());
      for (const k of [1, 20, 500]) {
        const plain = index.topK(u, k, [5, 6]);
        expect(index.topK(u, k, [5, 6], one)).toEqual(plain);
        expect(index.topK(u, k, [5, 6], several)).toEqual(plain);
      }
      expect(index.similar(v, 20, one)).toEqual(index.similar(v, 20));
    }
  });

  it('refuses a plan whose classes do not cover the catalogue', async () => {
    const index = await createInt8Index(100, 16);
    expect(() =>
      index.topK(new Float32Array(16).fill(1), 5, [], { classes: new Uint8Array(99), transforms: identityTransforms(2) }),
    ).toThrow(RangeError);
  });
});
