/**
 * The ONNX scoring graph run by onnxruntime-web inside workerd must agree with the plain
 * TypeScript reference scorer: same top-k, same scores, with and without exclusions.
 */
import { describe, expect, it } from 'vitest';
import { scoreAll, topK } from '../../src/core/topk';
import { loadServingModel, parseManifest, type ArtifactSource } from '../../src/serving/model';
import { bundledSource } from '../../src/serving/bundled';
import { Rng } from '../../model/rng';
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

async function expectParity(source: ArtifactSource, vectors: number, seed: number) {
  const manifest = parseManifest((await source.get('manifest.json'))!);
  const model = await loadServingModel(source, manifest);
  const rng = new Rng(seed);
  for (let v = 0; v < vectors; v++) {
    const u = new Float32Array(model.dims).map(() => rng.normal());
    const exclude = new Set(Array.from({ length: 5 }, () => rng.int(model.itemCount)));
    for (const k of [1, 10, 50]) {
      const ref = topK(scoreAll(model.itemFactors, model.itemCount, model.dims, u), k, exclude);
      const got = await model.scorer.topK(u, k, exclude);
      expect(got.map((s) => s.index)).toEqual(ref.map((s) => s.index));
      got.forEach((s, j) => expect(s.score).toBeCloseTo(ref[j].score, 4));
    }
    const all = await model.scorer.scores(u);
    const ref = scoreAll(model.itemFactors, model.itemCount, model.dims, u);
    for (let i = 0; i < model.itemCount; i += 97) expect(all[i]).toBeCloseTo(ref[i], 4);
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

  it('forgets one request\'s exclusions before the next (the mask buffer is reused)', async () => {
    const built = await buildFixture({ version: 'mask-reset' });
    const src = memorySource(built.files, built.manifestBytes);
    const model = await loadServingModel(src, parseManifest((await src.get('manifest.json'))!));
    const u = new Float32Array(model.dims).fill(0.5);
    const [best] = await model.scorer.topK(u, 1);
    const without = await model.scorer.topK(u, 1, [best.index]);
    expect(without[0].index).not.toBe(best.index);
    expect((await model.scorer.topK(u, 1))[0].index).toBe(best.index);
    expect((await model.scorer.scores(u))[best.index]).toBeCloseTo(best.score, 5);
  });

  it('returns fewer than k items rather than excluded ones when the catalogue runs out', async () => {
    const built = await buildFixture({ version: 'tiny-k' });
    const src = memorySource(built.files, built.manifestBytes);
    const model = await loadServingModel(src, parseManifest((await src.get('manifest.json'))!));
    const exclude = Array.from({ length: model.itemCount - 3 }, (_, i) => i);
    const got = await model.scorer.topK(new Float32Array(model.dims).fill(1), 10, exclude);
    expect(got.map((s) => s.index).sort()).toEqual([model.itemCount - 3, model.itemCount - 2, model.itemCount - 1]);
  });
});
