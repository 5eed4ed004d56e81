/**
 * Which model serves a request, per isolate.
 *
 * The active version is a small JSON pointer in KV (`model:active`), written last by a refresh.
 * Isolates cache it for ACTIVE_POINTER_TTL_SECONDS, so every location notices a switch within
 * that bound; a version is loaded once per isolate. Two versions may stay loaded (a switch, or a
 * previous version serving users only it knows) while together they hold at most
 * MODEL_MEMORY_BUDGET_BYTES; a 1M-item catalogue takes ~92 MB of the isolate's 128 MB, so a big
 * version is kept alone (requests still running on an evicted one keep it alive until they end). Each request takes one ServingModel and uses only it, which is what
 * guarantees that user vectors and item factors of different versions never meet.
 * Without a pointer the bundled default model serves (unless SERVE_BUNDLED_MODEL = "false"), and
 * so it does when the pointer names "bundled": a rollback to the bundled model while a running
 * experiment pins a version keeps that version in the pointer's history (services/refresh.ts).
 *
 * An experiment variant's version is loaded like any other; when it cannot be (its files were
 * deleted or damaged in the bucket after the experiment started), the variant's requests are
 * answered by the active model rather than failing: logged once per isolate, recorded with the
 * version's damaged files (GET /admin/refresh lists them), tried again after
 * ACTIVE_POINTER_TTL_SECONDS.
 */
import { FILES, type Manifest } from '@edge-recs/core/manifest';
import type { Config } from '../config';
import { AppError } from '../errors';
import { createInt8Index } from '../inference/int8-module';
import { R2 } from '../storage/keys';
import { type ActivePointer, clearDamage, readActivePointer, recordDamage } from '../storage/refresh-state';
import { PromiseLru } from './lru';
import {
  type ArtifactSource,
  estimateModelBytes,
  type LoadOptions,
  loadServingModel,
  ModelLoadError,
  parseManifest,
  type ServingModel,
} from './model';

/** The name of the model in the Worker's script, for variants and the pointer alike. */
export const BUNDLED = 'bundled';

/**
 * How this Worker loads model versions: the config's int8 threshold, the bundled kernel, and —
 * given KV — where files that fail their check after activation are recorded.
 */
export function loadOptions(config: Pick<Config, 'int8ScoringMinItems'>, kv?: KVNamespace): LoadOptions {
  return {
    int8MinItems: config.int8ScoringMinItems,
    createInt8Index,
    onDamage: kv && ((version, file, reason) => recordDamage(kv, version, file, reason)),
  };
}

export type { ActivePointer };

export function r2Source(bucket: R2Bucket, version: string): ArtifactSource {
  return {
    kind: 'r2',
    async get(file) {
      const obj = await bucket.get(R2.modelFile(version, file));
      return obj ? obj.arrayBuffer() : null;
    },
  };
}

export interface RegistryDeps {
  kv: KVNamespace;
  bucket: R2Bucket;
  config: Config;
  bundled: () => Promise<ArtifactSource>;
}

const MAX_LOADED = 2;
/** What the loaded versions of one isolate may hold together (model data, see ServingModel.memoryBytes). */
export const MODEL_MEMORY_BUDGET_BYTES = 64 * 2 ** 20;

export class ModelRegistry {
  private loaded = new PromiseLru<string, ServingModel>(MAX_LOADED);
  private readonly sizes = new Map<string, number>();
  private readonly estimates = new Map<string, number>();

  constructor(private readonly budgetBytes = MODEL_MEMORY_BUDGET_BYTES) {}
  private pointer: { value: ActivePointer | null; fetchedAt: number } | undefined;

  /** Drops the cached pointer (after this isolate itself switched versions). */
  invalidatePointer(): void {
    this.pointer = undefined;
  }

  async activePointer(deps: RegistryDeps): Promise<ActivePointer | null> {
    const ttlMs = deps.config.activePointerTtlSeconds * 1000;
    const now = Date.now();
    if (!this.pointer || now - this.pointer.fetchedAt >= ttlMs) {
      const value = await readActivePointer(deps.kv);
      this.pointer = { value, fetchedAt: now };
    }
    return this.pointer.value;
  }

