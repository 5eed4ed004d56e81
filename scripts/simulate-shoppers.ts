/**
 * `npm run simulate -- --url http://127.0.0.1:8787 --api-key … [--admin-token …] [--experiment NAME] …`
 *
 * Simulated shoppers against a running deployment, to measure what attribution and A/B reports
 * say and to check that they count exactly what happened.
 *
 * Each shopper has a hidden taste: a real Online Retail customer's products (when the data file
 * is there; the trainer's own loader and cleaning rules, so ids match the models), split at random
 * into what the shopper shows the shop (the basket sent for recommendations) and what they still
 * want (never sent); without the data, two title words of the service's own popular products and
 * the items whose titles carry them. A session asks for recommendations for the basket
 * (POST /v1/recommendations, signed in: `userId` is the experiment subject) and goes down the
 * list with a position-based click model:
 *
 *   P(click at position p) = examine(p) · attract(item),  examine(p) = p^−0.7,
 *   attract = 0.45 for an item the shopper wants, 0.02 for any other
 *
 * so the list that puts more of what the shopper wants near the top earns more clicks. A click is
 * followed by a view of the product page, an add-to-cart (0.5 for a wanted item, 0.1 otherwise)
 * and a purchase (0.6 of carts, 1–3 units at the answer's price); a bought item joins the basket
 * of the shopper's next session. Every click, add-to-cart and purchase carries the answer's
 * `recId`, the item's `position` and its own `eventId`; a fraction of event batches is sent twice
 * (a client retry), which must change no count.
 *
 * A second mode, `--click-probability bundled=0.10,random-v1=0.04` (and optionally
 * `--purchase-probability bundled=0.3,random-v1=0.2`), replaces that click model with known
 * rates: every item of an answer is clicked independently with its variant's probability p,
 * whatever its position or relevance, and a clicked item is bought with probability q (an
 * add-to-cart, then the purchase; nothing else is put in the cart, and without
 * --purchase-probability nothing is bought). So the true rates the report estimates are known:
 * CTR per item shown = p, add-to-cart rate = p·q, purchases per click = q, and conversion per
 * answer of n items = 1 − (1 − p·q)^n. The keys name a variant, or the model version a variant
 * serves (its `modelVersion`, or the `model` its answers carry); `*` covers any other answer. At
 * the end the run prints each known probability beside the report's estimate and 95% interval and
 * says whether the interval holds it. A 95% interval misses the truth about 1 time in 20 by
 * chance, so a miss is printed as a warning and does not change the exit code.
 *
 * Everything a shopper does is drawn from a random stream seeded by (--seed, shopper number), so a
 * run is the same for the same seed and answers whatever the concurrency. At the end it prints
 * what it sent per experiment variant and, with --admin-token, the service's report
 * (GET /admin/metrics) beside it, after waiting for the counters to settle (answers are written
 * after the response, in batches); the exit code is 1 when the service counted anything other than
 * what was sent (relative to the counts read before the run, so other traffic in the same
 * experiment during the run shows up as a mismatch).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { wilson } from '@edge-recs/core/stats';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadInteractions } from '../model/data';
import { Rng } from '../model/rng';
import type { MetricsReport, ReportGroup, Totals } from '../src/services/insights';

export const DEFAULT_DATA = '../shared/data/online-retail.csv.gz';

/** The click and purchase model (see the header). */
export const BEHAVIOUR = {
  positionBias: 0.7,
  attractWanted: 0.45,
  attractOther: 0.02,
  cartWanted: 0.5,
  cartOther: 0.1,
  purchaseOfCart: 0.6,
  maxQuantity: 3,
  /** items of a shopper's basket sent with a request, at most */
  maxBasket: 20,
} as const;

export interface SimulateOptions {
  url: string;
  apiKey: string;
  adminToken?: string;
  users: number;
  sessionsPerUser: number;
  seed: number;
  concurrency: number;
  placement?: string;
  experiment?: string;
  /** items per answer */
  k: number;
  /** Online Retail file for the shoppers' tastes; null: the service's catalogue */
  data: string | null;
  /** how long to wait for the counters to reach what was sent */
  settleSeconds: number;
  /** share of event batches sent twice */
  retryRate: number;
  /** known-rate mode (see the header): click probability per item shown, by variant or model version ("*": any other) */
  clickProbability?: Probabilities;
  /** known-rate mode: probability that a clicked item is bought (default 0: nothing is bought) */
  purchaseProbability?: Probabilities;
  /** progress lines (default: none) */
  log?: (line: string) => void;
}

/** `{ "bundled": 0.1, "random-v1": 0.04, "*": 0.02 }`: keys name a variant or a model version; `*` any other answer. */
export type Probabilities = Record<string, number>;

/** One rate of the known-rate mode: its true value, the report's estimate with 95% interval, and whether that holds it. */
export interface KnownRate {
  rate: 'ctr' | 'conversion' | 'purchasesPerClick';
  known: number;
  /** null without a report, or when the report has no trials for it */
  measured: { estimate: number; low: number; high: number } | null;
  contains: boolean | null;
}

export interface KnownVariant {
  experiment: string | null;
  variant: string | null;
  click: number;
  /** null without --purchase-probability */
  purchase: number | null;
  rates: KnownRate[];
  /** answers the report counted for this variant before the run (the known rates hold for this run's answers only) */
  answersBefore: number;
}

