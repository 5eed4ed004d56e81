/**
 * Event ingestion: a batch of interactions becomes part of each user's history (their Durable
 * Object), their embedding for the model that serves them (the active one, or their experiment
 * variant's) is folded in again at once, the accepted events
 * are queued in R2 for export to the next training run, clicks, add-to-carts and purchases that
 * name an answer (recId) are attributed to it, and every new event feeds trending.
 *
 * Retries: the steps run in an order where a failure part-way (a 5xx) leaves a retry of the same
 * batch safe. Exports are written first (a retried event with an eventId is exported again under
 * the same event_id, and the trainer reads it once); the history then applies each eventId once
 * per user; attribution counts each (recId, item, type) once, so it runs for every event, new or
 * repeated; only new events reach trending. Events without an eventId cannot be recognised when
 * retried: clients that retry should send one.
 *
 * Attribution is tied to the shopper: an answer served to a signed-in user (a userId in the
 * request) counts only that user's events (compared by the keyed hash of the id, storage/metrics.ts);
 * another user's event naming its recId is reported as `notShown` — the answer was not shown to
 * them. An anonymous answer counts any user's events.
 */
import { CLOCK_SKEW_MS, parseTimestamp } from '@edge-recs/core/time';
import type { z } from 'zod';
import type { EventType } from '../config';
import { AppError, unknownItemMessage } from '../errors';
import type { ServingModel } from '../models/model';
import type { EventsResult } from '../schemas';
import type { ExportRow } from '../storage/exports';
import { writeEventBatch } from '../storage/exports';
import type { UserIdentity } from '../storage/identity';
import type { AttributedType, AttributionEvent, MetricsClient } from '../storage/metrics';
import type { TrendingClient } from '../storage/trending';
import { markHistory, readMarkers } from '../storage/user-records';
import { embedHistory, seedFromShard, trainingSeed, type UserDeps } from './users';

export interface EventInput {
  userId: string;
  itemId: string;
  type: EventType;
  /** ISO 8601 or epoch (see core/time.ts); default: when the batch is accepted */
  timestamp?: string | number;
  eventId?: string;
  recId?: string;
  position?: number;
  quantity?: number;
  price?: number;
  currency?: string;
}

export interface EventDeps extends UserDeps {
  bucket: R2Bucket;
  identify: (userId: string) => Promise<UserIdentity>;
  eventWeights: Record<EventType, number>;
  maxEventsPerBatch: number;
  exportWindowSeconds: number;
  /** time-decayed popularity, fed by every accepted event */
  trending: TrendingClient;
  /** the model that serves a user: the active one, or their experiment variant's */
  modelFor: (userId: string) => Promise<ServingModel>;
  /** whether the live catalogue holds an item (new products the model does not know yet) */
  inCatalog: (itemId: string) => Promise<boolean>;
  /** attribution counters */
  metrics: MetricsClient;
  /** an item's price as served (catalogue record, else the artifact), and its currency when known, for purchases that give none */
  priceOf: (itemId: string) => Promise<{ price: number; currency?: string } | undefined>;
  /** the currency revenue is counted in (null: prices are summed as given) */
  revenueCurrency: string | null;
}

/** What POST /v1/events answers (its schema is the one truth of the shape). */
export type IngestResult = z.infer<typeof EventsResult>;
export type Rejected = IngestResult['rejected'][number];

/**
 * Accepts the events the active model can use and rejects the others one by one with a reason;
 * a batch with nothing acceptable is an `invalid_request` and stores nothing.
 */
