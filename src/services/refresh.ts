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
 *    in KV, so artifacts with millions of users (thousands of shard files) stage over several
 *    runs within the platform's per-invocation limits.
 * 4. when every file is staged: loads the version as the edge will serve it (shapes, finite
 *    factors, the ONNX graph in onnxruntime-web scoring a probe like the TypeScript scorer).
 * 5. only then writes the active pointer — one KV write, the switch — and garbage-collects
 *    versions that fell off the kept history.
 * Any rejection leaves the pointer untouched, records the reason (shown by /v1/model) and
 * remembers the version as rejected so later runs do not re-verify it. Transport failures
 * ("failed") keep the staging cursor and are retried by the next run.
 */
import { fileMismatch, LATEST_KEY, type Manifest, signatureSchema } from '@edge-recs/core/manifest';
import { verifyManifest } from '@edge-recs/core/signing';
import type { Config } from '../config';
import { loadServingModel, ModelLoadError, parseManifest, type ServingModel } from '../models/model';
import { loadOptions, type Models, r2Source } from '../models/registry';
import { R2 } from '../storage/keys';
import { type Origin, OriginError } from '../storage/origin';
import {
  type ActivePointer,
  clearStaging,
  type RefreshStatus,
  readActivePointer,
  readRejection,
  readStaging,
  type StagingState,
  writeActivePointer,
  writeLastRefresh,
  writeRejection,
  writeStaging,
} from '../storage/refresh-state';

export interface RefreshDeps {
  kv: KVNamespace;
  /** where servable versions live (MODELS) */
  bucket: R2Bucket;
  origin: Origin;
  config: Pick<Config, 'modelPublicKeys' | 'int8ScoringMinItems' | 'keepPreviousVersions' | 'refreshOpsPerRun'>;
  /**
   * This isolate's loaded models: asked to make room before a candidate is loaded for
   * verification (two large catalogues do not fit one isolate), handed the verified candidate
   * on activation, and told to read the pointer again.
   */
  models: Pick<Models, 'makeRoomFor' | 'adopt' | 'invalidatePointer'>;
  now?: () => Date;
}

export interface RefreshOptions {
  /** re-verify a version even if it was rejected before */
  force?: boolean;
}

/** A verdict about the candidate itself: remembered, not retried. */
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
async function fetchManifest(
  deps: RefreshDeps,
  version: string,
): Promise<{ manifest: Manifest; manifestBytes: ArrayBuffer; sigBytes: ArrayBuffer }> {
  const manifestBytes = await deps.origin.get(R2.modelFile(version, 'manifest.json'));
  if (!manifestBytes) throw new Rejection(`manifest.json of ${version} is missing (publish incomplete?)`);
  const sigBytes = await deps.origin.get(R2.modelFile(version, 'manifest.sig'));
  if (!sigBytes) throw new Rejection('manifest.sig is missing: the model is unsigned');
  const sig = signatureSchema.safeParse(json(sigBytes, 'manifest.sig'));
  if (!sig.success) throw new Rejection('manifest.sig is malformed');
  const bad = await verifyManifest(new Uint8Array(manifestBytes), sig.data, deps.config.modelPublicKeys);
  if (bad) throw new Rejection(bad);
  const manifest = parseManifest(manifestBytes, version);
  if (manifest.version !== version) throw new Rejection(`manifest says version ${manifest.version}, published as ${version}`);
  return { manifest, manifestBytes, sigBytes };
}

/** The version models/latest.json names (null: nothing published). */
async function latestVersion(origin: Origin): Promise<string | null> {
  const bytes = await origin.get(LATEST_KEY);
  if (!bytes) return null;
  const latest = json<{ version?: unknown }>(bytes, 'latest.json');
  const version = typeof latest.version === 'string' ? latest.version : '';
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(version)) throw new Rejection('latest.json names no valid version');
  return version;
}

/**
 * Copies (HTTPS origin) or checks in place (R2 origin) the version's files, from the staging
 * cursor on, within the run's operation budget. Returns the cursor; `next === total` = all staged.
 */