/** What the service counts per group: the report's own totals (GET /admin/metrics). */
export type Counts = Totals;

export interface VariantTally extends Counts {
  /** null outside an experiment */
  experiment: string | null;
  variant: string | null;
  shoppers: number;
  views: number;
  /** known-rate mode: the probabilities its answers were given, and Σ over answers of P(answer converts) */
  known?: { click: number; purchase: number; expectedConversions: number };
}

export interface SentEvent {
  userId: string;
  itemId: string;
  type: 'view' | 'click' | 'add_to_cart' | 'purchase';
  eventId: string;
  recId?: string;
  position?: number;
  price?: number;
  quantity?: number;
}

/** One session's events as sent (resending it must change nothing). */
export interface SentBatch {
  experiment: string | null;
  variant: string | null;
  events: SentEvent[];
}

/** What the service's event answers said about the attributable events. */
export interface Outcomes {
  attributed: number;
  pending: number;
  duplicate: number;
  notShown: number;
  outsideWindow: number;
  rejected: number;
  /** batches sent a second time, and the duplicates the service reported for them */
  resentBatches: number;
  resentDuplicates: number;
  /** recommendation requests repeated after a network error or 5xx */
  retriedRequests: number;
}

/** The service's report (GET /admin/metrics), typed by the server's own response schema. */
export type { MetricsReport, ReportGroup };

export interface Check {
  ok: boolean;
  problems: string[];
  /** seconds from the last event to the counters matching (or to giving up) */
  settleSeconds: number;
}

export interface SimulationResult {
  source: string;
  users: number;
  sessionsPerUser: number;
  seed: number;
  /** from the first request of the first shopper to the last event */
  seconds: number;
  /** per experiment variant (experiment and variant null outside one), in the report's order when there is one */
  sent: VariantTally[];
  /** each shopper's variant (the same in all of their sessions, or the check fails) */
  assignment: Map<string, string | null>;
  batches: SentBatch[];
  outcomes: Outcomes;
  /** variants of the experiment with their weights (with --admin-token and --experiment) */
  definition: { name: string; variants: { name: string; weight: number; modelVersion?: string }[] } | null;
  /** the report at the end, and what it counted beyond the report read before the run */
  report: MetricsReport | null;
  counted: Map<string, Counts> | null;
  check: Check | null;
  /** known-rate mode: per variant, the known rates against the report's (null in the click model of the header) */
  known: KnownVariant[] | null;
}

const COUNT_FIELDS = ['answers', 'itemsShown', 'clicks', 'addToCarts', 'purchases', 'revenue'] as const;
const zeroCounts = (): Counts => ({ answers: 0, itemsShown: 0, clicks: 0, addToCarts: 0, purchases: 0, revenue: 0 });
const keyOf = (experiment: string | null | undefined, variant: string | null | undefined) =>
  JSON.stringify([experiment ?? null, variant ?? null]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** revenue equality: the report rounds to 6 decimals, and sums in another order */
const sameRevenue = (a: number, b: number) => Math.abs(a - b) <= 1e-5 + 1e-9 * Math.abs(b);

/** A shopper: what they show the shop, what they want (hidden), and prices known for items. */
interface Shopper {
  id: string;
  basket: string[];
  wants: Set<string>;
}

interface Taste {
  source: string;
  shoppers(seed: number, n: number): Shopper[];
  price(itemId: string): number | undefined;
}

/** Tastes of real customers: each shopper is one customer with ≥ 6 products, shown 40% of them (≤ 10). */
async function retailTaste(path: string): Promise<Taste> {
  const data = await loadInteractions(path);
  const { matrix, itemIds } = data;
  const eligible: number[] = [];
  for (let u = 0; u < matrix.rows; u++) if (matrix.rowPtr[u + 1] - matrix.rowPtr[u] >= 6) eligible.push(u);
  const prices = new Map<string, number>();
  itemIds.forEach((id, i) => {
    const p = data.fields.price[i];
    if (Number.isFinite(p)) prices.set(id, Math.round(p * 100) / 100);
  });
  return {
    source: `Online Retail (${path}): ${eligible.length} customers with ≥ 6 products`,
    shoppers(seed, n) {
      const order = eligible.slice();
      new Rng(seed).shuffle(order);
      return Array.from({ length: n }, (_, s) => {
        const u = order[s % order.length];
        const items = Array.from(matrix.colIdx.subarray(matrix.rowPtr[u], matrix.rowPtr[u + 1]), (i) => itemIds[i]);
        userRng(seed, s, 1).shuffle(items);
        const shown = Math.min(10, Math.max(2, Math.floor(items.length * 0.4)));
        return { id: shopperId(seed, s), basket: items.slice(0, shown), wants: new Set(items.slice(shown)) };
      });
    },
    price: (id) => prices.get(id),
  };
}

const STOPWORDS = new Set(['with', 'and', 'the', 'of', 'set', 'for', 'in', 'size', 'small', 'large', 'mini']);

/** Tastes from the service itself: two title words of its popular products, and every item found under them. */
async function catalogueTaste(http: Http): Promise<Taste> {
  const popular = await http.get<{ items: { id: string; title?: string }[] }>('/v1/popular?k=100');
  const words = new Map<string, number>();
  for (const it of popular.items)
    for (const w of new Set((it.title ?? '').toLowerCase().split(/[^a-z]+/)))
      if (w.length >= 4 && !STOPWORDS.has(w)) words.set(w, (words.get(w) ?? 0) + 1);
  const top = [...words]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 24)
    .map(([w]) => w);
  const pools = new Map<string, string[]>();
  for (const w of top) {
    const found = await http.get<{ items: { id: string }[] }>(`/v1/items?limit=100&q=${encodeURIComponent(w)}`);
    if (found.items.length >= 4) pools.set(w, found.items.map((i) => i.id).sort());
  }
  const names = [...pools.keys()];
  if (names.length < 2)
    throw new Error('the catalogue has too few products to make shoppers from (fewer than two title words with 4+ items)');
  return {
    source: `the service's catalogue: ${names.length} title words of its 100 most popular products`,
    shoppers(seed, n) {
      return Array.from({ length: n }, (_, s) => {
        const rng = userRng(seed, s, 1);
        const a = names[rng.int(names.length)];
        let b = names[rng.int(names.length)];
        if (b === a) b = names[(names.indexOf(a) + 1) % names.length];
        const items = [...new Set([...(pools.get(a) ?? []), ...(pools.get(b) ?? [])])];
        rng.shuffle(items);
        return { id: shopperId(seed, s), basket: items.slice(0, 3), wants: new Set(items.slice(3)) };
      });
    },
    price: () => undefined,
  };
}

