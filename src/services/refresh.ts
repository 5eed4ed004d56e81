/**
 * Model refresh: move the edge to the newest good model in origin storage, never to a bad or
 * an older one.
 *
 * Origin layout (written by `npm run publish`, data first, pointer last):
 *   models/<version>/<files…>, models/<version>/manifest.sig, models/<version>/manifest.json,
 *   models/latest.json = {"version": "<version>"}
 *
 * A run (cron or POST /admin/refresh):
 * 0. re-stages files of the active version that failed their check since activation.
 * 1. reads latest.json; nothing new → "unchanged".
 * 2. fetches manifest.json + manifest.sig, checks the Ed25519 signature against
 *    MODEL_PUBLIC_KEYS, the schema and the format version, and that the candidate is newer than
 *    the active version (its signed creation time): a refresh only moves forward; going back is
 *    POST /admin/rollback or `force`.
 * 3. stages the files: each is fetched, its size and sha256 checked against the manifest, and —
 *    for an HTTPS origin — written to the MODELS bucket under models/<version>/. Staging is
 *    progressive: a run spends at most REFRESH_OPS_PER_RUN storage operations and leaves a cursor
 *    in KV, so artifacts with millions of users (thousands of shard files) stage over several
 *    runs within the platform's per-invocation limits.
 * 4. when every file is staged: loads the version as the edge will serve it (shapes, finite
 *    factors, the ONNX graph or the int8 kernel scoring a probe like the factors say).
 * 5. only then writes the active pointer — one KV write, the switch — and garbage-collects
 *    versions that fell off the kept history.
 *
 * What a refusal means depends on what it is about (see RefreshProblem):
 * - the candidate's own signed content (bad signature, a file whose bytes differ from the signed
 *   digest, non-finite factors, a failed probe): "rejected" and remembered, so later runs do not
 *   verify it again (`force` does);
 * - policy (no trusted key for it, a format this Worker cannot read, older than the active
 *   version): "rejected", checked again next run (the configuration or the Worker may change);
 * - transport (missing files, timeouts, 5xx, short reads): "failed", retried next run from the
 *   staging cursor.
 * The stored report keeps operator detail (origin location, exception text) apart from the
 * reason anyone may read in GET /v1/model.
 */
import { FILES, fileMismatch, LATEST_KEY, type Manifest, signatureSchema, VERSION_PATTERN } from '@edge-recs/core/manifest';
import { verifyManifest } from '@edge-recs/core/signing';
import type { Config } from '../config';
import { loadServingModel, ModelLoadError, parseManifest, type ServingModel } from '../models/model';
import { BUNDLED, loadOptions, type Models, r2Source } from '../models/registry';
import { pinnedVersions } from '../storage/experiments';
import { KV, R2 } from '../storage/keys';
import { type Origin, OriginError } from '../storage/origin';
import {
  type ActivePointer,
  clearActivePointer,
  clearDamage,
  clearStaging,
  type RefreshReport,
  raiseNewestActivated,
  readActivePointer,
  readDamage,
  readLastRefresh,
  readNewestActivated,
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
  config: Pick<Config, 'modelPublicKeys' | 'int8ScoringMinItems' | 'keepPreviousVersions' | 'refreshOpsPerRun' | 'serveBundledModel'>;
  /**
   * This isolate's loaded models: asked to make room before a candidate is loaded for
   * verification (two large catalogues do not fit one isolate), handed the verified candidate
   * on activation (a rollback's target too), and told to read the pointer again.
   */
  models: Pick<Models, 'makeRoomFor' | 'adopt' | 'invalidatePointer' | 'repaired'>;
  now?: () => Date;
}

export interface RefreshOptions {
  /** re-verify a version rejected before, and allow moving to an older one */
  force?: boolean;
}

/**
 * Why a run did not activate its candidate: `content` (a verdict about the signed artifact,
 * remembered), `policy` (refused now, checked again next run) or `transient` (retried).
 * `message` is the public reason; `detail` is for operators.
 */
