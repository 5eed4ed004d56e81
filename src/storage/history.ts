/**
 * Per-user interaction history in a Durable Object — the serialisation point that makes racing
 * events for one user safe.
 *
 * Why a Durable Object: KV is last-write-wins and eventually consistent, so two events for the
 * same user handled at once (two tabs, two locations) would each read the old history and one
 * write would drop the other's event. A Durable Object per user (named by the user's keyed hash)
 * runs one request at a time with strongly consistent storage, so every append sees the previous
 * one. It also orders the writes of the user's embedding to KV by history revision, so the KV
 * value always ends at the newest history even when the fold-ins finish out of order.
 * Cost: one Durable Object request per event batch and user (billed per request and GB-s), and
 * the first request of a user pays the round trip to wherever the object lives; reads of
 * recommendations do not touch it unless the user's embedding for the active model is missing.
 */
import { DurableObject } from 'cloudflare:workers';

export interface HistoryEntry {
  itemId: string;
  /** accumulated interaction strength */
  strength: number;
  /** last interaction, ms since epoch */
  lastAt: number;
  /** the type of the last interaction (view, add_to_cart, purchase; absent for the training history) */
  lastType?: string;
  /** last view or click (the product page seen), ms since epoch; 0 when the item was only carted or bought */
  lastViewedAt: number;
}

export interface HistorySnapshot {
  /** increases with every change */
  revision: number;
  items: HistoryEntry[];
  /** false while the user's training history could not be read to start from (a damaged shard) */
  seeded: boolean;
}

export interface IncomingEvent {
  itemId: string;
  strength: number;
  at: number;
  type?: string;
  /** the client's event id: an id seen before (within SEEN_EVENT_IDS) is not applied again */
  eventId?: string;
}

/** What an append did: the history after it, and which events were new (not a repeated eventId). */
export interface AppendResult extends HistorySnapshot {
  fresh: boolean[];
}

/** Event types that show the shopper the product page: what "recently viewed" lists. */
const VIEWED = new Set(['view', 'click']);

/** A stored entry's last view (0: none); entries stored before views had their own time: the last interaction, if it was one. */
const viewedAt = (e: { t: number; y?: string; v?: number }): number => e.v ?? (VIEWED.has(e.y ?? '') ? e.t : 0);

/** Event ids remembered per user (the newest), so a retried batch is recognised. */
export const SEEN_EVENT_IDS = 1000;

/** Most distinct items kept per user; the least recently touched go first. */
export const MAX_HISTORY_ITEMS = 500;

interface Stored {
  revision: number;
  /** s: strength, t: last interaction, y: its type, v: last view or click (absent: none recorded) */
  items: Record<string, { s: number; t: number; y?: string; v?: number }>;
  seeded: boolean;
  /** event ids applied, oldest first */
  ids?: string[];
  /**
   * Set by forget(): the first revision after the erasure. Anything made from an earlier revision
   * (an embedding folded in by an event that raced the DELETE) is refused, and the training
   * history is never seeded again (`seeded` stays true): events after a DELETE are a new consent,
   * what was known before is not.
   */
  forgottenFrom?: number;
}

export class UserHistory extends DurableObject<Env> {
  private async load(): Promise<Stored> {
    return (await this.ctx.storage.get<Stored>('h')) ?? { revision: 0, items: {}, seeded: false };
  }

  private snapshot(h: Stored): HistorySnapshot {
    return {
      revision: h.revision,
      seeded: h.seeded,
      items: Object.entries(h.items).map(([itemId, v]) => ({
        itemId,
        strength: v.s,
        lastAt: v.t,
        ...(v.y ? { lastType: v.y } : {}),
        lastViewedAt: viewedAt(v),
      })),
    };
  }

  /**
   * Appends events (de-duplicated by item, strengths accumulated). `seed` is the user's training
   * history, merged once so a known customer's first event adds to what the model knew.
   */
  async append(events: IncomingEvent[], seed?: { itemId: string; strength: number }[], seedPending = false): Promise<AppendResult> {
    const h = await this.load();
    const seeding = !h.seeded && seed !== undefined;
    if (seeding) for (const s of seed) h.items[s.itemId] = { s: (h.items[s.itemId]?.s ?? 0) + s.strength, t: 0 };
    // the training history could not be read (a damaged shard): the next append may still seed it
    if (seed || !seedPending) h.seeded = true;
    const seen = new Set(h.ids ?? []);
    const fresh = events.map((e) => {
      if (e.eventId === undefined) return true;
      if (seen.has(e.eventId)) return false;
      seen.add(e.eventId);
      return true;
    });
    const ids = [...seen];
    if (ids.length) h.ids = ids.slice(-SEEN_EVENT_IDS);
    if (!fresh.some(Boolean) && !seeding) return { ...this.snapshot(h), fresh };
    for (const [j, e] of events.entries()) {
      if (!fresh[j]) continue;
      const cur = h.items[e.itemId];
      const latest = e.at >= (cur?.t ?? 0);
      const viewed = Math.max(cur ? viewedAt(cur) : 0, VIEWED.has(e.type ?? '') ? e.at : 0);
      h.items[e.itemId] = {
        s: (cur?.s ?? 0) + e.strength,
        t: Math.max(cur?.t ?? 0, e.at),
        ...(latest ? (e.type ? { y: e.type } : {}) : cur?.y ? { y: cur.y } : {}),
        ...(viewed > 0 ? { v: viewed } : {}),
      };
    }
    const itemIds = Object.keys(h.items);
    if (itemIds.length > MAX_HISTORY_ITEMS) {
      itemIds.sort((a, b) => h.items[a].t - h.items[b].t);
      for (const id of itemIds.slice(0, itemIds.length - MAX_HISTORY_ITEMS)) delete h.items[id];
    }
    h.revision++;
    await this.ctx.storage.put('h', h);
    return { ...this.snapshot(h), fresh };
  }