  /** The model that serves now. Throws AppError `no_model` when there is none. */
  async active(deps: RegistryDeps): Promise<ServingModel> {
    const pointer = await this.activePointer(deps);
    if (pointer && pointer.version !== BUNDLED) {
      // The pointer only ever names verified versions, so this is storage trouble (an object deleted
      // or damaged by hand, R2 unavailable): recorded with the version's damaged files (GET
      // /v1/model, /admin/refresh; the next refresh re-stages them), and the bundled model serves
      // meanwhile rather than fail.
      const model = await this.loadOrRecord(pointer.version, deps, 'active model', 'the bundled model serves meanwhile');
      if (model) return model;
      if (!deps.config.serveBundledModel)
        throw new AppError('no_model', `The active model ${pointer.version} cannot be loaded right now; retry shortly.`);
    }
    if (deps.config.serveBundledModel) {
      const source = await deps.bundled();
      return this.load('bundled', async () => source, deps);
    }
    throw new AppError(
      'no_model',
      'No model is active yet. Train one (npm run train), publish it to the origin (npm run publish) and trigger a refresh (POST /admin/refresh, or wait for the cron).',
    );
  }

  /**
   * Loads (once per isolate) the model at `key` with the deployment's options (the int8 threshold,
   * where damaged files are recorded) — whichever path asks first: the active model, a kept
   * version an experiment variant names, a previous version; a failed load is not cached.
   */
  load(
    key: string,
    source: () => ArtifactSource | Promise<ArtifactSource>,
    deps: Pick<RegistryDeps, 'config' | 'kv'>,
  ): Promise<ServingModel> {
    return this.loaded.get(key, async () => {
      const src = await source();
      const manifestBytes = await src.get(FILES.manifest);
      if (!manifestBytes) throw new ModelLoadError(key, `${FILES.manifest} of ${key} is missing`, { kind: 'unavailable' });
      const model = await loadServingModel(src, parseManifest(manifestBytes, key), loadOptions(deps.config, deps.kv));
      this.keepWithinBudget(key, model.memoryBytes);
      return model;
    });
  }

  /** A kept version by name ("bundled": the model in the script), loaded once per isolate. */
  version(version: string, deps: RegistryDeps): Promise<ServingModel> {
    if (version === BUNDLED) return this.load(BUNDLED, deps.bundled, deps);
    return this.load(version, () => r2Source(deps.bucket, version), deps);
  }

  /** Variant versions that failed to load in this isolate: the damaged file recorded (if any), and when to try again. */
  private readonly unloadable = new Map<string, { recorded: string | null; retryAt: number }>();

  /**
   * The model that answers an experiment variant pinned to `version`: that version — or, when it
   * cannot be loaded (files deleted or damaged in the bucket), the active model, so the variant's
   * shoppers are answered rather than failed. The failure is logged once per isolate and recorded
   * with the version's damaged files; the version is tried again after ACTIVE_POINTER_TTL_SECONDS,
   * and its record cleared when it loads.
   */
  async variant(version: string, deps: RegistryDeps): Promise<ServingModel> {
    return (
      (await this.loadOrRecord(version, deps, 'experiment variant model', 'its variant is answered by the active model')) ??
      this.active(deps)
    );
  }

  /**
   * `version` loaded, or null while it cannot be: the failure logged once per isolate and its
   * damaged file recorded; tried again after ACTIVE_POINTER_TTL_SECONDS (not on every request),
   * and its record cleared when it loads.
   */
  private async loadOrRecord(version: string, deps: RegistryDeps, what: string, meanwhile: string): Promise<ServingModel | null> {
    const failed = this.unloadable.get(version);
    if (failed && Date.now() < failed.retryAt) return null;
    try {
      const model = await this.version(version, deps);
      const healed = this.unloadable.get(version);
      if (healed) {
        this.unloadable.delete(version);
        console.log(`${what} ${version} loads again`);
        if (healed.recorded !== null) await clearDamage(deps.kv, version, [healed.recorded]).catch(() => undefined);
      }
      return model;
    } catch (err) {
      const retryAt = Date.now() + deps.config.activePointerTtlSeconds * 1000;
      // read again after the await: of concurrent requests that saw it fail, one logs and records it
      const known = this.unloadable.get(version);
      if (known) known.retryAt = retryAt;
      else {
        const reason = err instanceof Error ? err.message : String(err);
        // a file of the version missing or failing its check is damage; storage trouble (an R2 error) is only logged
        const recorded = err instanceof ModelLoadError && version !== BUNDLED ? err.file : null;
        this.unloadable.set(version, { recorded, retryAt });
        console.error(`${what} ${version} cannot be loaded (${reason}): ${meanwhile}`);
        if (recorded !== null) await recordDamage(deps.kv, version, recorded, reason).catch(() => undefined);
      }
      return null;
    }
  }

