/**
 * What is trending now: time-decayed popularity from live events, kept where every isolate's
 * events meet — one Durable Object (named "trending").
 *
 * Each item carries two decayed sums with a half-life H (TRENDING_HALF_LIFE_SECONDS, default 24 h),
 * both updated at each counted event:
 *   score(t)    = score(t₀)·2^(−(t − t₀)/H)    + w·2^(−age/H)   (w: the event type's weight)
 *   shoppers(t) = shoppers(t₀)·2^(−(t − t₀)/H) + 2^(−age/H)     (once per shopper and half-life)
 * A shopper's events on an item count once per half-life of the events' own times (a batch sent
 * late does not shut out today's events), at the strongest type seen (a view,
 * then a purchase, adds the difference), so one shopper reloading a page does not make a trend
 * and twenty shoppers viewing an item do. An item is listed only while its decayed shopper count
 * is at least TRENDING_MIN_SHOPPERS·2^(−1/4) — that many different shoppers within the last
 * quarter half-life (6 h by default), or more of them spread further back — so a single view,
 * or a burst of events days ago, never outranks the model's popularity that fills the list.
 *
 * Forgetting a shopper (DELETE /v1/users/{id}) takes their share out again: each shopper–item
 * pair keeps what it added to both sums (decayed like them), so `forget` subtracts it and deletes
 * the pairs; an item pruned from the sums takes its pairs along. Pairs are kept
 * RETAIN_HALF_LIVES half-lives after their last count (8: what is older has decayed below 2⁻⁸ of
 * one event and is dropped, with the pair). The shopper's key and the time are remembered as
 * long, so an event of theirs from before the deletion that arrives after it (a request in
 * flight while the DELETE ran) is not counted; later events (a new consent) are.
 *
 * Memory and limits: scores of at most MAX_ITEMS items are held in memory (the lowest decayed
 * scores go first, pruned to 90% so a full store does not sort on every batch); the shopper–item
 * pairs live only in SQLite (one indexed lookup per event; old pairs deleted at most every
 * PRUNE_EVERY_MS), so a busy shop's millions of daily pairs cost storage, not the object's
 * 128 MB. Cost: one object request per event batch (from the events route), one per isolate per
 * TRENDING_CACHE_SECONDS of trending reads, and one per forgotten user.
 */
import { DurableObject } from 'cloudflare:workers';
import { DO } from './keys';

export interface TrendingEvent {
  itemId: string;
  userKey: string;
  weight: number;
  /** ms */
  at: number;
}

export interface Trend {
  itemId: string;
  /** decayed score at the time asked */
  score: number;
  /** decayed number of different shoppers at the time asked */
  shoppers: number;
}

/** What the store's answers depend on (from config). */
export interface TrendingSettings {
  halfLifeSeconds: number;
  /** shoppers within a quarter half-life an item needs before it is listed */
  minShoppers: number;
}

const MAX_ITEMS = 50_000;
const PRUNE_EVERY_MS = 10 * 60_000;
/** how long a pair's contribution is kept for `forget`, in half-lives since it last changed */
export const RETAIN_HALF_LIVES = 8;

/** The decayed shopper count `minShoppers` shoppers reach within a quarter half-life. */
export const shopperGate = (minShoppers: number): number => minShoppers * 2 ** -0.25;

interface ItemSums {
  s: number;
  n: number;
  /** ms: when both sums were last brought up to date */
  t: number;
}

