/**
 * What operators read: experiment and placement reports from the stored counts (rates with 95%
 * intervals, tests against the control), traffic with errors and latency percentiles per hour,
 * and an overview of the model versions and refresh history. Everything is computed from the
 * counters' sums — never sampled or estimated.
 */

import { FILES, manifestSchema } from '@edge-recs/core/manifest';
import { meanInterval, scaled, twoProportionTest, welchTest, wilson } from '@edge-recs/core/stats';
import { HOUR_MS } from '@edge-recs/core/time';
import type { z } from 'zod';
import { BUNDLED } from '../models/registry';
import type { MetricsReport as MetricsReportSchema, Overview as OverviewSchema, TrafficReport as TrafficReportSchema } from '../schemas';
import type { Experiment } from '../storage/experiments';
import { R2 } from '../storage/keys';
import { type CountRow, LATENCY_BUCKETS, type MetricsClient } from '../storage/metrics';
import { readActivePointer, readRefreshLog } from '../storage/refresh-state';

/** The report types are the response schemas' own (one truth for the server and the OpenAPI document). */
export type MetricsReport = z.infer<typeof MetricsReportSchema>;
export type GroupBy = MetricsReport['groupBy'];
export type ReportGroup = MetricsReport['groups'][number];
export type Rates = ReportGroup['rates'];
/** Tests of a variant against the control (null where a side has no data). */
export type Comparison = Omit<NonNullable<ReportGroup['versusControl']>, 'control'>;
/** The counted totals of a group: answers, items shown, clicks, add-to-carts, purchases, revenue. */
export type Totals = Pick<ReportGroup, 'answers' | 'itemsShown' | 'clicks' | 'addToCarts' | 'purchases' | 'revenue'>;

interface Sums extends Totals {
  clicksSq: number;
  answersClicked: number;
  answersPurchased: number;
  revenueSq: number;
}

const zero = (): Sums => ({
  answers: 0,
  itemsShown: 0,
  clicks: 0,
  clicksSq: 0,
  answersClicked: 0,
  addToCarts: 0,
  purchases: 0,
  answersPurchased: 0,
  revenue: 0,
  revenueSq: 0,
});

function addInto(s: Sums, r: CountRow): void {
  s.answers += r.answers;
  s.itemsShown += r.itemsShown;
  s.clicks += r.clicks;
  s.clicksSq += r.clicksSq;
  s.answersClicked += r.answersClicked;
  s.addToCarts += r.addToCarts;
  s.purchases += r.purchases;
  s.answersPurchased += r.answersPurchased;
  s.revenue += r.revenue;
  s.revenueSq += r.revenueSq;
}

export function ratesOf(s: Sums): Rates {
  return {
    ctr: wilson(s.clicks, s.itemsShown),
    clicksPerAnswer: meanInterval(s.clicks, s.clicksSq, s.answers, { nonNegative: true }),
    conversion: wilson(s.answersPurchased, s.answers),
    addToCartRate: wilson(s.addToCarts, s.itemsShown),
    revenuePer1000Answers: scaled(meanInterval(s.revenue, s.revenueSq, s.answers, { nonNegative: true }), 1000),
  };
}

