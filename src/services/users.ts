/**
 * The user side of a request: which model version and user vector serve a user, and turning an
 * edge history into an embedding for a model version (the ALS fold-in, the same user step the
 * trainer solves).
 */

import type { ServingModel } from '../models/model';
import type { Models } from '../models/registry';
import type { HistorySnapshot, HistoryStore } from '../storage/history';
import type { UserIdentity } from '../storage/identity';
import { KV } from '../storage/keys';
import {
  cacheShardRecord,
  encodeUserRecord,
  readUserRecord,
  readVisitor,
  recentUsers,
  type UserRecord,
  type UserStore,
} from '../storage/user-records';

export type { UserRecord };

export interface UserDeps {
  models: Models;
  store: UserStore;
  history: HistoryStore;
  /**
   * The version the request is pinned to — an experiment variant's model — if any: then the
   * user's record comes from that version only, and `models.active()` is that version.
   */
  pinnedVersion?(): string | undefined;
}

/** The id a model's user shards are keyed by. */
export function shardId(model: ServingModel, user: UserIdentity): string {
  return model.manifest.userIds === 'hmac-sha256' ? user.key : user.id;
}

/** The fold-in of a history under a model; items the model does not know are kept aside (`others`), not scored. */
export function recordFromHistory(model: ServingModel, history: HistorySnapshot): UserRecord | null {
  const items: number[] = [];
  const strengths: number[] = [];
  const others: string[] = [];
  for (const h of history.items) {
    if (!(h.strength > 0)) continue;
    const index = model.ids.indexOf(h.itemId);
    if (index === undefined) others.push(h.itemId);
    else {
      items.push(index);
      strengths.push(h.strength);
    }
  }
  if (items.length === 0) return null;
  const vector = model.foldIn(items.map((index, j) => ({ index, strength: strengths[j] })));
  return { vector, items: Uint32Array.from(items), strengths: Float32Array.from(strengths), ...(others.length ? { others } : {}) };
}

/** Folds the history in and stores it (revision-ordered) as the user's embedding for the model. */
export async function embedHistory(
  model: ServingModel,
  who: UserIdentity,
  history: HistorySnapshot,
  store: HistoryStore,
): Promise<UserRecord | null> {
  const rec = recordFromHistory(model, history);
  // without the training history it should start from (a damaged shard), the record is served but
  // not stored: the next read seeds the history once the shard reads again (seedFromShard)
  if (rec && !history.seeded) return rec;
  if (rec) {
    // this isolate serves the new vector at once, whatever KV still holds — unless the user's object
    // refused it: made from a history the user has since had erased (an event racing the DELETE)
    const stored = await store.storeEmbedding(who.key, KV.embedding(model.version, who.key), history.revision, encodeUserRecord(rec));
    if (stored) recentUsers.set(model.version, who.key, rec, history.revision);
    else return null;
  }
  return rec;
}

/**
 * The user's trained record from a model's shards, or null. Kept in this isolate's record cache at
 * once; written through to KV (after the response) only when the model has more user shards than
 * an isolate keeps decoded: then the next visit reads one small KV value instead of a whole shard
 * from R2. When every shard fits (up to MAX_CACHED_SHARDS × 2,000 users), each isolate reads each
 * shard once and keeps it, so a KV write per user (billed at ten times a read) would buy nothing.
 */
async function shardRecord(store: UserStore, model: ServingModel, who: UserIdentity): Promise<UserRecord | null> {
  const hit = await model.shardUser(shardId(model, who));
  if (hit) cacheShardRecord(store, model.version, who.key, hit, { persist: !model.shardsFitCache });
  return hit;
}

/**
 * What the model learned about a user, as the seed of their edge history: their training items
 * and strengths ([] when the training data does not have them), or null while their shard is
 * damaged — then it is unknown, not absent.
 */
export async function trainingSeed(model: ServingModel, who: UserIdentity): Promise<{ itemId: string; strength: number }[] | null> {
  const trained = await model.shardUser(shardId(model, who));
  if (trained) return Array.from(trained.items, (i, j) => ({ itemId: model.ids.id(i), strength: trained.strengths[j] }));
  return model.shardDamaged(shardId(model, who)) ? null : [];
}

/**
 * A history that could not start from the user's training history (their shard was damaged when
 * their first event came): seeded now if the shard reads again, else as it is.
 */
export async function seedFromShard(
  store: HistoryStore,
  model: ServingModel,
  who: UserIdentity,
  history: HistorySnapshot,
): Promise<HistorySnapshot> {
  if (history.seeded) return history;
  const seed = await trainingSeed(model, who);
  return seed === null ? history : store.append(who.key, [], seed);
}

/**
 * The user as the model serves them, or null; `seen`, for a user with no record whose edge
 * history holds only products the model does not know yet (new catalogue items): their ids, so
 * the fallback list leaves them out as a record's history would be.
 */
export interface ResolvedUser {
  model: ServingModel;
  user: UserRecord | null;
  seen?: string[];
}

/**
 * The model and user vector to serve a user with:
 * 1. their embedding for the active version (cached here, or in KV: written at their last event);
 * 2. their edge history folded in under the active version (after a model switch: newer than any
 *    training snapshot, since it was seeded with the training history);
 * 3. their trained vector from the active artifact's shards;
 * 4. a kept previous version that knows them, in that version's own space — unless the request
 *    is pinned to a version (an experiment variant's model): a variant's answers come from its
 *    model only, so such a user is one that model does not know;
 * otherwise null (popular fallback). Forgotten users stop at 1–2, which they no longer have.
 */
export async function resolveUser(deps: UserDeps, who: UserIdentity): Promise<ResolvedUser> {
  const model = await deps.models.active();
  // the record and, unless it was cached here, both markers, in one KV read
  const visitor = await readVisitor(deps.store, model, who.key);
  if (visitor.from === 'isolate' || visitor.record) return { model, user: visitor.record };
  const { hasHistory, forgottenAt } = visitor.markers;
  let seen: string[] = [];
  if (hasHistory) {
    const stored = await deps.history.get(who.key);
    const history = stored && forgottenAt === null ? await seedFromShard(deps.history, model, who, stored) : stored;
    if (history) {
      const rec = recordFromHistory(model, history);
      if (rec) {
        deps.store.defer(embedHistory(model, who, history, deps.history).catch(() => undefined));
        return { model, user: rec };
      }
      seen = history.items.filter((h) => h.strength > 0).map((h) => h.itemId);
    }
  }
  const unseen = (found: ResolvedUser): ResolvedUser => (found.user === null && seen.length ? { ...found, seen } : found);
  if (forgottenAt !== null) return unseen({ model, user: null });
  const trained = await shardRecord(deps.store, model, who);
  if (trained || model.source.kind === 'bundled' || deps.pinnedVersion?.() !== undefined) return unseen({ model, user: trained });
  const pointer = await deps.models.pointer();
  for (const version of pointer?.previous ?? []) {
    try {
      // a big catalogue is not loaded beside another: its users get the popular fallback instead
      const prev = await deps.models.previous(version, model);
      if (!prev) continue;
      const found = (await readUserRecord(deps.store, prev, who.key)) ?? (await shardRecord(deps.store, prev, who));
      if (found) return { model: prev, user: found };
    } catch {
      // garbage-collected or unreadable: try the next one, then fall back
    }
  }
  return unseen({ model, user: null });
}