class RefreshProblem extends Error {
  constructor(
    readonly verdict: 'content' | 'policy' | 'transient',
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

function problemOf(err: unknown): RefreshProblem {
  if (err instanceof RefreshProblem) return err;
  if (err instanceof ModelLoadError) {
    const verdict = err.kind === 'content' ? 'content' : err.kind === 'unsupported' ? 'policy' : 'transient';
    return new RefreshProblem(verdict, err.message, err.detail);
  }
  if (err instanceof OriginError) return new RefreshProblem('transient', 'the origin could not be read; retrying next run', err.message);
  const detail = err instanceof Error ? err.message : String(err);
  console.error(`refresh failed: ${detail}`);
  return new RefreshProblem('transient', 'internal error during the refresh; retrying next run', detail);
}

function json<T>(bytes: ArrayBuffer, what: string): T {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch {
    throw new RefreshProblem('policy', `${what} is not JSON`);
  }
}

/** The bytes as JSON, or undefined when they are not whole UTF-8 JSON (JSON itself never yields undefined). */
function parsedJson(bytes: ArrayBuffer): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    return undefined;
  }
}

/** Fetches and checks manifest + signature of a published version. */
async function fetchManifest(
  deps: RefreshDeps,
  version: string,
): Promise<{ manifest: Manifest; manifestBytes: ArrayBuffer; sigBytes: ArrayBuffer }> {
  const manifestBytes = await deps.origin.get(R2.modelFile(version, FILES.manifest));
  if (!manifestBytes) throw new RefreshProblem('transient', `manifest.json of ${version} is not at the origin (publish incomplete?)`);
  const sigBytes = await deps.origin.get(R2.modelFile(version, FILES.signature));
  if (!sigBytes) throw new RefreshProblem('transient', 'manifest.sig is not at the origin: the model is unsigned or still uploading');
  // A manifest or signature that is not whole JSON was cut short or is not the file at all (a
  // truncated body, an HTML error page): a transport fault, retried — only complete JSON that fails
  // the signature is a verdict about the signed content.
  const incomplete = (file: string) =>
    new RefreshProblem('transient', `${file} of ${version} is not complete JSON (cut short, or not the file): retried next run`);
  if (parsedJson(manifestBytes) === undefined) throw incomplete(FILES.manifest);
  const sigJson = parsedJson(sigBytes);
  if (sigJson === undefined) throw incomplete(FILES.signature);
  const sig = signatureSchema.safeParse(sigJson);
  if (!sig.success) throw new RefreshProblem('content', 'manifest.sig is malformed');
  const bad = await verifyManifest(new Uint8Array(manifestBytes), sig.data, deps.config.modelPublicKeys);
  if (bad) throw new RefreshProblem(bad.kind === 'bad-signature' ? 'content' : 'policy', bad.message);
  const manifest = parseManifest(manifestBytes, version);
  if (manifest.version !== version)
    throw new RefreshProblem('content', `manifest says version ${manifest.version}, published as ${version}`);
  return { manifest, manifestBytes, sigBytes };
}

/** The version models/latest.json names (null: nothing published). */
async function latestVersion(origin: Origin): Promise<string | null> {
  const bytes = await origin.get(LATEST_KEY);
  if (!bytes) return null;
  const latest = json<{ version?: unknown }>(bytes, 'latest.json');
  const version = typeof latest.version === 'string' ? latest.version : '';
  if (!VERSION_PATTERN.test(version)) throw new RefreshProblem('policy', 'latest.json names no valid version');
  return version;
}

/** The signed creation time of the active version (from the pointer, or its manifest in MODELS). */
async function activeCreatedAt(deps: RefreshDeps, pointer: ActivePointer): Promise<string | null> {
  if (pointer.createdAt) return pointer.createdAt;
  const obj = await deps.bucket.get(R2.modelFile(pointer.version, FILES.manifest));
  if (!obj) return null;
  try {
    return parseManifest(await obj.arrayBuffer(), pointer.version).createdAt;
  } catch {
    return null;
  }
}

/** A refresh only moves forward: the candidate must have been created after the active version. */
async function checkForward(deps: RefreshDeps, manifest: Manifest, pointer: ActivePointer | null): Promise<void> {
  // Forward of the newest version ever activated, not only of the active one: after a rollback (to
  // the bundled model, which clears the pointer, or to an older version) a replayed older signed
  // version must stay refused. A rollback moves back on purpose; a refresh never does.
  const newest = await readNewestActivated(deps.kv);
  // (the active version's own check, below, says it when that is the newest)
  if (newest && newest.version !== pointer?.version && !(Date.parse(manifest.createdAt) > Date.parse(newest.createdAt)))
    throw new RefreshProblem(
      'policy',
      `${manifest.version} (created ${manifest.createdAt}) is not newer than ${newest.version} (created ${newest.createdAt}), the newest version this deployment has activated: use POST /admin/rollback, or POST /admin/refresh?force=true to move back`,
    );
  if (!pointer || pointer.version === BUNDLED) return;
  const current = await activeCreatedAt(deps, pointer);
  // not knowing what "forward" is never lets a version through: a manifest of the active version
  // that went missing or bad in the bucket (it serves from memory) must not open the door to a replay
  if (current === null)
    throw new RefreshProblem(
      'transient',
      `cannot read when the active ${pointer.version} was created (its manifest in the models bucket is missing or unreadable), so ${manifest.version} cannot be checked to be newer: retried next run; POST /admin/refresh?force=true activates it anyway`,
    );
  if (!(Date.parse(manifest.createdAt) > Date.parse(current))) {
    throw new RefreshProblem(
      'policy',
      `${manifest.version} (created ${manifest.createdAt}) is not newer than the active ${pointer.version} (created ${current}): use POST /admin/rollback, or POST /admin/refresh?force=true to move back`,
    );
  }
}