export function versus(control: Sums, treatment: Sums): Comparison {
  return {
    ctr: twoProportionTest(control.clicks, control.itemsShown, treatment.clicks, treatment.itemsShown),
    conversion: twoProportionTest(control.answersPurchased, control.answers, treatment.answersPurchased, treatment.answers),
    revenuePerAnswer: welchTest(
      { sum: control.revenue, sumSq: control.revenueSq, n: control.answers },
      { sum: treatment.revenue, sumSq: treatment.revenueSq, n: treatment.answers },
    ),
  };
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/** The hour range [from, to) of a report: whole hours covering the times asked (default: the last 24 hours). */
export function hourRange(fromMs: number | undefined, toMs: number | undefined, now: number): { fromHour: number; toHour: number } {
  const toHour = Math.ceil((toMs ?? now) / HOUR_MS);
  const fromHour = Math.floor((fromMs ?? toHour * HOUR_MS - 24 * HOUR_MS) / HOUR_MS);
  return { fromHour, toHour: Math.max(toHour, fromHour + 1) };
}

export async function metricsReport(
  deps: { metrics: MetricsClient; experiments: () => Promise<Experiment[]> },
  q: { fromMs?: number; toMs?: number; placement?: string; experiment?: string; groupBy: GroupBy },
  now: number,
): Promise<MetricsReport> {
  const { fromHour, toHour } = hourRange(q.fromMs, q.toMs, now);
  const rows = (await deps.metrics.counts(fromHour, toHour)).filter(
    (r) => (q.placement === undefined || r.placement === q.placement) && (q.experiment === undefined || r.experiment === q.experiment),
  );
  const keyOf = (r: CountRow): string => {
    switch (q.groupBy) {
      case 'variant':
        return JSON.stringify([r.experiment, r.variant]);
      case 'placement':
        return r.placement;
      case 'version':
        return r.version;
      default:
        return String(r.hour);
    }
  };
  const sums = new Map<string, Sums>();
  for (const r of rows) {
    const k = keyOf(r);
    const s = sums.get(k) ?? zero();
    sums.set(k, s);
    addInto(s, r);
  }
  const definition = q.experiment !== undefined ? (await deps.experiments()).find((e) => e.name === q.experiment) : undefined;
  // an experiment's variants in their defined order (those without traffic yet too); the first is the control
  if (q.groupBy === 'variant' && definition)
    for (const v of definition.variants) {
      const k = JSON.stringify([definition.name, v.name]);
      if (!sums.has(k)) sums.set(k, zero());
    }
  const order = definition?.variants.map((v) => v.name) ?? [];
  let keys = [...sums.keys()];
  if (q.groupBy === 'hour') keys.sort((a, b) => Number(a) - Number(b));
  else if (q.groupBy === 'variant') {
    const rank = (k: string) => {
      const [e, v] = JSON.parse(k) as [string, string];
      const i = e === q.experiment ? order.indexOf(v) : -1;
      return i >= 0 ? i : order.length;
    };
    keys = keys.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  } else keys.sort();
  const controlKey = definition && q.groupBy === 'variant' ? JSON.stringify([definition.name, definition.variants[0].name]) : undefined;
  const control = controlKey !== undefined ? sums.get(controlKey) : undefined;
  const groups = keys.map((k) => {
    const s = sums.get(k) as Sums;
    const label: Partial<ReportGroup> =
      q.groupBy === 'variant'
        ? (() => {
            const [e, v] = JSON.parse(k) as [string, string];
            return { experiment: e || null, variant: v || null };
          })()
        : q.groupBy === 'placement'
          ? { placement: k || null }
          : q.groupBy === 'version'
            ? { version: k }
            : { hour: new Date(Number(k) * HOUR_MS).toISOString() };
    return {
      ...label,
      answers: s.answers,
      itemsShown: s.itemsShown,
      clicks: s.clicks,
      addToCarts: s.addToCarts,
      purchases: s.purchases,
      revenue: round(s.revenue),
      rates: ratesOf(s),
      versusControl: control && definition && k !== controlKey ? { control: definition.variants[0].name, ...versus(control, s) } : null,
    } as ReportGroup;
  });
  return {
    from: new Date(fromHour * HOUR_MS).toISOString(),
    to: new Date(toHour * HOUR_MS).toISOString(),
    placement: q.placement ?? null,
    experiment: q.experiment ?? null,
    groupBy: q.groupBy,
    groups,
  };
}

export type TrafficReport = z.infer<typeof TrafficReportSchema>;
export type TrafficLine = Omit<TrafficReport['hours'][number], 'hour'>;
export type Percentiles = TrafficLine['latencyMs'];

/** Percentiles from a latency histogram: the upper bound of the bucket holding each rank. */
export function percentiles(hist: readonly number[]): Percentiles {
  const n = hist.reduce((a, b) => a + b, 0);
  const at = (q: number): number | null => {
    if (n === 0) return null;
    const rank = Math.ceil(q * n);
    let acc = 0;
    for (let b = 0; b < hist.length; b++) {
      acc += hist[b];
      if (acc >= rank) return round(LATENCY_BUCKETS[Math.min(b, LATENCY_BUCKETS.length - 1)]);
    }
    return round(LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1]);
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

export async function trafficReport(metrics: MetricsClient, q: { fromMs?: number; toMs?: number }, now: number): Promise<TrafficReport> {
  const { fromHour, toHour } = hourRange(q.fromMs, q.toMs, now);
  const rows = await metrics.traffic(fromHour, toHour);
  const lines = new Map<string, { line: TrafficLine; hist: number[] }>();
  const add = (key: string, r: (typeof rows)[number]) => {
    let l = lines.get(key);
    if (!l) {
      l = {
        line: { requests: 0, status2xx: 0, status3xx: 0, status4xx: 0, status5xx: 0, latencyMs: { p50: null, p95: null, p99: null } },
        hist: [],
      };
      lines.set(key, l);
    }
    l.line.requests += r.requests;
    const field = `status${r.statusClass}xx` as 'status2xx';
    if (field in l.line) l.line[field] += r.requests;
    r.latency.forEach((n, b) => {
      l.hist[b] = (l.hist[b] ?? 0) + n;
    });
  };
  for (const r of rows) {
    add(`h:${r.hour}`, r);
    add(`r:${r.route}`, r);
  }
  const done = (l: { line: TrafficLine; hist: number[] }) => ({ ...l.line, latencyMs: percentiles(Array.from(l.hist, (x) => x ?? 0)) });
  const hours: TrafficReport['hours'] = [];
  for (let h = fromHour; h < toHour; h++) {
    const l = lines.get(`h:${h}`);
    hours.push({
      hour: new Date(h * HOUR_MS).toISOString(),
      ...(l
        ? done(l)
        : { requests: 0, status2xx: 0, status3xx: 0, status4xx: 0, status5xx: 0, latencyMs: { p50: null, p95: null, p99: null } }),
    });
  }
  const routes = [...lines]
    .filter(([k]) => k.startsWith('r:'))
    .map(([k, l]) => ({ route: k.slice(2), ...done(l) }))
    .sort((a, b) => b.requests - a.requests);
  return { from: new Date(fromHour * HOUR_MS).toISOString(), to: new Date(toHour * HOUR_MS).toISOString(), hours, routes };
}

export type Overview = z.infer<typeof OverviewSchema>;
export type VersionInfo = Overview['versions'][number];

/** The model versions this deployment can serve (with their offline metrics), the refresh log and the experiments. */
/** What the operator overview reads: the registry's pointer and refresh log, manifests, experiments. */
export interface OverviewDeps {
  kv: KVNamespace;
  bucket: R2Bucket;
  bundledManifest: () => Promise<unknown>;
  experiments: () => Promise<Experiment[]>;
}

export async function overview(deps: OverviewDeps): Promise<Overview> {
  const pointer = await readActivePointer(deps.kv);
  // a version the registry names but whose manifest cannot be read is listed with why, not left out:
  // the operator must see that a kept (perhaps experiment-pinned) version is gone from the bucket
  const unreadable = (version: string, role: VersionInfo['role'], problem: string): VersionInfo => ({
    version,
    role,
    problem,
    trainedAt: null,
    itemCount: null,
    userCount: null,
    dims: null,
    itemModel: null,
    metrics: null,
  });
  const describe = (version: string, raw: unknown, role: VersionInfo['role']): VersionInfo => {
    const parsed = manifestSchema.safeParse(raw);
    if (!parsed.success) return unreadable(version, role, `${FILES.manifest} is not a model manifest`);
    const m = parsed.data;
    return {
      version: m.version,
      role,
      problem: null,
      trainedAt: m.createdAt,
      itemCount: m.itemCount,
      userCount: m.userCount,
      dims: m.dims,
      itemModel: m.itemModel !== undefined,
      metrics: m.metrics,
    };
  };
  const fromR2 = async (version: string, role: VersionInfo['role']) => {
    const obj = await deps.bucket.get(R2.modelFile(version, FILES.manifest));
    if (!obj) return unreadable(version, role, `${FILES.manifest} is missing from the models bucket`);
    const raw = await obj.json().catch(() => null);
    return describe(version, raw, role);
  };
  // a pointer naming "bundled" (a rollback to it that keeps a version an experiment pins): the bundled model is active
  const bundledActive = !pointer || pointer.version === BUNDLED;
  const versions = await Promise.all([
    ...(pointer && !bundledActive ? [fromR2(pointer.version, 'active')] : []),
    ...(pointer ? pointer.previous.map((v) => fromR2(v, 'previous')) : []),
    deps.bundledManifest().then((m) => describe(BUNDLED, m, bundledActive ? 'active' : 'bundled')),
  ]);
  const [refreshLog, experiments] = await Promise.all([readRefreshLog(deps.kv), deps.experiments()]);
  return { versions, refreshLog, experiments };
}
