/**
 * What recommendations earn, counted where every request and event meets: Durable Objects with
 * SQLite storage ("metrics-0" … "metrics-<METRICS_SHARDS−1>").
 *
 * Why Durable Objects: attribution needs, per answer, the list that was shown and which
 * (answer, item, type) were already counted — a read-check-write that must be atomic for a
 * retried event not to count twice. A Durable Object runs one request at a time over strongly
 * consistent storage, so the check and the increment are one transaction. KV (last write wins,
 * eventually consistent) cannot do it; D1 could, but is one database per region with a single
 * writer and no per-key routing; Workers Analytics Engine samples and cannot de-duplicate.
 * Sharding: an answer's recId names its shard, so the answer and every event about it meet in the
 * same object; request statistics go to a random shard; reports sum over all shards.
 *
 * Per shard:
 *   recs     the answers of the last attribution window: dimensions, items shown, the keyed hash of
 *            the signed-in user it was served to (`subject`; NULL for an anonymous answer), and per
 *            answer clicks and revenue so far (for Σx² of clicks and revenue per answer)
 *   seen     (recId, item, type) already counted
 *   waiting  events that arrived before their answer was recorded (it is written after the
 *            response), with their user's keyed hash: applied when it arrives, dropped after WAITING_MS
 *   counts   per hour × placement × model version × experiment × variant
 *   traffic  per hour × route × status class: requests, and a latency histogram
 * An alarm prunes answers past the window, waiting events past WAITING_MS, and counts past the
 * retention.
 *
 * An answer served to a signed-in user (a userId in the request) counts only that user's events:
 * another user's event naming its recId is `not_theirs` (the shop sent a recId it showed someone
 * else). An anonymous answer (a session basket, popular items without a userId) counts any user's
 * events — the shopper may sign in after seeing it. Users are compared by the keyed hash of their
 * id (storage/identity.ts), never the raw id. Answers recorded before the column existed, and
 * events that waited from then, have no user: they accept anyone.
 *
 * Tables are created as they first were, then MIGRATIONS bring them up to date: `meta` keeps how
 * many ran, so an object's existing rows are kept when the Worker that uses it changes.
 */
import { DurableObject } from 'cloudflare:workers';
import { toHex } from '@edge-recs/core/bytes';
import { CLOCK_SKEW_MS, HOUR_MS, MINUTE_MS } from '@edge-recs/core/time';
import { REC_ID_PATTERN } from '../schemas';
import { DO } from './keys';

export type AttributedType = 'click' | 'add_to_cart' | 'purchase';

/** The dimensions counts are kept by. */
export interface CountKey {
  /** the placement the client asked for ('' = none) */
  placement: string;
  version: string;
  /** '' outside an experiment */
  experiment: string;
  variant: string;
}

export interface AnswerRecord extends CountKey {
  recId: string;
  /** ms */
  at: number;
  /** item ids in the order shown */
  items: string[];
  /**
   * The keyed hash (identify().key) of the signed-in user the answer was served to: only their
   * events count for it. Absent for an anonymous answer, which counts any user's events.
   */
  user?: string;
}

export interface RequestRecord {
  /** the route pattern, e.g. "GET /v1/users/:userId/recommendations" */
  route: string;
  status: number;
  latencyMs: number;
  at: number;
}

export interface AttributionEvent {
  recId: string;
  itemId: string;
  type: AttributedType;
  /** ms (the event's own time) */
  at: number;
  /** revenue of a purchase: unit price × quantity (0 for other types) */
  revenue: number;
  /** the keyed hash (identify().key) of the event's user; absent: not known (accepted by any answer) */
  user?: string;
}

/** `not_theirs`: the answer was served to another signed-in user. */
export type AttributionOutcome = 'attributed' | 'duplicate' | 'not_shown' | 'not_theirs' | 'outside_window' | 'pending';

export interface CountRow extends CountKey {
  hour: number;
  answers: number;
  itemsShown: number;
  clicks: number;
  clicksSq: number;
  answersClicked: number;
  addToCarts: number;
  purchases: number;
  answersPurchased: number;
  revenue: number;
  revenueSq: number;
}

export interface TrafficRow {
  hour: number;
  route: string;
  /** 2, 3, 4 or 5 */
  statusClass: number;
  requests: number;
  /** requests per latency bucket (LATENCY_BUCKETS) */
  latency: number[];
}