const shopperId = (seed: number, s: number) => `sim-${seed}-${s}`;
/** The random stream of shopper s (stream 0: behaviour; 1: taste), independent of the others and of scheduling. */
function userRng(seed: number, s: number, stream: number): Rng {
  return new Rng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(s + 1, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35)) >>> 0);
}

interface Http {
  get<T>(path: string, admin?: boolean): Promise<T>;
  send<T>(method: string, path: string, body: unknown, auth: 'api' | 'admin' | 'none'): Promise<{ status: number; body: T }>;
  retried: number;
}

function httpClient(opts: SimulateOptions): Http {
  const base = opts.url.replace(/\/$/, '');
  const headers = (auth: 'api' | 'admin' | 'none'): Record<string, string> => ({
    'content-type': 'application/json',
    ...(auth === 'admin' && opts.adminToken ? { authorization: `Bearer ${opts.adminToken}` } : {}),
    ...(auth === 'api' ? { authorization: `Bearer ${opts.apiKey}` } : {}),
  });
  const client: Http = {
    retried: 0,
    async send<T>(method: string, path: string, body: unknown, auth: 'api' | 'admin' | 'none') {
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await fetch(`${base}${path}`, {
            method,
            headers: headers(auth),
            ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          });
          if (res.status >= 500 && attempt < 3) {
            await res.body?.cancel();
            client.retried++;
            await sleep(200 * 2 ** attempt);
            continue;
          }
          return { status: res.status, body: (await res.json()) as T };
        } catch (err) {
          if (attempt >= 3) throw err;
          client.retried++;
          await sleep(200 * 2 ** attempt);
        }
      }
    },
    async get<T>(path: string, admin = false) {
      const r = await client.send<T & { error?: { code: string; message: string } }>('GET', path, undefined, admin ? 'admin' : 'api');
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
  };
  return client;
}

interface Answer {
  recId: string;
  model: string;
  experiment?: string;
  variant?: string;
  items: { id: string; position: number; price?: number }[];
}

interface EventsAnswer {
  accepted: number;
  duplicates: number;
  rejected: { index: number; reason: string }[];
  attribution: { attributed: number; duplicate: number; notShown: number; outsideWindow: number; pending: number };
}

/**
 * The known-rate mode's probabilities for an answer: the first key of `table` among the answer's
 * variant, the model version its variant is defined with, the model the answer carries, and `*`.
 */
export function probabilityFor(
  table: Probabilities,
  answer: { experiment?: string; variant?: string; model: string },
  definition: SimulationResult['definition'],
): { key: string; p: number } | undefined {
  const defined =
    definition && answer.variant !== undefined && definition.name === answer.experiment
      ? definition.variants.find((v) => v.name === answer.variant)?.modelVersion
      : undefined;
  for (const key of [answer.variant, defined, answer.model, '*'])
    if (key !== undefined && Object.hasOwn(table, key)) return { key, p: table[key] };
  return undefined;
}

/** Parses `name=p,name=p` (p from 0 to 1; names unique). */
export function parseProbabilities(text: string): Probabilities {
  const out: Probabilities = {};
  for (const part of text.split(',')) {
    const m = /^\s*([^=\s]+)\s*=\s*([^=\s]+)\s*$/.exec(part);
    const p = m ? Number(m[2]) : Number.NaN;
    if (!m || !(p >= 0 && p <= 1)) throw new Error(`"${part}" is not variant=p with p from 0 to 1`);
    if (Object.hasOwn(out, m[1])) throw new Error(`${m[1]} is given twice`);
    out[m[1]] = p;
  }
  return out;
}

const contains = (i: { low: number; high: number } | null, x: number) => (i ? x >= i.low && x <= i.high : null);

/**
 * The known-rate mode's verdict per variant: the known CTR (p), conversion (mean over answers of
 * 1 − (1 − p·q)^n) and purchases per click (q), beside the report's CTR and conversion with their
 * Wilson intervals, and purchases / clicks of the report's counts with the same Wilson interval.
 */
