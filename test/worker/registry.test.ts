/**
 * How many model versions an isolate keeps loaded: two at most, and only while together they
 * stay within the memory budget — a big catalogue is kept alone, and a previous version that
 * would not fit beside the active one is not loaded to serve its users.
 */
import { env } from 'cloudflare:test';
import { FILES } from '@edge-recs/core/manifest';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { configFrom } from '../../src/config';
import { bundledSource } from '../../src/models/bundled';
import type { ServingModel } from '../../src/models/model';
import { estimateModelBytes } from '../../src/models/model';
import { bindRegistry, ModelRegistry, type RegistryDeps, r2Source } from '../../src/models/registry';
import { readDamage, writeActivePointer } from '../../src/storage/refresh-state';
import { buildFixture, clearStorage, publishFixture, resign } from './fixtures';

const deps: RegistryDeps = { kv: env.RECS_KV, bucket: env.MODELS, config: configFrom(env), bundled: bundledSource };

describe('model registry memory budget', () => {
  beforeAll(async () => {
    await clearStorage();
    await publishFixture(await buildFixture({ version: 'reg-a' }));
    await publishFixture(await buildFixture({ version: 'reg-b' }));
    // int8 scoring needs a multiple of 16 dimensions
    await publishFixture(await buildFixture({ version: 'reg-c', params: { factors: 16 } }));
  });

  it('keeps two small versions loaded side by side', async () => {
    const registry = new ModelRegistry();
    const a = await registry.load('reg-a', () => r2Source(env.MODELS, 'reg-a'), deps);
    await registry.load('reg-b', () => r2Source(env.MODELS, 'reg-b'), deps);
    expect(await registry.load('reg-a', () => r2Source(env.MODELS, 'reg-a'), deps)).toBe(a);
  });

  it('evicts the older version when both would exceed the budget', async () => {
    const a0 = await new ModelRegistry().load('reg-a', () => r2Source(env.MODELS, 'reg-a'), deps);
    const registry = new ModelRegistry(a0.memoryBytes + 1); // room for one of them only
    const a = await registry.load('reg-a', () => r2Source(env.MODELS, 'reg-a'), deps);
    const b = await registry.load('reg-b', () => r2Source(env.MODELS, 'reg-b'), deps);
    expect(await registry.load('reg-b', () => r2Source(env.MODELS, 'reg-b'), deps)).toBe(b);
    expect(await registry.load('reg-a', () => r2Source(env.MODELS, 'reg-a'), deps)).not.toBe(a);
  });

  it('loads a previous version beside the active one only when its manifest says it fits', async () => {
    const registry = new ModelRegistry(10 * 2 ** 20);
    const small = { memoryBytes: 2 ** 20 } as ServingModel;
    const big = { memoryBytes: 10 * 2 ** 20 } as ServingModel;
    expect(await registry.fitsBeside(small, 'reg-b', deps)).toBe(true);
    expect(await registry.fitsBeside(big, 'reg-b', deps)).toBe(false);
    expect(await registry.fitsBeside(small, 'never-published', deps)).toBe(false);
  });

  it('makes room for a refresh candidate only when it would not fit beside the loaded versions', async () => {
    const registry = new ModelRegistry();
    const a = await registry.load('reg-a', () => r2Source(env.MODELS, 'reg-a'), deps);
    registry.makeRoomFor(a.manifest, configFrom(env)); // small: fits beside
    expect(await registry.load('reg-a', () => r2Source(env.MODELS, 'reg-a'), deps)).toBe(a);
    registry.makeRoomFor({ ...a.manifest, itemCount: 1_000_000, dims: 64, files: {} }, configFrom(env)); // 1M items: does not
    expect(await registry.load('reg-a', () => r2Source(env.MODELS, 'reg-a'), deps)).not.toBe(a);
  });

  it("loads every version with the deployment's options, also one an experiment variant asks for before the active model", async () => {
    // INT8_SCORING_MIN_ITEMS = 1: even the small fixture is scored by the int8 kernel
    const int8Deps: RegistryDeps = { ...deps, config: { ...deps.config, int8ScoringMinItems: 1 } };
    const models = bindRegistry(new ModelRegistry(), int8Deps);
    const variant = await models.version('reg-c');
    expect(variant.scorer.kind).toBe('int8-wasm');
    const floatModels = bindRegistry(new ModelRegistry(), deps);
    expect((await floatModels.version('reg-c')).scorer.kind).toBe('onnx-float32');
  });

  it("estimates a version's memory from its manifest close to what it holds once loaded", async () => {
    const model = await new ModelRegistry().load('reg-a', () => r2Source(env.MODELS, 'reg-a'), deps);
    const estimate = estimateModelBytes(model.manifest, { int8MinItems: configFrom(env).int8ScoringMinItems });
    expect(estimate).toBeGreaterThan(model.memoryBytes * 0.5);
    expect(estimate).toBeLessThan(model.memoryBytes * 2);
    // a 1M × 64 int8 catalogue alone takes more than the budget leaves for a second version
    expect(estimateModelBytes({ ...model.manifest, itemCount: 1_000_000, dims: 64, files: {} }, { int8MinItems: 50_000 })).toBeGreaterThan(
      64 * 2 ** 20,
    );
  });
});