export interface MetricsSettings {
  attributionWindowMs: number;
  retentionDays: number;
}

/** An event may arrive this long before its answer is recorded (the answer is written after the response). */
export const WAITING_MS = 10 * MINUTE_MS;

/** When an answer was served, from its recId (`<shard>_<12 hex of ms time><20 hex>`, as newRecId makes them). */
export const recIdTime = (recId: string): number => Number.parseInt(recId.slice(recId.indexOf('_') + 1, recId.indexOf('_') + 13), 16);

/**
 * Latency buckets: upper bounds in ms, a quarter-octave apart from 1 ms to ~65 s (then one
 * overflow bucket), so a percentile read from the histogram is within 19% of the true value.
 */
export const LATENCY_BUCKETS: number[] = Array.from({ length: 65 }, (_, b) => 2 ** (b / 4));
export function latencyBucket(ms: number): number {
  if (!(ms > 1)) return 0;
  return Math.min(LATENCY_BUCKETS.length, Math.ceil(4 * Math.log2(ms)));
}

const COUNT_COLUMNS = [
  'answers',
  'items_shown',
  'clicks',
  'clicks_sq',
  'answers_clicked',
  'add_to_carts',
  'purchases',
  'answers_purchased',
  'revenue',
  'revenue_sq',
] as const;
type CountColumn = (typeof COUNT_COLUMNS)[number];
/**
 * Schema changes after the tables' first form, in order; `meta` row 'schema' holds how many an
 * object has applied. Each runs once per object, in one transaction with that count.
 */
const MIGRATIONS: readonly (readonly string[])[] = [
  // 1. the user an answer was served to (NULL: anyone's events count), and the user of an event
  //    waiting for its answer ('' = not known), part of its key: two users' events about the same
  //    item of the same answer both wait, and the one of the user it was served to counts
  [
    'ALTER TABLE recs ADD COLUMN subject TEXT',
    `CREATE TABLE waiting_v1 (rec TEXT NOT NULL, item TEXT NOT NULL, type TEXT NOT NULL, at INTEGER NOT NULL,
      revenue REAL NOT NULL, received INTEGER NOT NULL, subject TEXT NOT NULL DEFAULT '', PRIMARY KEY (rec, item, type, subject))`,
    "INSERT INTO waiting_v1 (rec, item, type, at, revenue, received, subject) SELECT rec, item, type, at, revenue, received, '' FROM waiting",
    'DROP TABLE waiting',
    'ALTER TABLE waiting_v1 RENAME TO waiting',
  ],
];

const ADD_COUNTS = `INSERT INTO counts (hour, placement, version, experiment, variant, ${COUNT_COLUMNS.join(', ')})
  VALUES (?, ?, ?, ?, ?, ${COUNT_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (hour, placement, version, experiment, variant) DO UPDATE SET ${COUNT_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`;