export function judgeKnown(
  sent: VariantTally[],
  report: MetricsReport | null,
  before: Map<string, Counts> | null,
  withPurchases: boolean,
): KnownVariant[] {
  return sent
    .filter((t) => t.known !== undefined)
    .map((t) => {
      const k = t.known as NonNullable<VariantTally['known']>;
      const g = report?.groups.find((x) => keyOf(x.experiment, x.variant) === keyOf(t.experiment, t.variant));
      const rate = (name: KnownRate['rate'], known: number, measured: KnownRate['measured']): KnownRate => ({
        rate: name,
        known,
        measured,
        contains: contains(measured, known),
      });
      const rates = [rate('ctr', k.click, g?.rates.ctr ?? null)];
      if (withPurchases)
        rates.push(
          rate('conversion', t.answers > 0 ? k.expectedConversions / t.answers : 0, g?.rates.conversion ?? null),
          rate('purchasesPerClick', k.purchase, g ? wilson(g.purchases, g.clicks) : null),
        );
      return {
        experiment: t.experiment,
        variant: t.variant,
        click: k.click,
        purchase: withPurchases ? k.purchase : null,
        rates,
        answersBefore: before?.get(keyOf(t.experiment, t.variant))?.answers ?? 0,
      };
    });
}

async function metricsReport(http: Http, opts: SimulateOptions, from: string): Promise<MetricsReport> {
  const q = new URLSearchParams({ groupBy: 'variant', from });
  if (opts.experiment) q.set('experiment', opts.experiment);
  if (opts.placement) q.set('placement', opts.placement);
  return http.get<MetricsReport>(`/admin/metrics?${q}`, true);
}

function countsByKey(report: MetricsReport): Map<string, Counts> {
  const out = new Map<string, Counts>();
  for (const g of report.groups) {
    const k = keyOf(g.experiment, g.variant);
    const c = out.get(k) ?? zeroCounts();
    for (const f of COUNT_FIELDS) c[f] += g[f];
    out.set(k, c);
  }
  return out;
}