export async function ingestEvents(deps: EventDeps, list: readonly EventInput[], now: number): Promise<IngestResult> {
  if (list.length > deps.maxEventsPerBatch)
    throw new AppError('too_many_items', `the batch has ${list.length} events; the limit is ${deps.maxEventsPerBatch}`);
  const model = await deps.models.active();
  const modelOf = new Map<string, ServingModel>();
  for (const e of list) if (!modelOf.has(e.userId)) modelOf.set(e.userId, await deps.modelFor(e.userId));
  const rejected: Rejected[] = [];
  const times: number[] = [];
  // items the model does not know yet are accepted when the catalogue has them: they join the
  // history and the exports (so the next training learns them), though no fold-in can use them yet
  for (const [index, e] of list.entries()) {
    const at = e.timestamp === undefined ? now : parseTimestamp(e.timestamp);
    times.push(at);
    const reject = (reason: string) => rejected.push({ index, itemId: e.itemId, reason });
    if (Number.isNaN(at) || at > now + CLOCK_SKEW_MS) reject(`timestamp ${JSON.stringify(e.timestamp)} is not a valid past time`);
    else if (e.recId !== undefined && e.type === 'view')
      reject('a view carries no recId: attribution counts clicks, add-to-carts and purchases');
    else if (e.recId !== undefined && !deps.metrics.isRecId(e.recId)) reject(`recId ${e.recId} was not issued by this deployment`);
    else if ((e.quantity !== undefined || e.price !== undefined || e.currency !== undefined) && e.type !== 'purchase')
      reject('quantity, price and currency belong to purchases');
    else if (e.currency !== undefined && e.price === undefined) reject('currency names the currency of price: send it with price');
    else if (!(modelOf.get(e.userId) as ServingModel).ids.has(e.itemId) && !(await deps.inCatalog(e.itemId)))
      reject(unknownItemMessage(e.itemId, (modelOf.get(e.userId) as ServingModel).version));
  }
  const bad = new Set(rejected.map((r) => r.index));
  if (bad.size === list.length)
    throw new AppError('invalid_request', `no event was accepted: ${rejected.map((r) => `#${r.index} ${r.reason}`).join('; ')}`);

  const byUser = new Map<string, number[]>();
  list.forEach((e, index) => {
    if (!bad.has(index)) byUser.set(e.userId, [...(byUser.get(e.userId) ?? []), index]);
  });
  const who = new Map<string, UserIdentity>();
  for (const userId of byUser.keys()) who.set(userId, await deps.identify(userId));

  // 1. exports, the whole batch (a basket: one user's add-to-carts and purchases in it)
  const batch = crypto.randomUUID().replaceAll('-', '').slice(0, 16);
  const rows: ExportRow[] = [];
  for (const [userId, indices] of byUser) {
    const key = (who.get(userId) as UserIdentity).key;
    for (const i of indices) {
      const e = list[i];
      rows.push({
        userKey: key,
        itemId: e.itemId,
        weight: deps.eventWeights[e.type],
        at: times[i],
        type: e.type,
        ...(e.eventId !== undefined ? { eventId: e.eventId } : {}),
        ...(e.type === 'add_to_cart' || e.type === 'purchase' ? { sessionId: `${batch}-${key.slice(0, 8)}` } : {}),
      });
    }
  }
  await writeEventBatch(deps.bucket, rows, now, deps.exportWindowSeconds);

  // 2. histories and embeddings, each eventId once per user
  let duplicates = 0;
  const fresh: number[] = [];
  for (const [userId, indices] of byUser) {
    const user = who.get(userId) as UserIdentity;
    const model = modelOf.get(userId) as ServingModel;
    // A known customer's first event starts from what the model learned about them (null: their
    // shard is damaged right now, so that is unknown and a later read or event takes it)
    const { hasHistory, forgottenAt } = await readMarkers(deps.store.kv, user.key);
    const seed = !hasHistory && forgottenAt === null ? await trainingSeed(model, user) : undefined;
    const incoming = indices.map((i) => ({
      itemId: list[i].itemId,
      strength: deps.eventWeights[list[i].type],
      at: times[i],
      type: list[i].type,
      ...(list[i].eventId !== undefined ? { eventId: list[i].eventId } : {}),
    }));
    const appended = await deps.history.append(user.key, incoming, seed ?? undefined, seed === null);
    indices.forEach((i, j) => {
      if (appended.fresh[j]) fresh.push(i);
      else duplicates++;
    });
    // a history that still waits for its training history (the shard was damaged) takes it now if it reads again
    const result =
      !appended.seeded && forgottenAt === null
        ? { ...(await seedFromShard(deps.history, model, user, appended)), fresh: appended.fresh }
        : appended;
    if (result.fresh.some(Boolean) || result.revision !== appended.revision) await embedHistory(model, user, result, deps.history);
    if (!hasHistory) await markHistory(deps.store.kv, user.key);
  }

  // 3. attribution: every event naming an answer (counted once per (recId, item, type) by the counters)
  const attribution = { attributed: 0, duplicate: 0, notShown: 0, outsideWindow: 0, pending: 0, otherCurrency: 0 };
  const named = list.map((e, i) => ({ e, i })).filter(({ e, i }) => !bad.has(i) && e.recId !== undefined);
  if (named.length) {
    const events: AttributionEvent[] = [];
    /** purchases whose price is in another currency than REVENUE_CURRENCY: counted, with no revenue */
    const foreign = new Set<number>();
    for (const [j, { e, i }] of named.entries()) {
      const paid =
        e.type !== 'purchase' ? null : e.price !== undefined ? { price: e.price, currency: e.currency } : await deps.priceOf(e.itemId);
      const counted = !paid?.currency || deps.revenueCurrency === null || paid.currency === deps.revenueCurrency;
      if (paid && !counted) foreign.add(j);
      events.push({
        recId: e.recId as string,
        itemId: e.itemId,
        type: e.type as AttributedType,
        at: times[i],
        revenue: paid && counted ? paid.price * (e.quantity ?? 1) : 0,
        user: (who.get(e.userId) as UserIdentity).key,
      });
    }
    for (const [j, outcome] of (await deps.metrics.attribute(events, now)).entries()) {
      // counted, or to be counted when its answer is recorded: either way with no revenue
      if ((outcome === 'attributed' || outcome === 'pending') && foreign.has(j)) attribution.otherCurrency++;
      if (outcome === 'attributed') attribution.attributed++;
      else if (outcome === 'duplicate') attribution.duplicate++;
      // not_theirs: the answer was served to another signed-in user, so not shown to this one
      else if (outcome === 'not_shown' || outcome === 'not_theirs') attribution.notShown++;
      else if (outcome === 'outside_window') attribution.outsideWindow++;
      else attribution.pending++;
    }
  }

  // 4. trending: new events only; an approximate signal, so a failure here fails nothing else
  await deps.trending
    .record(
      fresh.map((i) => ({
        itemId: list[i].itemId,
        userKey: (who.get(list[i].userId) as UserIdentity).key,
        weight: deps.eventWeights[list[i].type],
        at: times[i],
      })),
      now,
    )
    .catch((err) => console.error(`trending not updated: ${err instanceof Error ? err.message : String(err)}`));
  return { model: model.version, accepted: list.length - bad.size, duplicates, rejected, attribution };
}
