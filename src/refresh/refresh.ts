/**
 * Model refresh: move the edge to the newest good model in origin storage, never to a bad one.
 *
 * Origin layout (written by `npm run publish`, data first, pointer last):
 *   models/<version>/<files…>, models/<version>/manifest.sig, models/<version>/manifest.json,
 *   models/latest.json = {"version": "<version>"}
 *
 * A candidate is verified completely before the active pointer moves: signature over the
 * manifest bytes against MODEL_PUBLIC_KEYS, supported format version, every listed file's size
 * and sha256, shapes and finiteness of the factors, and a probe run of the ONNX graph in
 * onnxruntime-web that must agree with the TypeScript scorer. Only then is `model:active`
 * written — one KV write, the switch. Any failure leaves the pointer untouched, records the reason
 * under model:last-refresh, and remembers the rejected version so the cron does not re-verify it
 * every run.
 */
import { sha256Hex } from '../core/bytes';
import { LATEST_KEY, ORIGIN_PREFIX as MODEL_PREFIX, signatureSchema } from '../core/manifest';
import { verifyManifest } from '../core/signing';
import type { Config } from '../config';
import { ModelLoadError, parseManifest, loadServingModel } from '../serving/model';
import { ACTIVE_KEY, r2Source, registry, type ActivePointer } from '../serving/registry';
import { writeLastRefresh, type RefreshStatus } from './status';

const REJECTED_PREFIX = 'model:rejected:';

export interface RefreshDeps {
  kv: KVNamespace;
  bucket: R2Bucket;
  config: Config;
  /** previous good versions kept for rollback */
  keepVersions: number;
  now?: () => Date;
}

export interface RefreshOptions {
  /** re-verify a version even if it was rejected before */
  force?: boolean;
}

class Rejection extends Error {}

async function readObject(bucket: R2Bucket, key: string): Promise<ArrayBuffer | null> {
  const obj = await bucket.get(key);
  return obj ? obj.arrayBuffer() : null;
}

/** Verifies a published version end to end; throws Rejection/ModelLoadError with the reason. */
export async function verifyCandidate(deps: RefreshDeps, version: string): Promise<void> {
  const base = `${MODEL_PREFIX}${version}/`;
  const manifestBytes = await readObject(deps.bucket, `${base}manifest.json`);
  if (!manifestBytes) throw new Rejection(`manifest.json of ${version} is missing (publish incomplete?)`);
  const sigBytes = await readObject(deps.bucket, `${base}manifest.sig`);
  if (!sigBytes) throw new Rejection('manifest.sig is missing: the model is unsigned');
  let sigJson: unknown;
  try {
    sigJson = JSON.parse(new TextDecoder().decode(sigBytes));
  } catch {
    throw new Rejection('manifest.sig is not JSON');
  }
  const sig = signatureSchema.safeParse(sigJson);
  if (!sig.success) throw new Rejection('manifest.sig is malformed');
  const bad = await verifyManifest(new Uint8Array(manifestBytes), sig.data, deps.config.modelPublicKeys);
  if (bad) throw new Rejection(bad);
  const manifest = parseManifest(manifestBytes, version);
  if (manifest.version !== version) throw new Rejection(`manifest says version ${manifest.version}, published as ${version}`);
  for (const [file, meta] of Object.entries(manifest.files)) {
    const bytes = await readObject(deps.bucket, base + file);
    if (!bytes) throw new Rejection(`${file} is missing`);
    if (bytes.byteLength !== meta.bytes) throw new Rejection(`${file} has ${bytes.byteLength} bytes, manifest says ${meta.bytes}`);
    if ((await sha256Hex(bytes)) !== meta.sha256) throw new Rejection(`${file} sha256 does not match the manifest`);
  }
  // shapes, finiteness, ONNX load + probe
  await loadServingModel(r2Source(deps.bucket, version), manifest);
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One refresh run. Idempotent: concurrent runs verify the same candidate and write the same pointer. */
export async function refreshModel(deps: RefreshDeps, opts: RefreshOptions = {}): Promise<RefreshStatus> {
  const at = (deps.now?.() ?? new Date()).toISOString();
  const finish = async (s: RefreshStatus) => {
    await writeLastRefresh(deps.kv, s);
    return s;
  };
  let latest: { version?: unknown } | null;
  try {
    const bytes = await readObject(deps.bucket, LATEST_KEY);
    latest = bytes ? JSON.parse(new TextDecoder().decode(bytes)) : null;
  } catch (err) {
    return finish({ at, outcome: 'failed', version: null, reason: `origin unavailable or latest.json unreadable: ${reasonOf(err)}` });
  }
  if (!latest) return finish({ at, outcome: 'unchanged', version: null, reason: 'origin has no published model (models/latest.json)' });
  const version = typeof latest.version === 'string' ? latest.version : '';
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(version)) return finish({ at, outcome: 'rejected', version: null, reason: 'latest.json names no valid version' });

  const pointer = await deps.kv.get<ActivePointer>(ACTIVE_KEY, 'json');
  if (pointer?.version === version) return finish({ at, outcome: 'unchanged', version, reason: null });
  if (!opts.force) {
    const earlier = await deps.kv.get(REJECTED_PREFIX + version);
    if (earlier) return finish({ at, outcome: 'rejected', version, reason: `previously rejected: ${earlier}` });
  }
  try {
    await verifyCandidate(deps, version);
  } catch (err) {
    if (err instanceof Rejection || err instanceof ModelLoadError) {
      const reason = reasonOf(err);
      console.warn(`model ${version} rejected: ${reason}`);
      await deps.kv.put(REJECTED_PREFIX + version, reason, { expirationTtl: 60 * 60 * 24 * 30 });
      return finish({ at, outcome: 'rejected', version, reason });
    }
    // storage trouble is not the candidate's fault: retry on the next run
    console.error(`refresh of ${version} failed: ${reasonOf(err)}`);
    return finish({ at, outcome: 'failed', version, reason: reasonOf(err) });
  }
  await activate(deps, version, pointer);
  return finish({ at, outcome: 'activated', version, reason: null });
}

/** Writes the active pointer (the single switching write) and garbage-collects old versions. */
export async function activate(deps: RefreshDeps, version: string, current: ActivePointer | null): Promise<ActivePointer> {
  const history = current ? [current.version, ...current.previous].filter((v) => v !== version) : [];
  const next: ActivePointer = {
    version,
    activatedAt: (deps.now?.() ?? new Date()).toISOString(),
    previous: history.slice(0, deps.keepVersions),
  };
  await deps.kv.put(ACTIVE_KEY, JSON.stringify(next));
  registry.invalidatePointer();
  await collectGarbage(deps, history.slice(deps.keepVersions));
  return next;
}

/**
 * Deletes versions that just fell off the kept history. Only versions that were once active are
 * ever deleted, so a version that is still being published (or not yet activated) is never touched.
 */
async function collectGarbage(deps: RefreshDeps, dropped: string[]): Promise<void> {
  for (const version of dropped) {
    const prefix = `${MODEL_PREFIX}${version}/`;
    let cursor: string | undefined;
    do {
      const page = await deps.bucket.list({ prefix, cursor });
      if (page.objects.length) await deps.bucket.delete(page.objects.map((o) => o.key));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
  }
}

/**
 * Makes the newest previous version active again. The version rolled back from is dropped from
 * the history and marked rejected, so the next cron does not re-activate it from latest.json
 * (an operator can still force it with POST /admin/refresh?force=true).
 */
export async function rollback(deps: RefreshDeps): Promise<ActivePointer | null> {
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