  async history(): Promise<HistorySnapshot | null> {
    const h = await this.ctx.storage.get<Stored>('h');
    // a forgotten user's tombstone is no history
    return h && !(h.forgottenFrom !== undefined && Object.keys(h.items).length === 0) ? this.snapshot(h) : null;
  }

  /** newest embedding per KV key not yet written, and the single writer draining them */
  private pending = new Map<string, { revision: number; value: string; ttl: number }>();
  private writing: Promise<void> | null = null;

  /**
   * Writes the user's embedding for a model version to KV unless a newer revision already did.
   * A Durable Object does not hold other requests while it waits on KV, so two calls could
   * otherwise overlap and the older value land last; instead the newest pending value per key is
   * written by one writer, in order, and callers return once it is written. Returns whether this
   * revision was newer than anything written or queued.
   */
  async storeEmbedding(key: string, revision: number, value: string, ttlSeconds: number): Promise<boolean> {
    const forgottenFrom = (await this.ctx.storage.get<Stored>('h'))?.forgottenFrom ?? 0;
    if (revision < forgottenFrom) return false;
    const written = (await this.ctx.storage.get<number>(`w:${key}`)) ?? -1;
    const queued = this.pending.get(key)?.revision ?? -1;
    if (revision <= written || revision <= queued) return false;
    this.pending.set(key, { revision, value, ttl: ttlSeconds });
    while (this.pending.size) {
      this.writing ??= this.flush().finally(() => {
        this.writing = null;
      });
      await this.writing;
    }
    return true;
  }

  private async flush(): Promise<void> {
    for (const [key, next] of this.pending) {
      this.pending.delete(key);
      await this.env.RECS_KV.put(key, next.value, { expirationTtl: next.ttl });
      await this.ctx.storage.put(`w:${key}`, next.revision);
    }
  }

  /**
   * Erases everything this object holds about the user, leaving a tombstone with no personal data
   * (a revision number): an event or embedding write racing the DELETE must not bring the
   * training history or an earlier vector back (see Stored.forgottenFrom).
   */
  async forget(): Promise<void> {
    const revision = ((await this.ctx.storage.get<Stored>('h'))?.revision ?? 0) + 1;
    // a write queued before the erasure is dropped with it
    this.pending.clear();
    await this.ctx.storage.deleteAll();
    await this.ctx.storage.put('h', { revision, items: {}, seeded: true, forgottenFrom: revision } satisfies Stored);
  }
}

/** The user histories as services use them: one Durable Object per user key. */
export interface HistoryStore {
  get(userKey: string): Promise<HistorySnapshot | null>;
  /**
   * appends events (and, on the first ever append, the user's training history as `seed`);
   * `seedPending`: the training history could not be read now, so a later append may still seed it
   */
  append(
    userKey: string,
    events: IncomingEvent[],
    seed?: { itemId: string; strength: number }[],
    seedPending?: boolean,
  ): Promise<AppendResult>;
  /**
   * KV write of an embedding, ordered by history revision inside the user's object; false when it
   * was not written (a newer revision was, or the user was forgotten after this revision)
   */
  storeEmbedding(userKey: string, kvKey: string, revision: number, value: string): Promise<boolean>;
  forget(userKey: string): Promise<void>;
}

export function historyStore(ns: DurableObjectNamespace<UserHistory>, embeddingTtlSeconds: number): HistoryStore {
  const stub = (userKey: string) => ns.get(ns.idFromName(userKey));
  return {
    get: (userKey) => stub(userKey).history(),
    append: (userKey, events, seed, seedPending) => stub(userKey).append(events, seed, seedPending),
    storeEmbedding: (userKey, kvKey, revision, value) => stub(userKey).storeEmbedding(kvKey, revision, value, embeddingTtlSeconds),
    forget: (userKey) => stub(userKey).forget(),
  };
}
