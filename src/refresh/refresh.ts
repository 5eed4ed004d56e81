/**
 * Model refresh: move the edge to the newest good model in origin storage, never to a bad one.
 *
 * Origin layout (written by `npm run publish`, data first, pointer last):
 *   models/<version>/<files…>, models/<version>/manifest.sig, models/<version>/manifest.json,
 *   models/latest.json = {"version": "<version>"}
 *
 * A run (cron or POST /admin/refresh):
 * 1. reads latest.json; nothing new → "unchanged".
 * 2. fetches manifest.json + manifest.sig and checks the Ed25519 signature against
 *    MODEL_PUBLIC_KEYS, the schema and the format version.
 * 3. stages the files: each is fetched, its size and sha256 checked against the manifest, and —
 *    for an HTTPS origin — written to the MODELS bucket under models/<version>/. Staging is
 *    progressive: a run spends at most REFRESH_OPS_PER_RUN storage operations and leaves a cursor
 *    in KV (`model:staging`), so artifacts with millions of users (thousands of shard files)
 *    stage over several runs within the platform's per-invocation limits.
 * 4. when every file is staged: loads the version as the edge will serve it (shapes, finite
 *    factors, the ONNX graph in onnxruntime-web scoring a probe like the TypeScript scorer).
 * 5. only then writes `model:active` — one KV write, the switch — and garbage-collects versions
 *    that fell off the kept history.
 * Any rejection leaves the pointer untouched, records the reason (model:last-refresh, shown by
 * /v1/model) and remembers the version as rejected so later runs do not re-verify it. Transport
 * failures ("failed") keep the staging cursor and are retried by the next run.
 */
import { sha256Hex } from '../core/bytes';
import { LATEST_KEY, ORIGIN_PREFIX, signatureSchema, type Manifest } from '../core/manifest';
import { verifyManifest } from '../core/signing';
import type { Config } from '../config';
import { ModelLoadError, parseManifest, loadServingModel, type ServingModel } from '../serving/model';
import { ACTIVE_KEY, loadOptions, r2Source, registry, type ActivePointer } from '../serving/registry';
import { OriginError, type Origin } from './origin';
import { writeLastRefresh, type RefreshStatus } from './status';

const REJECTED_PREFIX = 'model:rejected:';
export const STAGING_KEY = 'model:staging';

export interface RefreshDeps {
  kv: KVNamespace;
  /** where servable versions live (MODELS) */
  bucket: R2Bucket;
  origin: Origin;
  config: Config;
  /** previous good versions kept for rollback */
  keepVersions: number;
  /** storage operations one run may spend on staging files */
  opsPerRun: number;
  now?: () => Date;
  /**
   * This isolate's loaded models: asked to make room before a candidate is loaded for
   * verification (two large catalogues do not fit one isolate), and handed the verified candidate
   * on activation.
   */
  models?: { makeRoomFor(manifest: Manifest, config: Config): void; adopt(version: string, model: ServingModel): void };
}

export interface RefreshOptions {
  /** re-verify a version even if it was rejected before */
  force?: boolean;
}

interface StagingState {
  version: string;
  /** index of the next file (in manifest order) to stage */
  next: number;
  total: number;
  startedAt: string;
  runs: number;
}

class Rejection extends Error {}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function json<T>(bytes: ArrayBuffer, what: string): T {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch {
    throw new Rejection(`${what} is not JSON`);
  }
}