/** Fetches one file from the origin and checks it against the signed manifest. */
async function fetchVerified(deps: RefreshDeps, manifest: Manifest, file: string): Promise<ArrayBuffer> {
  const bytes = await deps.origin.get(R2.modelFile(manifest.version, file));
  if (!bytes) throw new RefreshProblem('transient', `${file} is not at the origin yet`);
  const why = await fileMismatch(manifest, file, bytes);
  // a short body is an incomplete upload or read: retried; other bytes of the right length are a verdict
  if (why) throw new RefreshProblem(why.kind === 'size' ? 'transient' : 'content', why.message);
  return bytes;
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
  try {
    while (staging.next < files.length && spent() + perFile <= deps.config.refreshOpsPerRun) {
      const file = files[staging.next];
      const bytes = await fetchVerified(deps, manifest, file);
      if (deps.origin.needsCopy) {
        await deps.bucket.put(R2.modelFile(version, file), bytes);
        copied();
      }
      staging.next++;
    }
  } catch (err) {
    // keep what was staged: a transient fault resumes from here next run
    if (staging.next > 0) await writeStaging(deps.kv, staging);
    throw err;
  }
  return staging;
}

/**
 * Files that failed their check since activation — of the active version, and of the other
 * versions experiments pin (their variants are answered by the active model meanwhile): fetched
 * from the origin again and, when they now verify, re-staged (HTTPS origin) or found healed in
 * place (R2 origin); the others stay recorded. Returns the repaired files, those of a pinned
 * version as "<version>/<file>" (as `lastRefresh` names its damage).
 */