describe('a version an experiment variant names that cannot be loaded', () => {
  beforeAll(async () => {
    await clearStorage();
    for (const v of ['var-ok', 'var-gone', 'var-active']) await publishFixture(await buildFixture({ version: v }));
    await writeActivePointer(env.RECS_KV, {
      version: 'var-active',
      activatedAt: new Date().toISOString(),
      previous: ['var-gone', 'var-ok'],
    });
  });

  it('is served around by the active model, logged once per isolate and recorded with the damaged files', async () => {
    const models = bindRegistry(new ModelRegistry(), deps);
    expect((await models.variant('var-ok')).version).toBe('var-ok');
    await env.MODELS.delete(`models/var-gone/${FILES.manifest}`);
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      for (let i = 0; i < 3; i++) expect((await models.variant('var-gone')).version).toBe('var-active');
      const logged = log.mock.calls.filter(([m]) => String(m).includes('var-gone'));
      expect(logged).toHaveLength(1);
      expect(String(logged[0][0])).toMatch(/manifest.json of var-gone is missing/);
    } finally {
      log.mockRestore();
    }
    expect((await readDamage(env.RECS_KV, 'var-gone'))[FILES.manifest].reason).toMatch(/manifest.json of var-gone is missing/);
    // the bundled model, named by a variant, loads as always
    expect((await models.variant('bundled')).source.kind).toBe('bundled');
  });

  it('is served by its own version again once its files are back, and the record is cleared', async () => {
    const models = bindRegistry(new ModelRegistry(), deps);
    const built = await buildFixture({ version: 'var-back' });
    await publishFixture(built);
    await env.MODELS.delete(`models/var-back/${FILES.manifest}`);
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect((await models.variant('var-back')).version).toBe('var-active');
    } finally {
      log.mockRestore();
    }
    expect(Object.keys(await readDamage(env.RECS_KV, 'var-back'))).toEqual([FILES.manifest]);
    await env.MODELS.put(`models/var-back/${FILES.manifest}`, built.manifestBytes);
    // ACTIVE_POINTER_TTL_SECONDS is 0 in the tests: the next request tries the version again
    expect((await models.variant('var-back')).version).toBe('var-back');
    expect(await readDamage(env.RECS_KV, 'var-back')).toEqual({});
  });

  it('is recorded against the file whose signed content fails a check, not the manifest', async () => {
    const models = bindRegistry(new ModelRegistry(), deps);
    // negative item weights: signed and digested, so only the weights' own check rejects them
    const bad = await resign(await buildFixture({ version: 'var-neg' }), {
      file: FILES.itemWeights,
      mutate: (b) => (new Float32Array(b.buffer)[2] = -1),
    });
    await publishFixture(bad);
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect((await models.variant('var-neg')).version).toBe('var-active');
    } finally {
      log.mockRestore();
    }
    const damage = await readDamage(env.RECS_KV, 'var-neg');
    expect(Object.keys(damage)).toEqual([FILES.itemWeights]);
    expect(damage[FILES.itemWeights].reason).toMatch(/item weights must be finite and non-negative/);
  });
});
