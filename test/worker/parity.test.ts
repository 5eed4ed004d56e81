/**
 * The ONNX scoring graph run by onnxruntime-web inside workerd must agree with the plain
 * TypeScript reference scorer: same top-k, same scores, with and without exclusions.
 */

import { scoreAll, topK } from '@edge-recs/core/topk';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../model/rng';
import { createInt8Index } from '../../src/inference/int8-module';
import type { OrtScorer } from '../../src/inference/scorer';
import { bundledSource } from '../../src/models/bundled';
import { type ArtifactSource, loadServingModel, parseManifest } from '../../src/models/model';
import { buildFixture } from './fixtures';

function memorySource(files: Record<string, Uint8Array>, manifestBytes: Uint8Array): ArtifactSource {
  return {
    kind: 'r2',
    async get(name) {
      const b = name === 'manifest.json' ? manifestBytes : files[name];
      return b ? (b.slice().buffer as ArrayBuffer) : null;
    },
  };
}

const FLOAT32 = { int8MinItems: Infinity, createInt8Index };

async function load(source: ArtifactSource, options = FLOAT32) {
  return loadServingModel(source, parseManifest((await source.get('manifest.json'))!), options);
}

async function expectParity(source: ArtifactSource, vectors: number, seed: number) {
  const model = await load(source);
  expect(model.scorer.kind).toBe('onnx-float32');
  const itemFactors = (model.scorer as OrtScorer).itemFactors;
  const rng = new Rng(seed);
  for (let v = 0; v < vectors; v++) {
    const u = new Float32Array(model.dims).map(() => rng.normal());
    const exclude = new Set(Array.from({ length: 5 }, () => rng.int(model.itemCount)));
    for (const k of [1, 10, 50]) {
      const ref = topK(scoreAll(itemFactors, model.itemCount, model.dims, u), k, exclude);
      const got = await model.scorer.topK(u, k, exclude);
      expect(got.map((s) => s.index)).toEqual(ref.map((s) => s.index));
      got.forEach((s, j) => {
        expect(s.score).toBeCloseTo(ref[j].score, 4);
      });
    }
    const some = Array.from({ length: 20 }, (_, j) => (j * 97) % model.itemCount);
    const dots = model.scorer.dots(u, some);
    const ref = scoreAll(itemFactors, model.itemCount, model.dims, u);
    some.forEach((i, j) => {
      expect(dots[j]).toBeCloseTo(ref[i], 4);
    });
  }
  return model;
}

describe('ORT scoring graph vs TypeScript reference', () => {
  it('agrees on a synthetic model', async () => {
    const built = await buildFixture({ version: 'parity', params: { factors: 12 } });
    await expectParity(memorySource(built.files, built.manifestBytes), 20, 1);
  });

  it('agrees on the bundled Online Retail model', async () => {
    const model = await expectParity(await bundledSource(), 10, 2);
    expect(model.itemCount).toBeGreaterThan(3000);
  });

  it("forgets one request's exclusions before the next (the mask buffer is reused)", async () => {
    const built = await buildFixture({ version: 'mask-reset' });
    const src = memorySource(built.files, built.manifestBytes);
    const model = await load(src);
    const u = new Float32Array(model.dims).fill(0.5);
    const [best] = await model.scorer.topK(u, 1);
    const without = await model.scorer.topK(u, 1, [best.index]);
    expect(without[0].index).not.toBe(best.index);
    expect((await model.scorer.topK(u, 1))[0].index).toBe(best.index);
    expect(model.scorer.dots(u, [best.index])[0]).toBeCloseTo(best.score, 5);
  });

  it('returns fewer than k items rather than excluded ones when the catalogue runs out', async () => {
    const built = await buildFixture({ version: 'tiny-k' });
    const src = memorySource(built.files, built.manifestBytes);
    const model = await load(src);
    const exclude = Array.from({ length: model.itemCount - 3 }, (_, i) => i);
    const got = await model.scorer.topK(new Float32Array(model.dims).fill(1), 10, exclude);
    expect(got.map((s) => s.index).sort()).toEqual([model.itemCount - 3, model.itemCount - 2, model.itemCount - 1]);
  });
});

describe('int8 serving: the same model scored by the WebAssembly kernel', () => {
  it('is chosen from INT8_SCORING_MIN_ITEMS on, and ranks the bundled model within a hair of float32', async () => {
    const source = await bundledSource();
    const f32 = await load(source);
    const i8 = await load(source, { int8MinItems: 0, createInt8Index });
    expect(i8.scorer.kind).toBe('int8-wasm');
    const rng = new Rng(4);
    let overlap = 0;
    for (let v = 0; v < 10; v++) {
      const u = new Float32Array(i8.dims).map(() => rng.normal());
      const want = new Set((await f32.scorer.topK(u, 20)).map((s) => s.index));
      overlap += (await i8.scorer.topK(u, 20)).filter((s) => want.has(s.index)).length;
    }
    // per-row int8 keeps ~2 significant digits per factor: top-20 lists agree almost entirely
    expect(overlap / 200).toBeGreaterThan(0.9);
  });

  it('folds a basket in from dequantised rows like the float32 model does', async () => {
    const source = await bundledSource();
    const f32 = await load(source);
    const i8 = await load(source, { int8MinItems: 0, createInt8Index });
    const items = [0, 5, 17].map((index) => ({ index, strength: 2 }));
    const a = f32.foldIn(items),
      b = i8.foldIn(items);
    const cos = a.reduce((s, x, d) => s + x * b[d], 0) / (Math.hypot(...a) * Math.hypot(...b));
    expect(cos).toBeGreaterThan(0.999);
  });

  it('refuses dims the kernel cannot score when there are no float32 factors to fall back on', async () => {
    const built = await buildFixture({ version: 'no-f32' });
    delete built.files['item_factors.f32'];
    delete built.files['scorer.onnx'];
    const manifest = parseManifest(built.manifestBytes.slice().buffer as ArrayBuffer);
    delete manifest.files['item_factors.f32'];
    delete manifest.files['scorer.onnx'];
    await expect(
      loadServingModel(memorySource(built.files, built.manifestBytes), manifest, { int8MinItems: 0, createInt8Index }),
    ).rejects.toThrow(/cannot score 4 dims/);
  });
});
