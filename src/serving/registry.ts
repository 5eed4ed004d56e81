/**
 * Which model serves a request, per isolate.
 *
 * The active version is a small JSON pointer in KV (`model:active`), written last by a refresh.
 * Isolates cache it for ACTIVE_POINTER_TTL_SECONDS, so every location notices a switch within
 * that bound; a version is loaded once per isolate and only the latest one is kept: a 1M-item
 * catalogue takes ~100 MB of the isolate's 128 MB, so two cannot be cached side by side (requests
 * still running on the old version keep it alive until they finish). Each request takes one ServingModel and uses only it, which is what
 * guarantees that user vectors and item factors of different versions never meet.
 * Without a pointer the bundled default model serves (unless SERVE_BUNDLED_MODEL = "false").
 */
import { ApiError } from '../errors';
import { ORIGIN_PREFIX } from '../core/manifest';
import { PromiseLru } from '../core/lru';
import type { Config } from '../config';
import { createInt8Index } from '../inference/int8-module';
import { loadServingModel, parseManifest, type ArtifactSource, type LoadOptions, type ServingModel } from './model';

/** How this Worker loads model versions (the config's int8 threshold, the bundled kernel). */
export function loadOptions(config: Config): LoadOptions {
  return { int8MinItems: config.int8ScoringMinItems, createInt8Index };
}

export const ACTIVE_KEY = 'model:active';

export interface ActivePointer {
  version: string;
  activatedAt: string;
  /** earlier good versions, newest first (rollback targets) */
  previous: string[];
}

export function r2Source(bucket: R2Bucket, version: string): ArtifactSource {
  return {
    kind: 'r2',
    async get(file) {
      const obj = await bucket.get(`${ORIGIN_PREFIX}${version}/${file}`);
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

const MAX_LOADED = 1;

export class ModelRegistry {
  private loaded = new PromiseLru<string, ServingModel>(MAX_LOADED);
  private pointer: { value: ActivePointer | null; fetchedAt: number } | undefined;

  /** Drops the cached pointer (after this isolate itself switched versions). */
  invalidatePointer(): void {
    this.pointer = undefined;
  }

  async activePointer(deps: RegistryDeps): Promise<ActivePointer | null> {
    const ttlMs = deps.config.activePointerTtlSeconds * 1000;
    const now = Date.now();
    if (!this.pointer || now - this.pointer.fetchedAt >= ttlMs) {
      const value = await deps.kv.get<ActivePointer>(ACTIVE_KEY, 'json');
      this.pointer = { value, fetchedAt: now };
    }
    return this.pointer.value;
  }

  /** The model that serves now. Throws a 503 ApiError when there is none. */
  async active(deps: RegistryDeps): Promise<ServingModel> {
    this.options = loadOptions(deps.config);
    const pointer = await this.activePointer(deps);
    if (pointer) {
      try {
        return await this.load(pointer.version, () => r2Source(deps.bucket, pointer.version));
      } catch (err) {
        // The pointer only ever names verified versions, so this is storage trouble (an object
        // deleted by hand, R2 unavailable). Serve the bundled model rather than fail.
        console.error(`active model ${pointer.version} failed to load: ${err instanceof Error ? err.message : String(err)}`);
        if (!deps.config.serveBundledModel) throw new ApiError(503, 'no_model', `The active model ${pointer.version} cannot be loaded right now; retry shortly.`);
      }
    }
    if (deps.config.serveBundledModel) {
      const source = await deps.bundled();
      return this.load('bundled', async () => source);
    }
    throw new ApiError(
      503,
      'no_model',
      'No model is active yet. Train one (npm run train), publish it to the origin (npm run publish) and trigger a refresh (POST /admin/refresh, or wait for the cron).',
    );
  }

  /** Loads (once per isolate) the model at `key`; a failed load is not cached. */
  load(key: string, source: () => ArtifactSource | Promise<ArtifactSource>): Promise<ServingModel> {
    return this.loaded.get(key, async () => {
      const src = await source();
      const manifestBytes = await src.get('manifest.json');
      if (!manifestBytes) throw new Error(`manifest.json of ${key} is missing`);
      return loadServingModel(src, parseManifest(manifestBytes, key), this.options);
    });
  }

  /** Set from the config on each use; loads in flight keep the options they started with. */
  private options: LoadOptions = { int8MinItems: 50_000, createInt8Index };

  /** Forgets every loaded version (a refresh is about to load a candidate in this isolate). */
  release(): void {
    this.loaded.clear();
  }

  /** Serves an already loaded and verified version without loading it again. */
  adopt(version: string, model: ServingModel): void {
    this.loaded.get(version, async () => model);
  }
}

/** One registry per isolate. */
export const registry = new ModelRegistry();