async function repairDamage(deps: RefreshDeps, pointer: ActivePointer | null, copied: () => void): Promise<string[]> {
  const pinned = await pinnedVersions(deps.kv);
  const versions = [...new Set([...(pointer ? [pointer.version] : []), ...pinned])].filter((v) => v !== BUNDLED);
  const repaired: string[] = [];
  for (const version of versions) {
    const damaged = Object.keys(await readDamage(deps.kv, version));
    if (damaged.length === 0) continue;
    const healed: string[] = [];
    const manifestObj = await deps.bucket.get(R2.modelFile(version, FILES.manifest));
    // a pinned version whose manifest is gone or unreadable stays recorded; the run goes on
    if (!manifestObj) continue;
    let manifest: Manifest;
    try {
      manifest = parseManifest(await manifestObj.arrayBuffer(), version);
    } catch (err) {
      if (version === pointer?.version) throw err;
      console.warn(`could not repair ${version}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    for (const file of damaged) {
      try {
        const bytes = await fetchVerified(deps, manifest, file);
        if (deps.origin.needsCopy) {
          await deps.bucket.put(R2.modelFile(version, file), bytes);
          copied();
        }
        healed.push(file);
      } catch (err) {
        console.warn(`could not repair ${file} of ${version}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (healed.length) {
      await clearDamage(deps.kv, version, healed);
      deps.models.repaired(version);
      repaired.push(...healed.map((f) => (version === pointer?.version ? f : `${version}/${f}`)));
    }
  }
  return repaired;
}

/** One refresh run. Idempotent: concurrent runs verify the same candidate and write the same pointer. */
export async function refreshModel(deps: RefreshDeps, opts: RefreshOptions = {}): Promise<RefreshReport> {
  const at = (deps.now?.() ?? new Date()).toISOString();
  // storage operations of this run: origin reads plus writes into MODELS (KV bookkeeping and the
  // final load add a fixed handful, well inside the 1,000-per-invocation limit)
  let copies = 0;
  const copied = () => {
    copies++;
  };
  const spent = () => deps.origin.ops + copies;
  let repaired: string[] = [];
  const finish = async (s: Omit<RefreshReport, 'detail'> & { detail?: string | null }) => {
    const report: RefreshReport = { ...s, detail: s.detail ?? null, ops: spent(), ...(repaired.length ? { repaired } : {}) };
    await writeLastRefresh(deps.kv, report);
    return report;
  };

  const pointer = await readActivePointer(deps.kv);
  let version: string | null = null;
  let candidate: ServingModel;
  let createdAt: string;
  try {
    repaired = await repairDamage(deps, pointer, copied);
    version = await latestVersion(deps.origin);
    if (version === null) {
      return finish({
        at,
        outcome: 'unchanged',
        version: null,
        reason: 'the origin has no published model (models/latest.json)',
        detail: `origin: ${deps.origin.name}`,
      });
    }
    if (pointer?.version === version) return finish({ at, outcome: 'unchanged', version, reason: null });
    if (!opts.force) {
      const earlier = await readRejection(deps.kv, version);
      if (earlier) return finish({ at, outcome: 'rejected', version, reason: `previously rejected: ${earlier}` });
    }
    const { manifest, manifestBytes, sigBytes } = await fetchManifest(deps, version);
    if (!opts.force) await checkForward(deps, manifest, pointer);
    const staging = await stageFiles(deps, manifest, at, spent, copied);
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
      await deps.bucket.put(R2.modelFile(version, FILES.signature), sigBytes);
      await deps.bucket.put(R2.modelFile(version, FILES.manifest), manifestBytes);
      copies += 2;
    }
    deps.models.makeRoomFor(manifest);
    candidate = await loadServingModel(r2Source(deps.bucket, version), manifest, loadOptions(deps.config, deps.kv));
    createdAt = manifest.createdAt;
    await clearStaging(deps.kv);
  } catch (err) {
    const problem = problemOf(err);
    if (problem.verdict === 'transient') return finish({ at, outcome: 'failed', version, reason: problem.message, detail: problem.detail });
    if (version) {
      console.warn(`model ${version} rejected: ${problem.message}`);
      if (problem.verdict === 'content') await writeRejection(deps.kv, version, problem.message);
      await clearStaging(deps.kv);
    }
    return finish({ at, outcome: 'rejected', version, reason: problem.message, detail: problem.detail });
  }
  await activate(deps, version, pointer, createdAt);
  deps.models.adopt(version, candidate);
  return finish({ at, outcome: 'activated', version, reason: null });
}

/** Writes the active pointer (the single switching write) and garbage-collects old versions. */
export async function activate(
  deps: Pick<RefreshDeps, 'kv' | 'bucket' | 'now' | 'models'> & { config: Pick<Config, 'keepPreviousVersions'> },
  version: string,
  current: ActivePointer | null,
  createdAt: string,
): Promise<ActivePointer> {
  const keep = deps.config.keepPreviousVersions;
  // the bundled model (a pointer after a rollback to it, services/refresh.ts rollback) is no kept version
  const history = current ? [current.version, ...current.previous].filter((v) => v !== version && v !== BUNDLED) : [];
  // a version a running experiment serves stays kept (and servable) however old it gets
  const pinned = new Set(await pinnedVersions(deps.kv));
  const next: ActivePointer = {
    version,
    activatedAt: (deps.now?.() ?? new Date()).toISOString(),
    createdAt,
    previous: history.filter((v, j) => j < keep || pinned.has(v)),
  };
  await writeActivePointer(deps.kv, next);
  deps.models.invalidatePointer();
  await raiseNewestActivated(deps.kv, { version, createdAt });
  // verified and active again (POST /admin/refresh?force=true after a rollback from it): no verdict stands
  await deps.kv.delete(KV.rejected(version));
  await collectGarbage(
    deps.bucket,
    history.filter((v, j) => j >= keep && !pinned.has(v)),
  );
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
 * Makes the newest previous version active again — or, when none is kept and the bundled model
 * may serve (SERVE_BUNDLED_MODEL), the bundled model, as before the first published version was
 * activated. The version rolled back from is marked (a rejection remembered like a verdict), so the
 * next cron does not re-activate it from latest.json (an operator can still force it with
 * POST /admin/refresh?force=true), and is dropped from the history — unless a running experiment
 * pins it, as activate() never drops one either: then it stays kept, last in the history, so its
 * variant is still served, it stays listed (GET /v1/model, /admin/overview) and a new experiment may
 * still name it; being marked, it is no rollback target. A rollback to the bundled model that keeps
 * such a version writes a pointer naming "bundled" with it as the history (the registry serves the
 * bundled model for it); with nothing to keep, the pointer is removed, as before.
 */
export async function rollback(deps: Pick<RefreshDeps, 'kv' | 'bucket' | 'now' | 'models' | 'config'>): Promise<RollbackResult> {
  const pointer = await readActivePointer(deps.kv);
  if (!pointer) return { to: null, skipped: [] };
  const at = (deps.now?.() ?? new Date()).toISOString();
  // versions rolled back from earlier and kept only for an experiment are no targets
  const marked = await Promise.all(pointer.previous.map((v) => readRejection(deps.kv, v)));
  // and a target must load from the bucket (not from this isolate's memory) before it replaces
  // anything: one whose files were deleted or damaged since would have every other isolate fall
  // back to the bundled model
  const skipped: { version: string; reason: string }[] = [];
  let target: string | undefined;
  let loaded: ServingModel | undefined;
  for (const v of pointer.previous.filter((_, j) => marked[j] === null)) {
    try {
      loaded = await loadFromBucket(deps, v);
      target = v;
      break;
    } catch (err) {
      skipped.push({ version: v, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  const fromBundled = pointer.version === BUNDLED;
  if (target === undefined && (fromBundled || !deps.config.serveBundledModel)) return { to: null, skipped };
  const pinned = new Set(await pinnedVersions(deps.kv));
  if (!fromBundled) await writeRejection(deps.kv, pointer.version, `rolled back by an operator at ${at}`);
  const unloadable = new Set(skipped.map((s) => s.version));
  const previous = [
    ...pointer.previous.filter((v) => v !== target && (!unloadable.has(v) || pinned.has(v))),
    ...(!fromBundled && pinned.has(pointer.version) ? [pointer.version] : []),
  ];
  // the target's creation time is read from its manifest when a later refresh needs it
  const next: ActivePointer | null =
    target !== undefined || previous.length ? { version: target ?? BUNDLED, activatedAt: at, previous } : null;
  if (next) await writeActivePointer(deps.kv, next);
  else await clearActivePointer(deps.kv);
  deps.models.invalidatePointer();
  if (target !== undefined && loaded) deps.models.adopt(target, loaded);
  await writeLastRefresh(deps.kv, {
    at,
    outcome: 'activated',
    version: next?.version ?? BUNDLED,
    reason: `rollback from ${pointer.version}${skipped.length ? `, past ${skipped.map((x) => `${x.version} (cannot be loaded: ${x.reason})`).join(', ')}` : ''}`,
    detail: null,
  });
  return { to: next ?? { version: BUNDLED, previous: [] }, skipped };
}

/** A kept version loaded afresh from the models bucket, its core files checked against its manifest. */
async function loadFromBucket(deps: Pick<RefreshDeps, 'kv' | 'bucket' | 'models' | 'config'>, version: string): Promise<ServingModel> {
  const obj = await deps.bucket.get(R2.modelFile(version, FILES.manifest));
  if (!obj) throw new Error(`${FILES.manifest} is missing`);
  const manifest = parseManifest(await obj.arrayBuffer(), version);
  deps.models.makeRoomFor(manifest);
  return loadServingModel(r2Source(deps.bucket, version), manifest, loadOptions(deps.config, deps.kv));
}

/** What a rollback did: the version now active (null: nothing to roll back to) and the kept versions it passed over. */
export interface RollbackResult {
  to: Pick<ActivePointer, 'version' | 'previous'> | null;
  /** kept versions that could not be loaded (files deleted or damaged since): not rolled back to, and no longer kept */
  skipped: { version: string; reason: string }[];
}

/**
 * The last run's full report and the damage records, for operators: the active version's files by
 * name, and those of other versions running experiments pin (a variant served by the active model
 * while its own version cannot be loaded: models/registry.ts) as "<version>/<file>".
 */
export async function lastRefresh(
  deps: Pick<RefreshDeps, 'kv'>,
): Promise<{ last: RefreshReport | null; damaged: Record<string, { reason: string; at: string }> }> {
  const [last, pointer, pinned] = await Promise.all([readLastRefresh(deps.kv), readActivePointer(deps.kv), pinnedVersions(deps.kv)]);
  const damaged = pointer ? await readDamage(deps.kv, pointer.version) : {};
  for (const version of new Set(pinned)) {
    if (version === pointer?.version) continue;
    for (const [file, record] of Object.entries(await readDamage(deps.kv, version))) damaged[`${version}/${file}`] = record;
  }
  return { last, damaged };
}
