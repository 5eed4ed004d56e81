/**
 * What is trending now: time-decayed popularity from live events, kept where every isolate's
 * events meet — one Durable Object (named "trending").
 *
 * Each item's score decays with a half-life (TRENDING_HALF_LIFE_SECONDS, default 24 h):
 *   score(t) = score(t₀)·2^(−(t − t₀)/H) + w·2^(−age/H)   at each counted event of weight w.
 * A user's repeated events on the same item count once per half-life, so one shopper reloading a
 * page does not make a trend and twenty shoppers viewing it do. The object keeps at most MAX_ITEMS
 * items (the lowest decayed scores go first) in memory and in its SQLite storage.
 * Cost: one object request per event batch (from the events route) and one per isolate per
 * TRENDING_CACHE_SECONDS of trending reads.
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
}

const MAX_ITEMS = 50_000;
const MAX_PAIRS = 200_000;

export class TrendingStore extends DurableObject<Env> {
  private readonly scores = new Map<string, { s: number; t: number }>();
  private readonly pairs = new Map<string, number>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const sql = ctx.storage.sql;
      sql.exec('CREATE TABLE IF NOT EXISTS trend (id TEXT PRIMARY KEY, s REAL NOT NULL, t INTEGER NOT NULL)');
      sql.exec('CREATE TABLE IF NOT EXISTS seen (pair TEXT PRIMARY KEY, t INTEGER NOT NULL)');
      for (const r of sql.exec<{ id: string; s: number; t: number }>('SELECT id, s, t FROM trend'))
        this.scores.set(r.id, { s: r.s, t: r.t });
      for (const r of sql.exec<{ pair: string; t: number }>('SELECT pair, t FROM seen')) this.pairs.set(r.pair, r.t);
    });
  }

  private decayed(v: { s: number; t: number }, now: number, halfLifeMs: number): number {
    return v.s * 2 ** (-(now - v.t) / halfLifeMs);
  }

  /** Counts a batch of events (each user–item pair once per half-life). */
  async record(events: TrendingEvent[], halfLifeSeconds: number, now: number): Promise<number> {
    const H = halfLifeSeconds * 1000;
    const sql = this.ctx.storage.sql;
    let counted = 0;
    this.ctx.storage.transactionSync(() => {
      for (const e of events) {
        const pair = `${e.userKey}|${e.itemId}`;
        const last = this.pairs.get(pair);
        if (last !== undefined && now - last < H) continue;
        this.pairs.set(pair, now);
        sql.exec('INSERT OR REPLACE INTO seen (pair, t) VALUES (?, ?)', pair, now);
        const cur = this.scores.get(e.itemId);
        // an event reported late (a client's batch, a backfill) counts as decayed as its age
        const s = (cur ? this.decayed(cur, now, H) : 0) + e.weight * 2 ** (-Math.max(0, now - e.at) / H);
        this.scores.set(e.itemId, { s, t: now });
        sql.exec('INSERT OR REPLACE INTO trend (id, s, t) VALUES (?, ?, ?)', e.itemId, s, now);
        counted++;
      }
      this.prune(now, H);
    });
    return counted;
  }

  private prune(now: number, H: number): void {
    const sql = this.ctx.storage.sql;
    if (this.scores.size > MAX_ITEMS) {
      const sorted = [...this.scores].sort((a, b) => this.decayed(a[1], now, H) - this.decayed(b[1], now, H));
      for (const [id] of sorted.slice(0, this.scores.size - MAX_ITEMS)) {
        this.scores.delete(id);
        sql.exec('DELETE FROM trend WHERE id = ?', id);
      }
    }
    if (this.pairs.size > MAX_PAIRS) {
      for (const [pair, t] of this.pairs) {
        if (now - t < H) continue;
        this.pairs.delete(pair);
        sql.exec('DELETE FROM seen WHERE pair = ?', pair);
      }
    }
  }

  /** The `n` highest decayed scores now, highest first. */
  async top(n: number, halfLifeSeconds: number, now: number): Promise<Trend[]> {
    const H = halfLifeSeconds * 1000;
    return [...this.scores]
      .map(([itemId, v]) => ({ itemId, score: this.decayed(v, now, H) }))
      .sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1))
      .slice(0, n);
  }
}

/** The trending store as services use it, with this isolate's short cache of the top list. */
export interface TrendingClient {
  record(events: TrendingEvent[], now: number): Promise<void>;
  top(now: number): Promise<Trend[]>;
}

/** Items of the top list an isolate fetches and caches. */
export const TRENDING_TOP = 500;

let cached: { at: number; list: Trend[] } | null = null;

export function trendingClient(
  ns: DurableObjectNamespace<TrendingStore>,
  settings: { halfLifeSeconds: number; cacheSeconds: number },
): TrendingClient {
  const stub = () => ns.get(ns.idFromName(DO.trending));
  return {
    async record(events, now) {
      if (events.length === 0) return;
      await stub().record(events, settings.halfLifeSeconds, now);
      cached = null; // this isolate reads its own events at once
    },
    async top(now) {
      if (!cached || now - cached.at >= settings.cacheSeconds * 1000)
        cached = { at: now, list: await stub().top(TRENDING_TOP, settings.halfLifeSeconds, now) };
      return cached.list;
    },
  };
}
