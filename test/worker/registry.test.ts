/**
 * How many model versions an isolate keeps loaded: two at most, and only while together they
 * stay within the memory budget — a big catalogue is kept alone, and a previous version that
 * would not fit beside the active one is not loaded to serve its users.
 */
import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/config';
import { bundledSource } from '../../src/models/bundled';
import type { ServingModel } from '../../src/models/model';
import { estimateModelBytes } from '../../src/models/model';
import { bindRegistry, ModelRegistry, type RegistryDeps, r2Source } from '../../src/models/registry';
import { buildFixture, clearStorage, publishFixture } from './fixtures';

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
