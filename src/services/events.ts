/**
 * Event ingestion: a batch of interactions becomes part of each user's history (their Durable
 * Object), their embedding for the active model is folded in again at once, and the accepted
 * events are queued in R2 for export to the next training run.
 */
import { parseTimestamp } from '@edge-recs/core/time';
import type { EventType } from '../config';
import { AppError } from '../errors';
import type { ExportRow } from '../storage/exports';
import { writeEventBatch } from '../storage/exports';
import type { UserIdentity } from '../storage/identity';
import type { TrendingClient } from '../storage/trending';
import { markHistory, readMarkers } from '../storage/user-records';
import { embedHistory, shardId, type UserDeps } from './users';

export interface EventInput {
  userId: string;
  itemId: string;
  type: EventType;
  /** ISO 8601 or epoch (see core/time.ts); default: when the batch is accepted */
  timestamp?: string | number;
}

export interface EventDeps extends UserDeps {
  bucket: R2Bucket;
  identify: (userId: string) => Promise<UserIdentity>;
  eventWeights: Record<EventType, number>;
  maxEventsPerBatch: number;
  exportWindowSeconds: number;
  /** time-decayed popularity, fed by every accepted event */
  trending: TrendingClient;
  /** whether the live catalogue holds an item (new products the model does not know yet) */
  inCatalog: (itemId: string) => Promise<boolean>;
}

export interface Rejected {
  index: number;
  itemId: string;
  reason: string;
}

/** How far in the future a client clock may be before an event's timestamp is refused. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

/**
 * Accepts the events the active model can use and rejects the others one by one with a reason;
 * a batch with nothing acceptable is an `invalid_request` and stores nothing.
 */
export async function ingestEvents(
  deps: EventDeps,
  list: readonly EventInput[],
  now: number,
): Promise<{ model: string; accepted: number; rejected: Rejected[] }> {
  if (list.length > deps.maxEventsPerBatch)
    throw new AppError('too_many_items', `the batch has ${list.length} events; the limit is ${deps.maxEventsPerBatch}`);
  const model = await deps.models.active();
  const rejected: Rejected[] = [];
  const times: number[] = [];
  // items the model does not know yet are accepted when the catalogue has them: they join the
  // history and the exports (so the next training learns them), though no fold-in can use them yet
  for (const [index, e] of list.entries()) {
    const at = e.timestamp === undefined ? now : parseTimestamp(e.timestamp);
    times.push(at);
    if (Number.isNaN(at) || at > now + CLOCK_SKEW_MS) {
      rejected.push({ index, itemId: e.itemId, reason: `timestamp ${JSON.stringify(e.timestamp)} is not a valid past time` });
    } else if (!model.ids.has(e.itemId) && !(await deps.inCatalog(e.itemId))) {
      rejected.push({ index, itemId: e.itemId, reason: `item ${e.itemId} is in neither model ${model.version} nor the catalogue` });
    }
  }
  const bad = new Set(rejected.map((r) => r.index));
  if (bad.size === list.length)
    throw new AppError('invalid_request', `no event was accepted: ${rejected.map((r) => `#${r.index} ${r.reason}`).join('; ')}`);

  const byUser = new Map<string, number[]>();
  list.forEach((e, index) => {
    if (!bad.has(index)) byUser.set(e.userId, [...(byUser.get(e.userId) ?? []), index]);
  });
  const rows: ExportRow[] = [];
  for (const [userId, indices] of byUser) {
    const who = await deps.identify(userId);
    // A known customer's first event starts from what the model learned about them.
    let seed: { itemId: string; strength: number }[] | undefined;
    const { hasHistory, forgottenAt } = await readMarkers(deps.store.kv, who.key);
    if (!hasHistory && forgottenAt === null) {
      const trained = await model.shardUser(shardId(model, who));
      if (trained) seed = Array.from(trained.items, (i, j) => ({ itemId: model.ids.id(i), strength: trained.strengths[j] }));
    }
    const incoming = indices.map((i) => ({
      itemId: list[i].itemId,
      strength: deps.eventWeights[list[i].type],
      at: times[i],
      type: list[i].type,
    }));
    const snapshot = await deps.history.append(who.key, incoming, seed);
    await embedHistory(model, who, snapshot, deps.history);
    if (!hasHistory) await markHistory(deps.store.kv, who.key);
    for (const i of indices)
      rows.push({ userKey: who.key, itemId: list[i].itemId, weight: deps.eventWeights[list[i].type], at: times[i], type: list[i].type });
  }
  await writeEventBatch(deps.bucket, rows, now, deps.exportWindowSeconds);
  await deps.trending.record(
    rows.map((r) => ({ itemId: r.itemId, userKey: r.userKey, weight: r.weight, at: r.at })),
    now,
  );
  return { model: model.version, accepted: rows.length, rejected };
}
