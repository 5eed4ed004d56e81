/**
 * Turning a user's edge history into an embedding for a model version (the ALS fold-in, the same
 * user step the trainer solves), and finding the right user vector for a request.
 */
import type { ServingModel } from '../serving/model';
import { registry, r2Source, type RegistryDeps } from '../serving/registry';
import { cachedRecord, embeddingKey, encodeUserRecord, getUserRecord, readMarkers, recentUsers, shardRecord, type UserRecord, type UserStoreDeps } from '../serving/users';
import type { HistorySnapshot } from './history';
import type { UserIdentity } from './identity';

export interface HistoryDeps {
  get(userKey: string): Promise<HistorySnapshot | null>;
  /** KV write of the embedding, ordered by history revision inside the user's Durable Object */
  storeEmbedding(userKey: string, kvKey: string, revision: number, value: ArrayBuffer): Promise<void>;
}

/** The fold-in of a history under a model; items the model does not know are ignored. */
export function recordFromHistory(model: ServingModel, history: HistorySnapshot): UserRecord | null {
  const items: number[] = [];
  const strengths: number[] = [];
  for (const h of history.items) {
    const index = model.ids.indexOf(h.itemId);
    if (index === undefined || !(h.strength > 0)) continue;
    items.push(index);
    strengths.push(h.strength);
  }
  if (items.length === 0) return null;
  const vector = model.foldIn(items.map((index, j) => ({ index, strength: strengths[j] })));
  return { vector, items: Uint32Array.from(items), strengths: Float32Array.from(strengths) };
}

/** Folds the history in and stores it (revision-ordered) as the user's embedding for the model. */
export async function embedHistory(model: ServingModel, who: UserIdentity, history: HistorySnapshot, hist: HistoryDeps): Promise<UserRecord | null> {
  const rec = recordFromHistory(model, history);
  if (rec) {
    // this isolate serves the new vector at once, whatever KV still holds
    recentUsers.set(model.version, who.key, rec, history.revision);
    await hist.storeEmbedding(who.key, embeddingKey(model.version, who.key), history.revision, encodeUserRecord(rec));
  }
  return rec;
}

/**
 * The model and user vector to serve a user with:
 * 1. their embedding for the active version in KV (written at their last event, or cached);
 * 2. their edge history folded in under the active version (after a model switch: newer than any
 *    training snapshot, since it was seeded with the training history);
 * 3. their trained vector from the active artifact's shards;
 * 4. a kept previous version that knows them, in that version's own space;
 * otherwise null (popular fallback). Forgotten users stop at 1–2, which they no longer have.
 */
export async function resolveUser(reg: RegistryDeps, store: UserStoreDeps, hist: HistoryDeps, who: UserIdentity): Promise<{ model: ServingModel; user: UserRecord | null }> {
  const model = await registry.active(reg);
  const cached = await cachedRecord(store, model, who);
  if (cached) return { model, user: cached };
  // a first-time visitor needs both markers
  const { hasHistory, forgotten } = await readMarkers(store.kv, who.key);
  if (hasHistory) {
    const history = await hist.get(who.key);
    if (history) {
      const rec = recordFromHistory(model, history);
      if (rec) {
        store.defer(embedHistory(model, who, history, hist).catch(() => undefined));
        return { model, user: rec };
      }
    }
  }
  if (forgotten) return { model, user: null };
  const trained = await shardRecord(store, model, who);
  if (trained || model.source.kind === 'bundled') return { model, user: trained };
  const pointer = await registry.activePointer(reg);
  for (const version of pointer?.previous ?? []) {
    try {
      // a big catalogue is not loaded beside another: its users get the popular fallback instead
      if (!(await registry.fitsBeside(model, version, reg))) continue;
      const prev = await registry.load(version, () => r2Source(reg.bucket, version));
      const found = await getUserRecord(store, prev, who);
      if (found) return { model: prev, user: found };
    } catch {
      // garbage-collected or unreadable: try the next one, then fall back
    }
  }
  return { model, user: null };
}