  /** Evicts older versions, least recently used first, while the loaded ones exceed the budget. */
  private keepWithinBudget(newest: string, bytes: number): void {
    this.sizes.set(newest, bytes);
    const keys = this.loaded.keys();
    for (const k of [...this.sizes.keys()]) if (!keys.includes(k)) this.sizes.delete(k);
    let total = keys.reduce((s, k) => s + (this.sizes.get(k) ?? 0), 0);
    for (const k of keys) {
      if (total <= this.budgetBytes) break;
      if (k === newest) continue;
      total -= this.sizes.get(k) ?? 0;
      this.loaded.delete(k);
      this.sizes.delete(k);
    }
  }

  /**
   * Whether `version` can be loaded beside `active` within the budget, judged from its manifest
   * before loading it (a previous version that serves the users only it knows).
   */
  async fitsBeside(active: ServingModel, version: string, deps: RegistryDeps): Promise<boolean> {
    let estimate = this.estimates.get(version);
    if (estimate === undefined) {
      const obj = await deps.bucket.get(R2.modelFile(version, FILES.manifest));
      if (!obj) return false;
      estimate = estimateModelBytes(parseManifest(await obj.arrayBuffer(), version), loadOptions(deps.config));
      this.estimates.set(version, estimate);
    }
    return active.memoryBytes + estimate <= this.budgetBytes;
  }

  /**
   * A refresh is about to load a candidate in this isolate: forget the loaded versions if the
   * candidate would not fit beside them (they reload on the next request that needs them).
   */
  makeRoomFor(manifest: Manifest, config: Pick<Config, 'int8ScoringMinItems'>): void {
    const loaded = [...this.sizes.values()].reduce((s, b) => s + b, 0);
    if (loaded + estimateModelBytes(manifest, loadOptions(config)) <= this.budgetBytes) return;
    this.loaded.clear();
    this.sizes.clear();
  }

  /** Files of a loaded version were repaired: let it read them again. */
  repaired(version: string): void {
    // a version that could not load at all is tried again at once
    this.unloadable.delete(version);
    this.loaded
      .peek(version)
      ?.then((m) => m.forgetDamage())
      .catch(() => undefined);
  }

  /** Serves an already loaded and verified version without loading it again. */
  adopt(version: string, model: ServingModel): void {
    this.loaded.get(version, async () => model);
    this.keepWithinBudget(version, model.memoryBytes);
  }
}

/**
 * The registry as services see it: bound to one environment's storage and configuration, so a
 * service takes it as a plain dependency (and a test can hand it its own registry).
 */
export interface Models {
  /** the model that serves now (AppError `no_model` when there is none) */
  active(): Promise<ServingModel>;
  /** the active-model pointer, cached for ACTIVE_POINTER_TTL_SECONDS */
  pointer(): Promise<ActivePointer | null>;
  /** a kept previous version, loaded unless it would not fit beside `active` (then null) */
  previous(version: string, active: ServingModel): Promise<ServingModel | null>;
  /** a refresh is about to load a candidate: make room for it if it would not fit */
  makeRoomFor(manifest: Manifest): void;
  /** a refresh verified and activated `model`: serve it without loading it again */
  adopt(version: string, model: ServingModel): void;
  /** this isolate just switched versions: read the pointer again on the next request */
  invalidatePointer(): void;
  /** files of `version` were re-staged: this isolate reads them again instead of serving around them */
  repaired(version: string): void;
  /** a kept version by name ("bundled": the model in the script), loaded once per isolate */
  version(version: string): Promise<ServingModel>;
  /**
   * the model an experiment variant pinned to `version` is answered by: that version, or the active
   * model while it cannot be loaded (logged once per isolate, recorded with its damaged files)
   */
  variant(version: string): Promise<ServingModel>;
  /** the versions `version` accepts: "bundled" (when served), the active one and the kept previous ones */
  servable(): Promise<string[]>;
}

export function bindRegistry(registry: ModelRegistry, deps: RegistryDeps): Models {
  return {
    active: () => registry.active(deps),
    pointer: () => registry.activePointer(deps),
    previous: async (version, active) =>
      (await registry.fitsBeside(active, version, deps)) ? registry.load(version, () => r2Source(deps.bucket, version), deps) : null,
    makeRoomFor: (manifest) => registry.makeRoomFor(manifest, deps.config),
    adopt: (version, model) => registry.adopt(version, model),
    invalidatePointer: () => registry.invalidatePointer(),
    repaired: (version) => registry.repaired(version),
    version: (version) => registry.version(version, deps),
    variant: (version) => registry.variant(version, deps),
    async servable() {
      const pointer = await registry.activePointer(deps);
      const kept = pointer ? [pointer.version, ...pointer.previous].filter((v) => v !== BUNDLED) : [];
      return [...(deps.config.serveBundledModel ? [BUNDLED] : []), ...kept];
    },
  };
}

/** One registry per isolate. */
export const registry = new ModelRegistry();