export class MetricsStore extends DurableObject<Env> {
  private settings: MetricsSettings = { attributionWindowMs: 24 * HOUR_MS, retentionDays: 90 };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS recs (id TEXT PRIMARY KEY, at INTEGER NOT NULL, hour INTEGER NOT NULL,
      placement TEXT NOT NULL, version TEXT NOT NULL, experiment TEXT NOT NULL, variant TEXT NOT NULL,
      items TEXT NOT NULL, clicks INTEGER NOT NULL DEFAULT 0, revenue REAL NOT NULL DEFAULT 0, purchased INTEGER NOT NULL DEFAULT 0)`);
    sql.exec('CREATE INDEX IF NOT EXISTS recs_at ON recs (at)');
    sql.exec('CREATE TABLE IF NOT EXISTS seen (rec TEXT NOT NULL, item TEXT NOT NULL, type TEXT NOT NULL, PRIMARY KEY (rec, item, type))');
    sql.exec(`CREATE TABLE IF NOT EXISTS waiting (rec TEXT NOT NULL, item TEXT NOT NULL, type TEXT NOT NULL, at INTEGER NOT NULL,
      revenue REAL NOT NULL, received INTEGER NOT NULL, PRIMARY KEY (rec, item, type))`);
    sql.exec(`CREATE TABLE IF NOT EXISTS counts (hour INTEGER NOT NULL, placement TEXT NOT NULL, version TEXT NOT NULL,
      experiment TEXT NOT NULL, variant TEXT NOT NULL, ${COUNT_COLUMNS.map((c) => `${c} REAL NOT NULL DEFAULT 0`).join(', ')},
      PRIMARY KEY (hour, placement, version, experiment, variant))`);
    sql.exec(`CREATE TABLE IF NOT EXISTS traffic (hour INTEGER NOT NULL, route TEXT NOT NULL, status INTEGER NOT NULL,
      requests INTEGER NOT NULL, latency TEXT NOT NULL, PRIMARY KEY (hour, route, status))`);
    sql.exec('CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
    const applied = Number(sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'schema'").toArray()[0]?.v ?? 0);
    if (applied < MIGRATIONS.length)
      ctx.storage.transactionSync(() => {
        for (const step of MIGRATIONS.slice(applied)) for (const statement of step) sql.exec(statement);
        sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('schema', ?)", String(MIGRATIONS.length));
      });
    const saved = sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'settings'").toArray()[0];
    if (saved) this.settings = JSON.parse(saved.v) as MetricsSettings;
  }

  /** The settings come with every call; they are kept for the alarm, which runs without one. */
  private configure(s: MetricsSettings): void {
    if (s.attributionWindowMs === this.settings.attributionWindowMs && s.retentionDays === this.settings.retentionDays) return;
    this.settings = s;
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('settings', ?)", JSON.stringify(s));
  }

  private async ensureAlarm(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + HOUR_MS);
  }

  /**
   * Adds to one count row. One constant statement for every call (zeros for the columns not
   * given): SQLite storage caches prepared statements by their text, and a statement built per
   * column set was prepared anew on every answer.
   */
  private add(key: CountKey & { hour: number }, deltas: Partial<Record<CountColumn, number>>): void {
    this.ctx.storage.sql.exec(
      ADD_COUNTS,
      key.hour,
      key.placement,
      key.version,
      key.experiment,
      key.variant,
      ...COUNT_COLUMNS.map((c) => deltas[c] ?? 0),
    );
  }

  /**
   * Records a batch of requests (traffic and latency) and answers (each counted once: a repeated
   * recId is ignored), then applies any events that were waiting for those answers.
   */
  async record(requests: RequestRecord[], answers: AnswerRecord[], settings: MetricsSettings): Promise<void> {
    this.configure(settings);
    const sql = this.ctx.storage.sql;
    // requests folded per (hour, route, status class) first: one row update each
    const traffic = new Map<string, { hour: number; route: string; status: number; n: number; hist: number[] }>();
    for (const r of requests) {
      const hour = Math.floor(r.at / HOUR_MS);
      const status = Math.floor(r.status / 100);
      const key = `${hour}|${status}|${r.route}`;
      const t = traffic.get(key) ?? { hour, route: r.route, status, n: 0, hist: [] };
      traffic.set(key, t);
      t.n++;
      const b = latencyBucket(r.latencyMs);
      while (t.hist.length <= b) t.hist.push(0);
      t.hist[b]++;
    }
    this.ctx.storage.transactionSync(() => {
      for (const t of traffic.values()) {
        const row = sql
          .exec<{ latency: string }>('SELECT latency FROM traffic WHERE hour = ? AND route = ? AND status = ?', t.hour, t.route, t.status)
          .toArray()[0];
        const hist: number[] = row ? JSON.parse(row.latency) : [];
        t.hist.forEach((n, b) => {
          hist[b] = (hist[b] ?? 0) + n;
        });
        sql.exec(
          `INSERT INTO traffic (hour, route, status, requests, latency) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (hour, route, status) DO UPDATE SET requests = requests + excluded.requests, latency = excluded.latency`,
          t.hour,
          t.route,
          t.status,
          t.n,
          JSON.stringify(Array.from(hist, (n) => n ?? 0)),
        );
      }
      // One statement per answer: the insert itself says whether the recId is new. The answer
      // counts are summed per count key over the batch (one upsert each), and the waiting events
      // looked up only when any wait at all (normally none: clicks follow their answer).
      const counted = new Map<string, { key: CountKey & { hour: number }; answers: number; items: number }>();
      const fresh: string[] = [];
      for (const answer of answers) {
        const hour = Math.floor(answer.at / HOUR_MS);
        const inserted = sql.exec(
          `INSERT INTO recs (id, at, hour, placement, version, experiment, variant, items, subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO NOTHING`,
          answer.recId,
          answer.at,
          hour,
          answer.placement,
          answer.version,
          answer.experiment,
          answer.variant,
          JSON.stringify(answer.items),
          answer.user ?? null,
        ).rowsWritten;
        if (inserted === 0) continue;
        fresh.push(answer.recId);
        const id = JSON.stringify([hour, answer.placement, answer.version, answer.experiment, answer.variant]);
        const c = counted.get(id) ?? {
          key: { hour, placement: answer.placement, version: answer.version, experiment: answer.experiment, variant: answer.variant },
          answers: 0,
          items: 0,
        };
        counted.set(id, c);
        c.answers++;
        c.items += answer.items.length;
      }
      for (const c of counted.values()) this.add(c.key, { answers: c.answers, items_shown: c.items });
      if (fresh.length && sql.exec('SELECT 1 FROM waiting LIMIT 1').toArray().length) {
        // an event waits WAITING_MS at most, whenever the alarm next prunes: one older is dropped here
        const since = Date.now() - WAITING_MS;
        for (const recId of fresh) {
          const waiting = sql
            .exec<{ item: string; type: AttributedType; at: number; revenue: number; subject: string }>(
              'SELECT item, type, at, revenue, subject FROM waiting WHERE rec = ? AND received >= ?',
              recId,
              since,
            )
            .toArray();
          if (waiting.length === 0) continue;
          sql.exec('DELETE FROM waiting WHERE rec = ?', recId);
          for (const w of waiting)
            this.apply({
              recId,
              itemId: w.item,
              type: w.type,
              at: w.at,
              revenue: w.revenue,
              ...(w.subject !== '' ? { user: w.subject } : {}),
            });
        }
      }
    });
    await this.ensureAlarm();
  }

  /** Attributes one event to its answer inside the caller's transaction. */
  private apply(e: AttributionEvent, now = Date.now()): AttributionOutcome {
    const sql = this.ctx.storage.sql;
    const rec = sql
      .exec<{
        at: number;
        hour: number;
        placement: string;
        version: string;
        experiment: string;
        variant: string;
        items: string;
        clicks: number;
        revenue: number;
        purchased: number;
        subject: string | null;
      }>(
        'SELECT at, hour, placement, version, experiment, variant, items, clicks, revenue, purchased, subject FROM recs WHERE id = ?',
        e.recId,
      )
      .toArray()[0];
    if (!rec) {
      // an answer that, by its id's own time, is older than any window (no longer known, or never
      // served): not worth waiting for
      if (now - e.at > WAITING_MS + this.settings.attributionWindowMs) return 'outside_window';
      if (now - recIdTime(e.recId) > WAITING_MS + this.settings.attributionWindowMs) return 'outside_window';
      sql.exec(
        'INSERT OR IGNORE INTO waiting (rec, item, type, at, revenue, received, subject) VALUES (?, ?, ?, ?, ?, ?, ?)',
        e.recId,
        e.itemId,
        e.type,
        e.at,
        e.revenue,
        now,
        e.user ?? '',
      );
      return 'pending';
    }
    // served to a signed-in user: only their events count (see the header); nothing is marked seen,
    // so that user's own event about the item still counts
    if (rec.subject !== null && e.user !== undefined && e.user !== rec.subject) return 'not_theirs';
    if (!(JSON.parse(rec.items) as string[]).includes(e.itemId)) return 'not_shown';
    if (e.at - rec.at > this.settings.attributionWindowMs || e.at < rec.at - CLOCK_SKEW_MS) return 'outside_window';
    const fresh = sql
      .exec('INSERT OR IGNORE INTO seen (rec, item, type) VALUES (?, ?, ?) RETURNING 1', e.recId, e.itemId, e.type)
      .toArray();
    if (fresh.length === 0) return 'duplicate';
    const key = { hour: rec.hour, placement: rec.placement, version: rec.version, experiment: rec.experiment, variant: rec.variant };
    if (e.type === 'click') {
      // Σ clicks² per answer: going from c to c + 1 clicks adds 2c + 1
      this.add(key, { clicks: 1, clicks_sq: 2 * rec.clicks + 1, ...(rec.clicks === 0 ? { answers_clicked: 1 } : {}) });
      sql.exec('UPDATE recs SET clicks = clicks + 1 WHERE id = ?', e.recId);
    } else if (e.type === 'add_to_cart') {
      this.add(key, { add_to_carts: 1 });
    } else {
      const r = Math.max(0, e.revenue);
      this.add(key, {
        purchases: 1,
        revenue: r,
        revenue_sq: (rec.revenue + r) ** 2 - rec.revenue ** 2,
        ...(rec.purchased === 0 ? { answers_purchased: 1 } : {}),
      });
      sql.exec('UPDATE recs SET revenue = revenue + ?, purchased = 1 WHERE id = ?', r, e.recId);
    }
    return 'attributed';
  }

  /** Attributes events to the answers they name: each (recId, item, type) once, within the window. */
  async attribute(events: AttributionEvent[], settings: MetricsSettings, now: number): Promise<AttributionOutcome[]> {
    this.configure(settings);
    let out: AttributionOutcome[] = [];
    this.ctx.storage.transactionSync(() => {
      out = events.map((e) => this.apply(e, now));
    });
    await this.ensureAlarm();
    return out;
  }

  /** Count rows with from ≤ hour < to. */
  async counts(fromHour: number, toHour: number): Promise<CountRow[]> {
    return this.ctx.storage.sql
      .exec<Record<string, number | string>>('SELECT * FROM counts WHERE hour >= ? AND hour < ?', fromHour, toHour)
      .toArray()
      .map((r) => ({
        hour: Number(r.hour),
        placement: String(r.placement),
        version: String(r.version),
        experiment: String(r.experiment),
        variant: String(r.variant),
        answers: Number(r.answers),
        itemsShown: Number(r.items_shown),
        clicks: Number(r.clicks),
        clicksSq: Number(r.clicks_sq),
        answersClicked: Number(r.answers_clicked),
        addToCarts: Number(r.add_to_carts),
        purchases: Number(r.purchases),
        answersPurchased: Number(r.answers_purchased),
        revenue: Number(r.revenue),
        revenueSq: Number(r.revenue_sq),
      }));
  }

  async traffic(fromHour: number, toHour: number): Promise<TrafficRow[]> {
    return this.ctx.storage.sql
      .exec<{ hour: number; route: string; status: number; requests: number; latency: string }>(
        'SELECT hour, route, status, requests, latency FROM traffic WHERE hour >= ? AND hour < ?',
        fromHour,
        toHour,
      )
      .toArray()
      .map((r) => ({ hour: r.hour, route: r.route, statusClass: r.status, requests: r.requests, latency: JSON.parse(r.latency) }));
  }

  /** Prunes what no longer matters (answers past the window, stale waiting events, old counts). */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const sql = this.ctx.storage.sql;
    const cutoff = now - this.settings.attributionWindowMs - CLOCK_SKEW_MS - HOUR_MS;
    this.ctx.storage.transactionSync(() => {
      sql.exec('DELETE FROM seen WHERE rec IN (SELECT id FROM recs WHERE at < ?)', cutoff);
      sql.exec('DELETE FROM recs WHERE at < ?', cutoff);
      sql.exec('DELETE FROM waiting WHERE received < ?', now - WAITING_MS);
      const oldHour = Math.floor((now - this.settings.retentionDays * 24 * HOUR_MS) / HOUR_MS);
      sql.exec('DELETE FROM counts WHERE hour < ?', oldHour);
      sql.exec('DELETE FROM traffic WHERE hour < ?', oldHour);
    });
    const left = sql.exec<{ n: number }>('SELECT (SELECT COUNT(*) FROM recs) + (SELECT COUNT(*) FROM waiting) AS n').one().n;
    if (left > 0) await this.ctx.storage.setAlarm(now + HOUR_MS);
  }
}

/** The counters as services use them. */
export interface MetricsClient {
  /** a new recId, naming the shard its answer and events go to */
  newRecId(): string;
  /** whether a string is a recId this deployment could have issued */
  isRecId(recId: string): boolean;
  /**
   * Queues a request (and its answer) for the counters (hand the promise to waitUntil). Within an
   * isolate, records are gathered for METRICS_FLUSH_MILLISECONDS and written with one object
   * request per shard, in the context of the request that opened the batch: its promise resolves
   * once the batch is written, every other request's at once.
   */
  record(request: RequestRecord | null, answer: AnswerRecord | null): Promise<void>;
  attribute(events: AttributionEvent[], now: number): Promise<AttributionOutcome[]>;
  counts(fromHour: number, toHour: number): Promise<CountRow[]>;
  traffic(fromHour: number, toHour: number): Promise<TrafficRow[]>;
}

/**
 * recId: "<shard>_<32 hex>": 12 hex of the issuing time in ms, then 20 random hex (80 bits).
 * Time first so that an object's answers are inserted in key order: random keys spread each
 * batch's inserts over the whole table, and every commit rewrote a page per answer.
 */

interface Batch {
  requests: RequestRecord[];
  answers: AnswerRecord[];
}

/** This isolate's records not yet written (see MetricsClient.record). */
let pending: Batch | null = null;
/** Records per batch at most (a busy isolate writes sooner than the flush interval). */
const MAX_BATCH = 500;

export function metricsClient(
  ns: DurableObjectNamespace<MetricsStore>,
  shards: number,
  settings: MetricsSettings & { flushMilliseconds: number },
): MetricsClient {
  const stub = (shard: number) => ns.get(ns.idFromName(DO.metrics(shard)));
  const shardOf = (recId: string) => Number(REC_ID_PATTERN.exec(recId)?.[1] ?? 0);
  const stored = { attributionWindowMs: settings.attributionWindowMs, retentionDays: settings.retentionDays };
  /** One object request per shard the batch touches; each retried twice (the records are idempotent by recId). */
  const writeBatch = async (batch: Batch) => {
    const byShard = new Map<number, AnswerRecord[]>();
    for (const a of batch.answers) {
      const shard = shardOf(a.recId);
      const list = byShard.get(shard);
      if (list) list.push(a);
      else byShard.set(shard, [a]);
    }
    const trafficShard = byShard.size ? [...byShard.keys()][0] : Math.floor(Math.random() * shards);
    if (!byShard.has(trafficShard)) byShard.set(trafficShard, []);
    await Promise.all(
      [...byShard].map(async ([shard, answers]) => {
        const requests = shard === trafficShard ? batch.requests : [];
        for (let attempt = 0; ; attempt++) {
          try {
            await stub(shard).record(requests, answers, stored);
            return;
          } catch (err) {
            if (attempt >= 2) {
              console.error(
                `counters not written (${answers.length} answers, ${requests.length} requests): ${err instanceof Error ? err.message : String(err)}`,
              );
              return;
            }
            await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
          }
        }
      }),
    );
  };
  const all = <T>(f: (s: DurableObjectStub<MetricsStore>) => Promise<T[]>) =>
    Promise.all(Array.from({ length: shards }, (_, s) => f(stub(s)))).then((parts) => parts.flat());
  return {
    newRecId() {
      const shard = Math.floor(Math.random() * shards);
      const time = Date.now().toString(16).padStart(12, '0').slice(-12);
      return `${shard}_${time}${toHex(crypto.getRandomValues(new Uint8Array(10)))}`;
    },
    // a time after now is an id this deployment has not issued (yet)
    isRecId: (recId) => REC_ID_PATTERN.test(recId) && shardOf(recId) < shards && recIdTime(recId) <= Date.now() + CLOCK_SKEW_MS,
    record(request, answer) {
      let written: Promise<void> = Promise.resolve();
      if (!pending || pending.requests.length + pending.answers.length >= MAX_BATCH) {
        const batch: Batch = { requests: [], answers: [] };
        pending = batch;
        written = new Promise<void>((resolve) => setTimeout(resolve, settings.flushMilliseconds)).then(() => {
          if (pending === batch) pending = null;
          return writeBatch(batch);
        });
      }
      if (request) pending.requests.push(request);
      if (answer) pending.answers.push(answer);
      // Only the request that opened the batch waits for its write (its context runs the timer and
      // the write). A promise settled in another request's context is one workerd cancels for a
      // request whose response is done, waitUntil or not: every later request of the batch logged
      // "A promise was resolved or rejected from a different request context…".
      return written;
    },
    async attribute(events, now) {
      const byShard = new Map<number, number[]>();
      events.forEach((e, j) => {
        const s = shardOf(e.recId);
        byShard.set(s, [...(byShard.get(s) ?? []), j]);
      });
      const out: AttributionOutcome[] = new Array(events.length);
      await Promise.all(
        [...byShard].map(async ([s, idx]) => {
          const got = await stub(s).attribute(
            idx.map((j) => events[j]),
            stored,
            now,
          );
          idx.forEach((j, p) => {
            out[j] = got[p];
          });
        }),
      );
      return out;
    },
    counts: (from, to) => all((s) => s.counts(from, to) as Promise<CountRow[]>),
    traffic: (from, to) => all((s) => s.traffic(from, to) as Promise<TrafficRow[]>),
  };
}