export class TrendingStore extends DurableObject<Env> {
  private readonly items = new Map<string, ItemSums>();
  private lastPairPrune = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const sql = ctx.storage.sql;
      // older tables (score only; pairs without their contributions) are replaced, not migrated:
      // trending is a signal of the last hours and rebuilds from new events
      sql.exec('DROP TABLE IF EXISTS trend');
      sql.exec('DROP TABLE IF EXISTS seen');
      sql.exec('DROP TABLE IF EXISTS trend_pairs');
      sql.exec('DROP TABLE IF EXISTS trend_items');
      sql.exec('CREATE TABLE IF NOT EXISTS trend_item_sums (id TEXT PRIMARY KEY, s REAL NOT NULL, n REAL NOT NULL, t INTEGER NOT NULL)');
      // per shopper and item: t, the event time that opened its half-life window; w, the weight counted in it; cs, cn, what
      // the pair added to the item's two sums, decayed to ct (ms). Indexed by item too, so an item
      // pruned from the sums takes its pairs along (a share no sum holds must not be subtracted).
      sql.exec(
        'CREATE TABLE IF NOT EXISTS trend_shopper_items (user TEXT NOT NULL, item TEXT NOT NULL, t INTEGER NOT NULL, w REAL NOT NULL, cs REAL NOT NULL, cn REAL NOT NULL, ct INTEGER NOT NULL, PRIMARY KEY (user, item))',
      );
      sql.exec('CREATE INDEX IF NOT EXISTS trend_shopper_items_item ON trend_shopper_items (item)');
      sql.exec('CREATE INDEX IF NOT EXISTS trend_shopper_items_ct ON trend_shopper_items (ct)');
      // shoppers forgotten (key → when): an event of theirs from before that, still in flight, is not counted
      sql.exec('CREATE TABLE IF NOT EXISTS trend_forgotten (key TEXT PRIMARY KEY, t INTEGER NOT NULL)');
      for (const r of sql.exec<{ id: string; s: number; n: number; t: number }>('SELECT id, s, n, t FROM trend_item_sums'))
        this.items.set(r.id, { s: r.s, n: r.n, t: r.t });
    });
  }

  /** Both sums of an item decayed to `now`. */
  private at(v: ItemSums | undefined, now: number, H: number): ItemSums {
    if (!v) return { s: 0, n: 0, t: now };
    const f = 2 ** (-(now - v.t) / H);
    return { s: v.s * f, n: v.n * f, t: now };
  }

  /** Counts a batch of events (each shopper–item pair once per half-life, at its strongest weight). */
  async record(events: TrendingEvent[], halfLifeSeconds: number, now: number): Promise<number> {
    const H = halfLifeSeconds * 1000;
    const sql = this.ctx.storage.sql;
    let counted = 0;
    const forgottenAt = new Map<string, number>();
    this.ctx.storage.transactionSync(() => {
      for (const e of events) {
        if (!forgottenAt.has(e.userKey)) {
          const [f] = sql.exec<{ t: number }>('SELECT t FROM trend_forgotten WHERE key = ?', e.userKey).toArray();
          forgottenAt.set(e.userKey, f?.t ?? Number.NEGATIVE_INFINITY);
        }
        // sent before the shopper was forgotten (a request in flight while the DELETE ran): theirs no more
        if (e.at <= (forgottenAt.get(e.userKey) as number)) continue;
        const [last] = sql
          .exec<{ t: number; w: number; cs: number; cn: number; ct: number }>(
            'SELECT t, w, cs, cn, ct FROM trend_shopper_items WHERE user = ? AND item = ?',
            e.userKey,
            e.itemId,
          )
          .toArray();
        // half-lives are of the events' own times, not of their arrival: a shopper's views sent late
        // (a client's batch, a backfill) must not shut out their views of today
        const at = Math.min(e.at, now);
        const fresh = !last || Math.abs(at - last.t) >= H;
        // a half-life or more before the pair's window: counted in its own, earlier one; the window stays
        const earlier = fresh && last !== undefined && at < last.t;
        // within the half-life only a stronger event than the one counted adds (the difference)
        const add = fresh ? e.weight : e.weight - last.w;
        if (add <= 0) continue;
        // an event reported late counts as decayed as its age
        const age = 2 ** (-(now - at) / H);
        const addS = add * age,
          addN = fresh ? age : 0;
        const kept = last ? 2 ** (-(now - last.ct) / H) : 0;
        sql.exec(
          'INSERT OR REPLACE INTO trend_shopper_items (user, item, t, w, cs, cn, ct) VALUES (?, ?, ?, ?, ?, ?, ?)',
          e.userKey,
          e.itemId,
          earlier || !fresh ? last.t : at,
          earlier ? last.w : e.weight,
          (last?.cs ?? 0) * kept + addS,
          (last?.cn ?? 0) * kept + addN,
          now,
        );
        const cur = this.at(this.items.get(e.itemId), now, H);
        this.put(e.itemId, { s: cur.s + addS, n: cur.n + addN, t: now });
        counted++;
      }
      this.prune(now, H);
    });
    return counted;
  }

  private prune(now: number, H: number): void {
    const sql = this.ctx.storage.sql;
    if (this.items.size > MAX_ITEMS) {
      const keep = Math.floor(MAX_ITEMS * 0.9);
      const sorted = [...this.items].sort((a, b) => this.at(a[1], now, H).s - this.at(b[1], now, H).s);
      for (const [id] of sorted.slice(0, this.items.size - keep)) {
        this.items.delete(id);
        sql.exec('DELETE FROM trend_item_sums WHERE id = ?', id);
        sql.exec('DELETE FROM trend_shopper_items WHERE item = ?', id);
      }
    }
    if (now - this.lastPairPrune >= PRUNE_EVERY_MS) {
      this.lastPairPrune = now;
      sql.exec('DELETE FROM trend_shopper_items WHERE ct <= ?', now - RETAIN_HALF_LIVES * H);
      sql.exec('DELETE FROM trend_forgotten WHERE t <= ?', now - RETAIN_HALF_LIVES * H);
    }
  }

  private put(itemId: string, v: ItemSums): void {
    this.items.set(itemId, v);
    this.ctx.storage.sql.exec('INSERT OR REPLACE INTO trend_item_sums (id, s, n, t) VALUES (?, ?, ?, ?)', itemId, v.s, v.n, v.t);
  }

  /**
   * Takes a shopper's contributions out of every item's sums and deletes their pairs.
   * @returns  how many items they had touched
   */
  async forget(userKey: string, halfLifeSeconds: number, now: number): Promise<number> {
    const H = halfLifeSeconds * 1000;
    const sql = this.ctx.storage.sql;
    let touched = 0;
    this.ctx.storage.transactionSync(() => {
      const rows = sql
        .exec<{ item: string; cs: number; cn: number; ct: number }>(
          'SELECT item, cs, cn, ct FROM trend_shopper_items WHERE user = ?',
          userKey,
        )
        .toArray();
      for (const r of rows) {
        const v = this.items.get(r.item);
        if (v) {
          const cur = this.at(v, now, H);
          const f = 2 ** (-(now - r.ct) / H);
          // rounding may leave a hair below zero: a sum of non-negative shares never is
          this.put(r.item, { s: Math.max(0, cur.s - r.cs * f), n: Math.max(0, cur.n - r.cn * f), t: now });
        }
        touched++;
      }
      sql.exec('DELETE FROM trend_shopper_items WHERE user = ?', userKey);
      sql.exec('INSERT OR REPLACE INTO trend_forgotten (key, t) VALUES (?, ?)', userKey, now);
    });
    return touched;
  }

  /**
   * The `n` highest decayed scores now among items with enough shoppers (`shopperGate`),
   * highest first.
   */
  async top(n: number, settings: TrendingSettings, now: number): Promise<Trend[]> {
    const H = settings.halfLifeSeconds * 1000;
    const gate = shopperGate(settings.minShoppers);
    const out: Trend[] = [];
    for (const [itemId, v] of this.items) {
      const d = this.at(v, now, H);
      if (d.n >= gate) out.push({ itemId, score: d.s, shoppers: d.n });
    }
    return out.sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1)).slice(0, n);
  }
}

/** The trending store as services use it, with this isolate's short cache of the top list. */
export interface TrendingClient {
  record(events: TrendingEvent[], now: number): Promise<void>;
  top(now: number): Promise<Trend[]>;
  /** takes a forgotten shopper's share out of trending (this isolate sees it at once) */
  forget(userKey: string, now: number): Promise<void>;
}

/** Items of the top list an isolate fetches and caches. */
export const TRENDING_TOP = 500;

let cached: { at: number; list: Trend[] } | null = null;

export function trendingClient(
  ns: DurableObjectNamespace<TrendingStore>,
  settings: TrendingSettings & { cacheSeconds: number },
): TrendingClient {
  const stub = () => ns.get(ns.idFromName(DO.trending));
  return {
    async record(events, now) {
      if (events.length === 0) return;
      await stub().record(events, settings.halfLifeSeconds, now);
      cached = null; // this isolate reads its own events at once
    },
    async forget(userKey, now) {
      await stub().forget(userKey, settings.halfLifeSeconds, now);
      cached = null;
    },
    async top(now) {
      if (!cached || now - cached.at >= settings.cacheSeconds * 1000)
        cached = { at: now, list: await stub().top(TRENDING_TOP, settings, now) };
      return cached.list;
    },
  };
}