async function stageFiles(
  deps: RefreshDeps,
  manifest: Manifest,
  at: string,
  spent: () => number,
  copied: () => void,
): Promise<StagingState> {
  const { version } = manifest;
  const files = Object.keys(manifest.files).sort();
  let staging = await readStaging(deps.kv);
  if (!staging || staging.version !== version || staging.total !== files.length)
    staging = { version, next: 0, total: files.length, startedAt: at, runs: 0 };
  staging.runs++;
  const perFile = deps.origin.needsCopy ? 2 : 1;
  while (staging.next < files.length && spent() + perFile <= deps.config.refreshOpsPerRun) {
    const file = files[staging.next];
    const bytes = await deps.origin.get(R2.modelFile(version, file));
    if (!bytes) throw new Rejection(`${file} is missing`);
    const why = await fileMismatch(manifest, file, bytes);
    if (why) throw new Rejection(why);
    if (deps.origin.needsCopy) {
      await deps.bucket.put(R2.modelFile(version, file), bytes);
      copied();
    }
    staging.next++;
  }
  return staging;
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

  let version: string | null;
  try {
    version = await latestVersion(deps.origin);
  } catch (err) {
    if (err instanceof OriginError) return finish({ at, outcome: 'failed', version: null, reason: `origin unavailable: ${err.message}` });
    return finish({ at, outcome: 'rejected', version: null, reason: reasonOf(err) });
  }
  if (version === null)
    return finish({
      at,
      outcome: 'unchanged',
      version: null,
      reason: `origin (${deps.origin.name}) has no published model (models/latest.json)`,
    });

  const pointer = await readActivePointer(deps.kv);
  if (pointer?.version === version) return finish({ at, outcome: 'unchanged', version, reason: null });
  if (!opts.force) {
    const earlier = await readRejection(deps.kv, version);
    if (earlier) return finish({ at, outcome: 'rejected', version, reason: `previously rejected: ${earlier}` });
  }

  let candidate: ServingModel;
  try {
    const { manifest, manifestBytes, sigBytes } = await fetchManifest(deps, version);
    const staging = await stageFiles(deps, manifest, at, spent, () => copies++);
    if (staging.next < staging.total) {
      await writeStaging(deps.kv, staging);
      return finish({
        at,
        outcome: 'staging',
        version,
        reason: `staged ${staging.next}/${staging.total} files after ${staging.runs} run(s); continuing next run`,
      });
    }
    if (deps.origin.needsCopy) {
      await deps.bucket.put(R2.modelFile(version, 'manifest.sig'), sigBytes);
      await deps.bucket.put(R2.modelFile(version, 'manifest.json'), manifestBytes);
      copies += 2;
    }
    deps.models.makeRoomFor(manifest);
    candidate = await loadServingModel(r2Source(deps.bucket, version), manifest, loadOptions(deps.config));
    await clearStaging(deps.kv);
  } catch (err) {
    if (err instanceof Rejection || err instanceof ModelLoadError) {
      const reason = reasonOf(err);
      console.warn(`model ${version} rejected: ${reason}`);
      await writeRejection(deps.kv, version, reason);
      await clearStaging(deps.kv);
      return finish({ at, outcome: 'rejected', version, reason });
    }
    console.error(`refresh of ${version} failed: ${reasonOf(err)}`);
    return finish({ at, outcome: 'failed', version, reason: reasonOf(err) });
  }
  await activate(deps, version, pointer);
  deps.models.adopt(version, candidate);
  return finish({ at, outcome: 'activated', version, reason: null });
}

/** Writes the active pointer (the single switching write) and garbage-collects old versions. */
export async function activate(
  deps: Pick<RefreshDeps, 'kv' | 'bucket' | 'now' | 'models'> & { config: Pick<Config, 'keepPreviousVersions'> },
  version: string,
  current: ActivePointer | null,
): Promise<ActivePointer> {
  const keep = deps.config.keepPreviousVersions;
  const history = current ? [current.version, ...current.previous].filter((v) => v !== version) : [];
  const next: ActivePointer = { version, activatedAt: (deps.now?.() ?? new Date()).toISOString(), previous: history.slice(0, keep) };
  await writeActivePointer(deps.kv, next);
  deps.models.invalidatePointer();
  await collectGarbage(deps.bucket, history.slice(keep));
  return next;
}

/**
 * Deletes versions that just fell off the kept history. Only versions that were once active are
 * ever deleted, so a version that is still being published (or not yet activated) is never touched.
 */
async function collectGarbage(bucket: R2Bucket, dropped: string[]): Promise<void> {
  for (const version of dropped) {
    let cursor: string | undefined;
    do {
      const page = await bucket.list({ prefix: R2.modelPrefix(version), cursor });
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
export async function rollback(deps: Pick<RefreshDeps, 'kv' | 'now' | 'models'>): Promise<ActivePointer | null> {
  const pointer = await readActivePointer(deps.kv);
  if (!pointer || pointer.previous.length === 0) return null;
  const [target, ...rest] = pointer.previous;
  const next: ActivePointer = { version: target, activatedAt: (deps.now?.() ?? new Date()).toISOString(), previous: rest };
  await writeRejection(deps.kv, pointer.version, `rolled back by an operator at ${next.activatedAt}`);
  await writeActivePointer(deps.kv, next);
  deps.models.invalidatePointer();
  await writeLastRefresh(deps.kv, {
    at: next.activatedAt,
    outcome: 'activated',
    version: target,
    reason: `rollback from ${pointer.version}`,
  });
  return next;
}