/** Runs the shoppers and, with an admin token, checks the service's counts against what was sent. */
export async function simulateShoppers(opts: SimulateOptions): Promise<SimulationResult> {
  const log = opts.log ?? (() => {});
  if (opts.purchaseProbability && !opts.clickProbability)
    throw new Error('a purchase probability needs click probabilities (the known-rate mode)');
  const http = httpClient(opts);
  const started = Date.now();
  // counts are kept per hour: a report from the start of this hour covers the whole run
  const from = new Date(Math.floor(started / 3_600_000) * 3_600_000).toISOString();

  let definition: SimulationResult['definition'] = null;
  let before: Map<string, Counts> | null = null;
  if (opts.adminToken) {
    if (opts.experiment) {
      const e = await http.get<{ name: string; status: string; variants: { name: string; weight: number; modelVersion?: string }[] }>(
        `/admin/experiments/${encodeURIComponent(opts.experiment)}`,
        true,
      );
      if (e.status !== 'running') log(`note: experiment ${e.name} is ${e.status}; its answers will not carry it`);
      definition = {
        name: e.name,
        variants: e.variants.map((v) => ({ name: v.name, weight: v.weight, ...(v.modelVersion ? { modelVersion: v.modelVersion } : {}) })),
      };
    }
    before = countsByKey(await metricsReport(http, opts, from));
  }

  const taste = opts.data ? await retailTaste(opts.data) : await catalogueTaste(http);
  log(`shoppers' tastes from ${taste.source}`);
  const shoppers = taste.shoppers(opts.seed, opts.users);
  const shopping = Date.now();

  const tallies = new Map<string, VariantTally & { ids: Set<string> }>();
  const tally = (a: Answer) => {
    const k = keyOf(a.experiment, a.variant);
    let t = tallies.get(k);
    if (!t) {
      t = { experiment: a.experiment ?? null, variant: a.variant ?? null, shoppers: 0, views: 0, ...zeroCounts(), ids: new Set() };
      tallies.set(k, t);
    }
    return t;
  };
  const assignment = new Map<string, string | null>();
  const anomalies: string[] = [];
  const batches: SentBatch[] = [];
  const outcomes: Outcomes = {
    attributed: 0,
    pending: 0,
    duplicate: 0,
    notShown: 0,
    outsideWindow: 0,
    rejected: 0,
    resentBatches: 0,
    resentDuplicates: 0,
    retriedRequests: 0,
  };
  const runId = `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
  const b = BEHAVIOUR;
  const usedKeys = new Set<string>();
  /** the known-rate mode's probabilities for an answer (null in the click model of the header) */
  const knownFor = (a: Answer): { click: number; purchase: number } | null => {
    if (!opts.clickProbability) return null;
    const name = a.variant === undefined ? `model ${a.model} (outside any experiment)` : `variant ${a.variant} (model ${a.model})`;
    const click = probabilityFor(opts.clickProbability, a, definition);
    if (!click) throw new Error(`--click-probability gives no probability for ${name}: name it, its model version, or *`);
    usedKeys.add(`click:${click.key}`);
    if (!opts.purchaseProbability) return { click: click.p, purchase: 0 };
    const purchase = probabilityFor(opts.purchaseProbability, a, definition);
    if (!purchase) throw new Error(`--purchase-probability gives no probability for ${name}: name it, its model version, or *`);
    usedKeys.add(`purchase:${purchase.key}`);
    return { click: click.p, purchase: purchase.p };
  };

  const shop = async (s: number) => {
    const shopper = shoppers[s];
    const rng = userRng(opts.seed, s, 0);
    const basket = shopper.basket.slice();
    const wants = new Set(shopper.wants);
    let n = 0;
    for (let session = 0; session < opts.sessionsPerUser; session++) {
      const r = await http.send<Answer & { error?: { message: string } }>(
        'POST',
        '/v1/recommendations',
        {
          items: basket.slice(-b.maxBasket),
          k: opts.k,
          userId: shopper.id,
          sessionId: `${shopper.id}-${session}`,
          ...(opts.placement ? { placement: opts.placement } : {}),
        },
        'api',
      );
      if (r.status !== 200) throw new Error(`POST /v1/recommendations for ${shopper.id}: ${r.status} ${JSON.stringify(r.body)}`);
      const answer = r.body;
      const t = tally(answer);
      const variant = answer.variant ?? null;
      if (!assignment.has(shopper.id)) assignment.set(shopper.id, variant);
      else if (assignment.get(shopper.id) !== variant)
        anomalies.push(`${shopper.id} was in variant ${assignment.get(shopper.id)} and then in ${variant}`);
      t.ids.add(shopper.id);
      t.answers++;
      t.itemsShown += answer.items.length;
      const known = knownFor(answer);
      if (known) {
        if (t.known && (t.known.click !== known.click || t.known.purchase !== known.purchase))
          throw new Error(`variant ${t.variant}: answers were given different probabilities (model ${answer.model})`);
        t.known ??= { ...known, expectedConversions: 0 };
        t.known.expectedConversions += 1 - (1 - known.click * known.purchase) ** answer.items.length;
      }
      const events: SentEvent[] = [];
      const id = () => `${runId}.${s}.${n++}`;
      for (const item of answer.items) {
        const wanted = wants.has(item.id);
        // known rates: p for every item, whatever its position; else position bias × relevance
        const p = known ? known.click : item.position ** -b.positionBias * (wanted ? b.attractWanted : b.attractOther);
        if (rng.next() >= p) continue;
        const shown = { userId: shopper.id, itemId: item.id, recId: answer.recId, position: item.position };
        events.push({ ...shown, type: 'click', eventId: id() });
        events.push({ userId: shopper.id, itemId: item.id, type: 'view', eventId: id() });
        t.clicks++;
        t.views++;
        // known rates: bought with probability q, put in the cart first; else cart, then purchase of carts
        if (rng.next() >= (known ? known.purchase : wanted ? b.cartWanted : b.cartOther)) continue;
        events.push({ ...shown, type: 'add_to_cart', eventId: id() });
        t.addToCarts++;
        if (!known && rng.next() >= b.purchaseOfCart) continue;
        const quantity = 1 + rng.int(b.maxQuantity);
        const price = item.price ?? taste.price(item.id) ?? 1;
        events.push({ ...shown, type: 'purchase', eventId: id(), price, quantity });
        t.purchases++;
        t.revenue += price * quantity;
        wants.delete(item.id);
        basket.push(item.id);
      }
      const resend = rng.next() < opts.retryRate;
      if (!events.length) continue;
      batches.push({ experiment: answer.experiment ?? null, variant, events });
      const attributable = events.filter((e) => e.recId !== undefined).length;
      for (let attempt = 0; attempt < (resend ? 2 : 1); attempt++) {
        const res = await http.send<EventsAnswer>('POST', '/v1/events', { events }, 'api');
        if (res.status !== 200) throw new Error(`POST /v1/events for ${shopper.id}: ${res.status} ${JSON.stringify(res.body)}`);
        const a = res.body.attribution;
        outcomes.rejected += res.body.rejected.length;
        outcomes.notShown += a.notShown;
        outcomes.outsideWindow += a.outsideWindow;
        if (attempt === 0) {
          outcomes.attributed += a.attributed;
          outcomes.pending += a.pending;
          outcomes.duplicate += a.duplicate;
        } else {
          outcomes.resentBatches++;
          outcomes.resentDuplicates += a.duplicate;
          if (a.duplicate + a.pending !== attributable)
            anomalies.push(
              `a resent batch of ${shopper.id} was not recognised: ${JSON.stringify(a)} for ${attributable} attributable events`,
            );
        }
      }
    }
  };

  let next = 0;
  let done = 0;
  const step = Math.max(1, Math.ceil(opts.users / 10));
  await Promise.all(
    Array.from({ length: Math.max(1, opts.concurrency) }, async () => {
      while (next < shoppers.length) {
        const s = next++;
        await shop(s);
        if (++done % step === 0) log(`${done}/${shoppers.length} shoppers done`);
      }
    }),
  );
  const lastEvent = Date.now();
  outcomes.retriedRequests = http.retried;

  // the report's variant order (control first), then anything else the shoppers saw
  const order = definition ? definition.variants.map((v) => keyOf(definition?.name, v.name)) : [];
  for (const k of order)
    if (!tallies.has(k)) {
      const [experiment, variant] = JSON.parse(k) as [string, string];
      tallies.set(k, { experiment, variant, shoppers: 0, views: 0, ...zeroCounts(), ids: new Set() });
    }
  const keys = [...tallies.keys()].sort((x, y) => {
    const rx = order.indexOf(x) < 0 ? order.length : order.indexOf(x);
    const ry = order.indexOf(y) < 0 ? order.length : order.indexOf(y);
    return rx - ry || x.localeCompare(y);
  });
  const sent: VariantTally[] = keys.map((k) => {
    const { ids, ...t } = tallies.get(k) as VariantTally & { ids: Set<string> };
    return { ...t, shoppers: ids.size };
  });

  let report: MetricsReport | null = null;
  let counted: Map<string, Counts> | null = null;
  let check: Check | null = null;
  if (opts.adminToken && before) {
    const baseline = before;
    const problems = (): string[] => {
      const out = [...anomalies];
      const now = countsByKey(report as MetricsReport);
      counted = new Map();
      for (const t of sent) {
        const k = keyOf(t.experiment, t.variant);
        const was = baseline.get(k) ?? zeroCounts();
        const is = now.get(k) ?? zeroCounts();
        const delta = zeroCounts();
        for (const f of COUNT_FIELDS) delta[f] = is[f] - was[f];
        counted.set(k, delta);
        const label = t.variant === null ? 'outside any experiment' : `variant ${t.variant}`;
        if (opts.experiment && t.experiment !== opts.experiment) {
          out.push(
            `${t.answers} answers were ${t.experiment === null ? 'outside any experiment' : `in experiment ${t.experiment}`}, not ${opts.experiment}`,
          );
          continue;
        }
        for (const f of COUNT_FIELDS) {
          const equal = f === 'revenue' ? sameRevenue(delta[f], t[f]) : delta[f] === t[f];
          if (!equal) out.push(`${label}: ${f} sent ${round(t[f])}, counted ${round(delta[f])}`);
        }
      }
      return out;
    };
    const deadline = lastEvent + opts.settleSeconds * 1000;
    let found: string[];
    for (;;) {
      report = await metricsReport(http, opts, from);
      found = problems();
      if (found.length === 0) {
        // equal now: look once more a little later, so a late double count would show
        await sleep(1500);
        report = await metricsReport(http, opts, from);
        found = problems();
        if (found.length === 0) break;
      }
      if (Date.now() > deadline) break;
      await sleep(500);
    }
    check = { ok: found.length === 0, problems: found, settleSeconds: (Date.now() - lastEvent) / 1000 };
  } else if (anomalies.length) check = { ok: false, problems: anomalies, settleSeconds: 0 };

  let known: KnownVariant[] | null = null;
  if (opts.clickProbability) {
    known = judgeKnown(sent, report, before, opts.purchaseProbability !== undefined);
    for (const [flag, table] of [
      ['click', opts.clickProbability],
      ['purchase', opts.purchaseProbability ?? {}],
    ] as const)
      for (const key of Object.keys(table))
        if (!usedKeys.has(`${flag}:${key}`)) log(`note: --${flag}-probability ${key}=… matched no answer`);
  }

  return {
    source: taste.source,
    users: opts.users,
    sessionsPerUser: opts.sessionsPerUser,
    seed: opts.seed,
    seconds: (lastEvent - shopping) / 1000,
    sent,
    assignment,
    batches,
    outcomes,
    definition,
    report,
    counted,
    check,
    known,
  };
}

const round = (x: number) => Math.round(x * 100) / 100;
const pct = (i: { estimate: number; low: number; high: number } | null | undefined) =>
  i ? `${(100 * i.estimate).toFixed(2)}% [${(100 * i.low).toFixed(2)}, ${(100 * i.high).toFixed(2)}]` : '—';
const num = (i: { estimate: number; low: number; high: number } | null | undefined) =>
  i ? `${i.estimate.toFixed(0)} [${i.low.toFixed(0)}, ${i.high.toFixed(0)}]` : '—';

/** The run as a person reads it: what was sent, what the service counted, its rates and tests. */
export function formatResult(r: SimulationResult, opts: Pick<SimulateOptions, 'url' | 'experiment'>): string {
  const lines: string[] = [];
  lines.push(
    `${r.users} shoppers × ${r.sessionsPerUser} sessions (seed ${r.seed}) against ${opts.url} in ${r.seconds.toFixed(1)} s; tastes from ${r.source}`,
  );
  const weight = (t: VariantTally) => r.definition?.variants.find((v) => v.name === t.variant)?.weight;
  const rows: string[][] = [
    ['variant', 'weight', 'shoppers', '', 'answers', 'items shown', 'clicks', 'add-to-carts', 'purchases', 'revenue'],
  ];
  for (const t of r.sent) {
    const name = t.variant ?? (t.experiment ? `${t.experiment}/-` : '(none)');
    const w = weight(t);
    const c = r.counted?.get(keyOf(t.experiment, t.variant));
    const line = (label: string, x: Counts) => [
      '',
      '',
      '',
      label,
      String(x.answers),
      String(x.itemsShown),
      String(x.clicks),
      String(x.addToCarts),
      String(x.purchases),
      x.revenue.toFixed(2),
    ];
    const first = line('sent', t);
    first[0] = name;
    first[1] = w === undefined ? '' : String(w);
    first[2] = String(t.shoppers);
    rows.push(first);
    if (c) rows.push(line('counted', c));
  }
  const widths = rows[0].map((_, j) => Math.max(...rows.map((row) => row[j].length)));
  for (const row of rows)
    lines.push(
      row
        .map((cell, j) => (j <= 3 ? cell.padEnd(widths[j]) : cell.padStart(widths[j])))
        .join('  ')
        .trimEnd(),
    );
  const o = r.outcomes;
  lines.push(
    `events: ${o.attributed} attributed at once, ${o.pending} waiting for their answer to be written, ${o.duplicate} duplicates, ${o.notShown} not shown, ${o.outsideWindow} outside the window, ${o.rejected} rejected; ${o.resentBatches} batches sent twice (${o.resentDuplicates} duplicates recognised); ${o.retriedRequests} requests retried`,
  );
  if (r.report) {
    lines.push(
      `the service's report, GET /admin/metrics${opts.experiment ? `?experiment=${opts.experiment}` : ''} (every answer since ${r.report.from}, this run's share is "counted" above):`,
    );
    const rrows: string[][] = [['variant', 'CTR [95%]', 'conversion [95%]', 'revenue / 1000 answers [95%]', 'CTR vs control']];
    const shown = new Set(r.sent.map((t) => keyOf(t.experiment, t.variant)));
    for (const g of r.report.groups) {
      if (!shown.has(keyOf(g.experiment, g.variant))) continue;
      const v = g.versusControl?.ctr;
      rrows.push([
        g.variant ?? '(none)',
        pct(g.rates.ctr),
        pct(g.rates.conversion),
        num(g.rates.revenuePer1000Answers),
        v
          ? `${v.difference >= 0 ? '+' : ''}${(100 * v.difference).toFixed(2)} pp, z ${v.z.toFixed(2)}, p ${v.pValue < 1e-4 ? '< 0.0001' : v.pValue.toFixed(4)}${v.significant ? ', significant' : ', not significant'}`
          : g.versusControl === null && r.definition
            ? '(control)'
            : '',
      ]);
    }
    const w2 = rrows[0].map((_, j) => Math.max(...rrows.map((row) => row[j].length)));
    for (const row of rrows)
      lines.push(
        row
          .map((cell, j) => cell.padEnd(w2[j]))
          .join('  ')
          .trimEnd(),
      );
  }
  if (r.known) lines.push(...formatKnown(r));
  if (r.check)
    lines.push(
      r.check.ok
        ? `check: the service counted exactly what was sent (answers, items shown, clicks, add-to-carts, purchases, revenue), ${r.check.settleSeconds.toFixed(1)} s after the last event`
        : `check FAILED after ${r.check.settleSeconds.toFixed(1)} s:\n  ${r.check.problems.join('\n  ')}`,
    );
  else lines.push('no check: give --admin-token to compare with the service’s report');
  return lines.join('\n');
}

const RATE_LABEL: Record<KnownRate['rate'], string> = {
  ctr: 'CTR (clicks / items shown)',
  conversion: 'conversion (answers with a purchase)',
  purchasesPerClick: 'purchases / clicks *',
};

/** The known-rate mode's table: each known probability beside the report's estimate and interval. */
function formatKnown(r: SimulationResult): string[] {
  const known = r.known ?? [];
  const lines: string[] = [];
  const rows: string[][] = [['variant', 'rate', 'known', 'measured [95%]', 'interval holds it']];
  let judged = 0;
  let missed = 0;
  for (const v of known)
    v.rates.forEach((x, i) => {
      if (x.contains !== null) judged++;
      if (x.contains === false) missed++;
      rows.push([
        i === 0 ? (v.variant ?? '(none)') : '',
        RATE_LABEL[x.rate],
        `${(100 * x.known).toFixed(2)}%`,
        pct(x.measured),
        x.contains === null ? '—' : x.contains ? 'yes' : 'NO',
      ]);
    });
  const purchases = known.some((v) => v.purchase !== null);
  lines.push(
    `known rates (${known.map((v) => `${v.variant ?? '(none)'}: click ${v.click}${v.purchase !== null ? `, purchase per click ${v.purchase}` : ''}`).join('; ')}) against the service's report:`,
  );
  const widths = rows[0].map((_, j) => Math.max(...rows.map((row) => row[j].length)));
  for (const row of rows)
    lines.push(
      row
        .map((cell, j) => (j === 2 ? cell.padStart(widths[j]) : cell.padEnd(widths[j])))
        .join('  ')
        .trimEnd(),
    );
  if (purchases)
    lines.push(
      '  conversion known = mean over answers of 1 − (1 − p·q)^(items shown); * purchases / clicks: the report’s counts, Wilson 95% computed here (the report has no such rate)',
    );
  // the report's CTR test against the known difference
  const control = known.find((v) => v.variant === r.definition?.variants[0]?.name);
  if (control && r.report)
    for (const v of known) {
      if (v === control) continue;
      const test = r.report.groups.find((g) => g.experiment === v.experiment && g.variant === v.variant)?.versusControl?.ctr;
      if (!test) continue;
      const d = v.click - control.click;
      const verdict =
        d === 0
          ? test.significant
            ? 'significant although the known CTRs are equal: a false positive (5% of runs)'
            : 'not significant, as the known CTRs are equal'
          : !test.significant
            ? 'not significant: the known difference was missed (too few shoppers for it, or chance)'
            : Math.sign(test.difference) === Math.sign(d)
              ? 'significant in the known direction'
              : 'significant in the WRONG direction';
      lines.push(
        `CTR ${v.variant} vs ${control.variant}: known ${d >= 0 ? '+' : ''}${(100 * d).toFixed(2)} pp; the report's test ${test.difference >= 0 ? '+' : ''}${(100 * test.difference).toFixed(2)} pp, z ${test.z.toFixed(2)}, p ${test.pValue < 1e-4 ? '< 0.0001' : test.pValue.toFixed(4)}: ${verdict}`,
      );
    }
  for (const v of known)
    if (v.answersBefore > 0)
      lines.push(
        `note: the report also holds ${v.answersBefore} answers of ${v.variant ?? '(none)'} from before this run; the known rates describe them only if they came from runs with the same probabilities and other seeds (the same seed repeats the same draws, and the intervals narrow as if they were new)`,
      );
  if (judged > 0)
    lines.push(
      missed === 0
        ? `every interval (${judged}) holds its known value`
        : `warning: ${missed} of ${judged} intervals miss their known value. A 95% interval misses about 1 time in 20 by chance (${judged} here: about ${(judged * 0.05).toFixed(1)} misses expected per run), so this is not a failure and does not change the exit code; misses far more often than that, over several seeds, would point at the measuring`,
    );
  return lines;
}

