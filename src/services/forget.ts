/**
 * Forgetting a user: nothing of theirs is served once this returns, and their rows leave the
 * event exports. What remains is a marker holding only the keyed hash and the time, so the
 * trained vector in an already-published (signed, immutable) artifact is not served again.
 */
import type { Models } from '../models/registry';
import { forgetInExports } from '../storage/exports';
import type { HistoryStore } from '../storage/history';
import type { UserIdentity } from '../storage/identity';
import { KV } from '../storage/keys';
import { recentUsers } from '../storage/user-records';

export interface ForgetDeps {
  kv: KVNamespace;
  bucket: R2Bucket;
  history: HistoryStore;
  models: Models;
}

export async function forgetUser(deps: ForgetDeps, who: UserIdentity, now: number): Promise<{ exportRowsRemoved: number }> {
  // the marker first, so no lookup falls back to a trained vector while the rest is erased
  await deps.kv.put(KV.forgotten(who.key), String(now));
  recentUsers.forget(who.key);
  await deps.history.forget(who.key);
  await deps.kv.delete(KV.historyMarker(who.key));
  const versions = new Set<string>();
  const pointer = await deps.models.pointer();
  if (pointer) for (const v of [pointer.version, ...pointer.previous]) versions.add(v);
  try {
    versions.add((await deps.models.active()).version);
  } catch {
    // no model: nothing cached under a version
  }
  for (const v of versions) await deps.kv.delete(KV.embedding(v, who.key));
  return { exportRowsRemoved: await forgetInExports(deps.bucket, who.key) };
}