/** Fetches and checks manifest + signature of a published version. */
async function fetchManifest(deps: RefreshDeps, version: string): Promise<{ manifest: Manifest; manifestBytes: ArrayBuffer; sigBytes: ArrayBuffer }> {
  const base = `${ORIGIN_PREFIX}${version}/`;
  const manifestBytes = await deps.origin.get(`${base}manifest.json`);
  if (!manifestBytes) throw new Rejection(`manifest.json of ${version} is missing (publish incomplete?)`);
  const sigBytes = await deps.origin.get(`${base}manifest.sig`);
  if (!sigBytes) throw new Rejection('manifest.sig is missing: the model is unsigned');
  const sig = signatureSchema.safeParse(json(sigBytes, 'manifest.sig'));
  if (!sig.success) throw new Rejection('manifest.sig is malformed');
  const bad = await verifyManifest(new Uint8Array(manifestBytes), sig.data, deps.config.modelPublicKeys);
  if (bad) throw new Rejection(bad);
  const manifest = parseManifest(manifestBytes, version);
  if (manifest.version !== version) throw new Rejection(`manifest says version ${manifest.version}, published as ${version}`);
  return { manifest, manifestBytes, sigBytes };
}

/** One refresh run. Idempotent: concurrent runs verify the same candidate and write the same pointer. */
export async function refreshModel(deps: RefreshDeps, opts: RefreshOptions = {}): Promise<RefreshStatus> {
  const at = (deps.now?.() ?? new Date()).toISOString();
  // storage operations of this run: origin reads plus writes into MODELS (KV bookkeeping and the
  // final load add a fixed handful, well inside the 1,000-per-invocation limit)
  let copies = 0;
  const spent = () => deps.origin.ops + copies;
  const finish = async (s: RefreshStatus) => {
    s.ops = spent();
    await writeLastRefresh(deps.kv, s);
    return s;
  };

  let version: string;
  try {
    const bytes = await deps.origin.get(LATEST_KEY);
    if (!bytes) return finish({ at, outcome: 'unchanged', version: null, reason: `origin (${deps.origin.name}) has no published model (models/latest.json)` });
    const latest = json<{ version?: unknown }>(bytes, 'latest.json');
    version = typeof latest.version === 'string' ? latest.version : '';
  } catch (err) {
    if (err instanceof OriginError) return finish({ at, outcome: 'failed', version: null, reason: `origin unavailable: ${err.message}` });
    return finish({ at, outcome: 'rejected', version: null, reason: reasonOf(err) });
  }
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(version)) return finish({ at, outcome: 'rejected', version: null, reason: 'latest.json names no valid version' });

  const pointer = await deps.kv.get<ActivePointer>(ACTIVE_KEY, 'json');
  if (pointer?.version === version) return finish({ at, outcome: 'unchanged', version, reason: null });
  if (!opts.force) {
    const earlier = await deps.kv.get(REJECTED_PREFIX + version);
    if (earlier) return finish({ at, outcome: 'rejected', version, reason: `previously rejected: ${earlier}` });
  }

  const reject = async (reason: string) => {
    console.warn(`model ${version} rejected: ${reason}`);
    await deps.kv.put(REJECTED_PREFIX + version, reason, { expirationTtl: 60 * 60 * 24 * 30 });
    await deps.kv.delete(STAGING_KEY);
    return finish({ at, outcome: 'rejected', version, reason });
  };

  let candidate: ServingModel;
  try {
    const { manifest, manifestBytes, sigBytes } = await fetchManifest(deps, version);
    const files = Object.keys(manifest.files).sort();
    let staging = await deps.kv.get<StagingState>(STAGING_KEY, 'json');
    if (!staging || staging.version !== version || staging.total !== files.length) {
      staging = { version, next: 0, total: files.length, startedAt: at, runs: 0 };
    }
    staging.runs++;
    const perFile = deps.origin.needsCopy ? 2 : 1;
    const base = `${ORIGIN_PREFIX}${version}/`;
    while (staging.next < files.length && spent() + perFile <= deps.opsPerRun) {
      const file = files[staging.next];
      const meta = manifest.files[file];
      const bytes = await deps.origin.get(base + file);
      if (!bytes) return reject(`${file} is missing`);
      if (bytes.byteLength !== meta.bytes) return reject(`${file} has ${bytes.byteLength} bytes, manifest says ${meta.bytes}`);
      if ((await sha256Hex(bytes)) !== meta.sha256) return reject(`${file} sha256 does not match the manifest`);
      if (deps.origin.needsCopy) {
        await deps.bucket.put(base + file, bytes);
        copies++;
      }
      staging.next++;
    }
    if (staging.next < files.length) {
      await deps.kv.put(STAGING_KEY, JSON.stringify(staging));
      return finish({ at, outcome: 'staging', version, reason: `staged ${staging.next}/${files.length} files after ${staging.runs} run(s); continuing next run` });
    }
    if (deps.origin.needsCopy) {
      await deps.bucket.put(`${base}manifest.sig`, sigBytes);
      await deps.bucket.put(`${base}manifest.json`, manifestBytes);
      copies += 2;
    }
    deps.models?.makeRoomFor(manifest, deps.config);
    candidate = await loadServingModel(r2Source(deps.bucket, version), manifest, loadOptions(deps.config));
    await deps.kv.delete(STAGING_KEY);
  } catch (err) {
    if (err instanceof Rejection || err instanceof ModelLoadError) return reject(reasonOf(err));
    console.error(`refresh of ${version} failed: ${reasonOf(err)}`);
    return finish({ at, outcome: 'failed', version, reason: reasonOf(err) });
  }
  await activate(deps, version, pointer);
  deps.models?.adopt(version, candidate);
  return finish({ at, outcome: 'activated', version, reason: null });
}