const int = (min: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min) throw new InvalidArgumentError(`a whole number ≥ ${min}`);
  return n;
};
const probabilities = (v: string) => {
  try {
    return parseProbabilities(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};
const fraction = (v: string) => {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('a number from 0 to 1');
  return n;
};

async function main(argv: string[]): Promise<number> {
  const program = new Command('simulate')
    .description('Simulated shoppers against a running deployment: recommendations, events with recIds, and a check of the counts')
    .requiredOption('--url <url>', 'the deployment, e.g. http://127.0.0.1:8787')
    .option('--api-key <key>', 'API_KEY (events need it)', process.env.API_KEY)
    .option('--admin-token <token>', 'ADMIN_TOKEN: read the report and check the counts', process.env.ADMIN_TOKEN)
    .addOption(new Option('--users <n>', 'shoppers').argParser(int(1)).default(200))
    .addOption(new Option('--sessions-per-user <n>', 'recommendation requests per shopper').argParser(int(1)).default(2))
    .addOption(new Option('--seed <n>', 'seed of every random choice').argParser(int(0)).default(1))
    .addOption(new Option('--concurrency <n>', 'shoppers at once').argParser(int(1)).default(8))
    .addOption(new Option('--k <n>', 'items per answer').argParser(int(1)).default(10))
    .option('--placement <name>', 'ask for this placement')
    .option('--experiment <name>', 'the experiment to report on and check (its variants, control first)')
    .option('--data <path>', "Online Retail file for the shoppers' tastes", DEFAULT_DATA)
    .option('--no-data', "tastes from the service's catalogue instead")
    .addOption(new Option('--settle-seconds <n>', 'wait at most this long for the counters').argParser(int(0)).default(30))
    .addOption(new Option('--retry-rate <x>', 'share of event batches sent twice').argParser(fraction).default(0.1))
    .addOption(
      new Option(
        '--click-probability <variant=p,...>',
        'known rates: every item shown is clicked with its variant’s probability p, whatever its position (keys: variant names or model versions, * for any other)',
      ).argParser(probabilities),
    )
    .addOption(
      new Option(
        '--purchase-probability <variant=q,...>',
        'known rates: a clicked item is put in the cart and bought with probability q (default: nothing is bought)',
      ).argParser(probabilities),
    )
    .parse(argv);
  const o = program.opts<{
    url: string;
    apiKey?: string;
    adminToken?: string;
    users: number;
    sessionsPerUser: number;
    seed: number;
    concurrency: number;
    k: number;
    placement?: string;
    experiment?: string;
    data: string | false;
    settleSeconds: number;
    retryRate: number;
    clickProbability?: Probabilities;
    purchaseProbability?: Probabilities;
  }>();
  if (o.purchaseProbability && !o.clickProbability) program.error('--purchase-probability needs --click-probability');
  if (!o.apiKey) program.error('--api-key (or API_KEY) is needed: events are written with it');
  let data: string | null = null;
  if (o.data !== false) {
    if (existsSync(o.data)) data = resolve(o.data);
    else if (o.data !== DEFAULT_DATA) program.error(`--data ${o.data}: no such file`);
    else console.error(`${DEFAULT_DATA} not found: tastes from the service's catalogue`);
  }
  const opts: SimulateOptions = {
    url: o.url,
    apiKey: o.apiKey as string,
    adminToken: o.adminToken || undefined,
    users: o.users,
    sessionsPerUser: o.sessionsPerUser,
    seed: o.seed,
    concurrency: o.concurrency,
    k: o.k,
    ...(o.placement ? { placement: o.placement } : {}),
    ...(o.experiment ? { experiment: o.experiment } : {}),
    data,
    settleSeconds: o.settleSeconds,
    retryRate: o.retryRate,
    ...(o.clickProbability ? { clickProbability: o.clickProbability } : {}),
    ...(o.purchaseProbability ? { purchaseProbability: o.purchaseProbability } : {}),
    log: (line) => console.error(line),
  };
  const result = await simulateShoppers(opts);
  console.log(formatResult(result, opts));
  return result.check && !result.check.ok ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href)
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = 2;
    },
  );
