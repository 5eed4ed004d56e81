/**
 * Forgetting a user: nothing of theirs is served once this returns — the forgotten marker (with
 * its time) is written first, then their history, edge marker and embeddings for every kept
 * version are erased and their share of trending is taken out — and their rows leave the event
 * files by a background job whose progress the caller can follow. What remains is the marker, holding only the keyed hash and the time,
 * so the trained vector in an already-published (signed, immutable) artifact is not served
 * again, and rows accepted before the deletion are dropped at compaction; events sent after it
 * (a new consent) are served and exported as usual.
 */
import type { Models } from '../models/registry';
import type { ErasureJob, ErasureQueue } from '../storage/erasure-jobs';
import type { HistoryStore } from '../storage/history';
import type { UserIdentity } from '../storage/identity';
import { KV } from '../storage/keys';
import type { TrendingClient } from '../storage/trending';
import { recentUsers } from '../storage/user-records';

export type { ErasureJob };

export interface ForgetDeps {
  kv: KVNamespace;
  history: HistoryStore;
  models: Models;
  erasures: ErasureQueue;
  trending: Pick<TrendingClient, 'forget'>;
}

export async function forgetUser(deps: ForgetDeps, who: UserIdentity, now: number): Promise<ErasureJob> {
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
  // the exports' erasure is queued before trending is touched: should that fail, the DELETE fails
  // (and is retried by the caller) with the erasure already under way
  const job = await deps.erasures.enqueue(who.key, now);
  // what their events added to trending comes out too (other isolates see it within TRENDING_CACHE_SECONDS)
  await deps.trending.forget(who.key, now);
  return job;
}

/** A job's progress, or null for an id no job has. */
export function erasureProgress(deps: Pick<ForgetDeps, 'erasures'>, id: string): Promise<ErasureJob | null> {
  return deps.erasures.job(id);
}