/** Writes the active pointer (the single switching write) and garbage-collects old versions. */
export async function activate(deps: Pick<RefreshDeps, 'kv' | 'bucket' | 'keepVersions' | 'now'>, version: string, current: ActivePointer | null): Promise<ActivePointer> {
  const history = current ? [current.version, ...current.previous].filter((v) => v !== version) : [];
  const next: ActivePointer = {
    version,
    activatedAt: (deps.now?.() ?? new Date()).toISOString(),
    previous: history.slice(0, deps.keepVersions),
  };
  await deps.kv.put(ACTIVE_KEY, JSON.stringify(next));
  registry.invalidatePointer();
  await collectGarbage(deps.bucket, history.slice(deps.keepVersions));
  return next;
}

/**
 * Deletes versions that just fell off the kept history. Only versions that were once active are
 * ever deleted, so a version that is still being published (or not yet activated) is never touched.
 */
async function collectGarbage(bucket: R2Bucket, dropped: string[]): Promise<void> {
  for (const version of dropped) {
    const prefix = `${ORIGIN_PREFIX}${version}/`;
    let cursor: string | undefined;
    do {
      const page = await bucket.list({ prefix, cursor });
      if (page.objects.length) await bucket.delete(page.objects.map((o) => o.key));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
  }
}

/**
 * Makes the newest previous version active again. The version rolled back from is dropped from
 * the history and marked rejected, so the next cron does not re-activate it from latest.json
 * (an operator can still force it with POST /admin/refresh?force=true).
 */
export async function rollback(deps: Pick<RefreshDeps, 'kv' | 'now'>): Promise<ActivePointer | null> {
  const pointer = await deps.kv.get<ActivePointer>(ACTIVE_KEY, 'json');
  if (!pointer || pointer.previous.length === 0) return null;
  const [target, ...rest] = pointer.previous;
  const next: ActivePointer = { version: target, activatedAt: (deps.now?.() ?? new Date()).toISOString(), previous: rest };
  await deps.kv.put(REJECTED_PREFIX + pointer.version, `rolled back by an operator at ${next.activatedAt}`, { expirationTtl: 60 * 60 * 24 * 30 });
  await deps.kv.put(ACTIVE_KEY, JSON.stringify(next));
  registry.invalidatePointer();
  await writeLastRefresh(deps.kv, { at: next.activatedAt, outcome: 'activated', version: target, reason: `rollback from ${pointer.version}` });
  return next;
}
