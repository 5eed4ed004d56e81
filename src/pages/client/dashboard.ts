/**
 * The operator dashboard's behaviour (bundled by scripts/build.ts into /assets/dashboard.js).
 *
 * The admin token is asked for once and kept in sessionStorage (this tab only; never in the URL or
 * localStorage) until the operator forgets it; nothing is requested before there is one. A token
 * the API refuses is dropped at once: the page says so and shows no data. With a good token it reads
 * GET /admin/overview (model versions, refresh log, experiments), GET /v1/model (what this isolate
 * serves, its item model, the last refresh), /admin/traffic (per hour and per route) and
 * /admin/metrics (per placement, per model version, and per variant of the chosen experiment) for
 * the chosen range, and stops an experiment (POST /admin/experiments/{name}/stop, then
 * GET /admin/experiments/{name} to show what the API now says). Every number on the page is one the
 * API returned; the page computes only sums for its summary lines.
 * Only types come from src/schemas.ts (no zod in the bundle).
 */

import { HOUR_MS } from '@edge-recs/core/time';
import type { z } from '@hono/zod-openapi';
import type { ExperimentView, MetricsReport, ModelInfo, Overview, TrafficReport } from '../../schemas';
import { clearChart, type Interval, intervalChart, seriesChart, stackedBarChart } from './lib/charts';
import { ApiError, api, byId, esc } from './lib/dom';

type OverviewT = z.infer<typeof Overview>;
type Experiment = z.infer<typeof ExperimentView>;
type Metrics = z.infer<typeof MetricsReport>;
type Group = Metrics['groups'][number];
type Traffic = z.infer<typeof TrafficReport>;
type Test = NonNullable<NonNullable<Group['versusControl']>['ctr']>;

const TOKEN_KEY = 'edge-recs-admin-token';

/* ---- the token ---- */

function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage unavailable: the token lasts for this page only
  }
}
function keepToken(t: string | null): void {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage unavailable
  }
}

let token: string | null = storedToken();
/** Bumped on every (re)load and sign-out: answers of an older round are dropped. */
let round = 0;
/** The experiment whose variants are shown. */
let selected: string | null = null;
let experiments: Experiment[] = [];

/** The API refused the token (401). */
class Refused extends Error {}

/** An admin data route with the bearer token; a 401 is a Refused. No token, no request. */
async function admin<T>(path: string, init: RequestInit = {}): Promise<T> {
  if (!token) throw new Refused('no token');
  try {
    return await api<T>(path, { ...init, cache: 'no-store', headers: { ...init.headers, authorization: `Bearer ${token}` } });
  } catch (e) {
    if (e instanceof ApiError && e.code === 'unauthorized') throw new Refused(e.message);
    throw e;
  }
}

const state = (s: 'signed-out' | 'loading' | 'ready' | 'refused' | 'failed') => {
  document.body.dataset.state = s;
};
const say = (id: string, text: string, error = false) => {
  const el = byId(id);
  el.textContent = text;
  el.classList.toggle('error', error);
};
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/* ---- formatting ---- */

const count = (n: number) => n.toLocaleString('en-GB');
const money = (n: number) => n.toLocaleString('en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const time = (iso: string | undefined | null) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : '—');
const hourLabel = (iso: string) => `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
const num = (v: number | null | undefined, digits = 4) => (typeof v === 'number' ? v.toFixed(digits) : '—');
/** "p < 0.001" or "p = 0.042" */
const pValue = (p: number) => (p < 0.001 ? 'p < 0.001' : `p = ${p.toFixed(3)}`);

const td = (text: string, attrs: Record<string, string | number | boolean | null | undefined> = {}, cls?: string) => {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => ` data-${k}="${esc(v)}"`)
    .join('');
  return `<td${cls ? ` class="${cls}"` : ''}${a}>${text}</td>`;
};
const countCell = (key: string, n: number) => td(esc(count(n)), { key, value: n });

/** An estimate with its 95% interval below it; `show` formats the numbers. */
function intervalCell(key: string, iv: Interval | null, show: (x: number) => string): string {
  if (!iv) return td('—', { key, value: 'null' });
  return td(`${esc(show(iv.estimate))}<span class="interval">95%: ${esc(show(iv.low))} – ${esc(show(iv.high))}</span>`, {
    key,
    value: iv.estimate,
    low: iv.low,
    high: iv.high,
  });
}

/** A test against the control: the difference (in `unit`), the p-value, significant yes/no. */
function testCell(key: string, t: Test | null | undefined, diff: (x: number) => string): string {
  if (!t) return td('—', { key, value: 'null' });
  const sig = t.significant ? '<span class="yes">significant: yes</span>' : '<span class="no">significant: no</span>';
  return td(`${esc(diff(t.difference))}<span class="interval">${esc(pValue(t.pValue))} · ${sig}</span>`, {
    key,
    value: t.difference,
    p: t.pValue,
    significant: t.significant,
  });
}
const signed = (s: string) => (s.startsWith('-') ? s : `+${s}`);
const pp = (x: number) => `${signed((x * 100).toFixed(2))} pp`;

/** The counts and rates of a report group: the cells after its name. */
const rateCells = (g: Group) =>
  [
    countCell('answers', g.answers),
    countCell('itemsShown', g.itemsShown),
    countCell('clicks', g.clicks),
    countCell('addToCarts', g.addToCarts),
    countCell('purchases', g.purchases),
    td(esc(money(g.revenue)), { key: 'revenue', value: g.revenue }),
    intervalCell('ctr', g.rates.ctr, pct),
    intervalCell('addToCartRate', g.rates.addToCartRate, pct),
    intervalCell('conversion', g.rates.conversion, pct),
    intervalCell('revenuePer1000Answers', g.rates.revenuePer1000Answers, money),
  ].join('');

function fill(tableId: string, rows: string[], empty: string, cols: number): void {
  const body = byId(tableId).querySelector('tbody');
  if (!body) return;
  body.innerHTML = rows.length ? rows.join('') : `<tr class="empty"><td class="text muted" colspan="${cols}">${esc(empty)}</td></tr>`;
}
const colCount = (tableId: string) => byId(tableId).querySelectorAll('thead th').length;

/* ---- the range ---- */

/** Whole hours ending with the current one: [from, to) as the reports count them. */
function range(): { from: string; to: string; hours: number } {
  const hours = Number(byId<HTMLSelectElement>('range').value) || 24;
  const to = (Math.floor(Date.now() / HOUR_MS) + 1) * HOUR_MS;
  return { from: new Date(to - hours * HOUR_MS).toISOString(), to: new Date(to).toISOString(), hours };
}
const rangeQuery = (r: ReturnType<typeof range>) => `from=${encodeURIComponent(r.from)}&to=${encodeURIComponent(r.to)}`;

/* ---- sections ---- */

type Metric = { 'recall@20': number; 'recall@50': number; 'ndcg@100': number };
/** One evaluation (model, factors, itemModel, popularity) from a manifest's metrics, when present and well-formed. */
function metric(m: Record<string, unknown> | null, key: string): Metric | undefined {
  const v = m?.[key] as Partial<Metric> | undefined;
  return v && typeof v['ndcg@100'] === 'number' && typeof v['recall@20'] === 'number' ? (v as Metric) : undefined;
}

type Serving = z.infer<typeof ModelInfo>;

/** What this isolate serves (GET /v1/model); `null` when that route refused (REQUIRE_API_KEY_FOR_READS). */
function renderServing(serving: Serving | null, why: string | null): void {
  const item = byId('item-model');
  if (!serving) {
    byId('serving').textContent =
      `GET /v1/model did not answer (${why ?? 'no answer'}): on a deployment with REQUIRE_API_KEY_FOR_READS the page cannot read what this isolate serves; the versions below come from the admin overview.`;
    item.textContent = '';
    return;
  }
  const last = serving.lastRefresh;
  byId('serving').textContent =
    `Serving ${serving.version} (${serving.source}, trained ${time(serving.trainedAt)}): ${serving.algorithm} factors, ${count(serving.itemCount)} items × ${serving.dims} dims, scored with ${serving.scoring}.` +
    (serving.previousVersions.length ? ` Kept for rollback: ${serving.previousVersions.join(', ')}.` : '') +
    (last ? ` Last refresh: ${last.outcome} at ${time(last.at)}${last.reason ? ` (${last.reason})` : ''}.` : ' No refresh has run yet.') +
    (serving.damagedFiles.length ? ` Damaged files: ${serving.damagedFiles.join(', ')}.` : '');
  byId('serving').dataset.version = serving.version;
  const m = serving.itemModel;
  item.textContent = m
    ? `Item model: ${m.algorithm}, up to ${m.neighbours} neighbours per item (${m.weightType} weights), blended with weight ${m.blend.factorWeight} on the factors (${m.blend.neighbourInput} neighbour input); bought-together lists ${m.boughtTogether ? 'learned from baskets' : 'not learned'}.`
    : 'Item model: none (factors only).';
}

function renderOverview(o: OverviewT, serving: Serving | null): void {
  const cols = colCount('versions-table');
  const rows = o.versions.map((v) => {
    const model = metric(v.metrics, 'model');
    const bundledActive = v.role === 'active' && serving?.version === v.version && serving.source === 'bundled';
    const role = bundledActive ? 'active (bundled)' : v.role;
    const head = [
      td(`<code>${esc(v.version)}</code>`, { key: 'version', value: v.version }),
      td(esc(role), { key: 'role', value: v.role }, 'text'),
    ];
    // a version named by the registry whose manifest is gone: say so across the row rather than hide it
    if (v.problem !== null || v.itemCount === null || v.userCount === null || v.dims === null)
      return `<tr data-version="${esc(v.version)}" data-role="${esc(v.role)}" class="problem">${head.join('')}<td class="text problem" data-key="problem" colspan="${cols - head.length}">Cannot be read: ${esc(v.problem ?? 'no manifest')}</td></tr>`;
    return `<tr data-version="${esc(v.version)}" data-role="${esc(v.role)}">${[
      ...head,
      td(esc(time(v.trainedAt)), { key: 'trainedAt', value: v.trainedAt }),
      countCell('itemCount', v.itemCount),
      countCell('userCount', v.userCount),
      countCell('dims', v.dims),
      td(v.itemModel ? 'yes' : 'no', { key: 'itemModel', value: v.itemModel }),
      td(num(model?.['ndcg@100']), { key: 'ndcg', value: model?.['ndcg@100'] }),
      td(num(model?.['recall@20']), { key: 'recall20', value: model?.['recall@20'] }),
      td(num(metric(v.metrics, 'factors')?.['ndcg@100']), { key: 'factorsNdcg', value: metric(v.metrics, 'factors')?.['ndcg@100'] }),
      td(num(metric(v.metrics, 'itemModel')?.['ndcg@100']), { key: 'itemModelNdcg', value: metric(v.metrics, 'itemModel')?.['ndcg@100'] }),
      td(num(metric(v.metrics, 'popularity')?.['ndcg@100']), {
        key: 'popularityNdcg',
        value: metric(v.metrics, 'popularity')?.['ndcg@100'],
      }),
    ].join('')}</tr>`;
  });
  fill('versions-table', rows, 'No model version is readable.', cols);
  fill(
    'refresh-log',
    o.refreshLog.map(
      (r) =>
        `<tr data-outcome="${esc(r.outcome)}">${[
          td(esc(time(r.at)), { key: 'at', value: r.at }),
          td(esc(r.outcome), { key: 'outcome', value: r.outcome }, 'text'),
          td(r.version ? `<code>${esc(r.version)}</code>` : '—', { key: 'version', value: r.version }, 'text'),
          td(`${esc(r.reason ?? '—')}${r.detail ? `<span class="interval">${esc(r.detail)}</span>` : ''}`, { key: 'reason' }, 'text'),
        ].join('')}</tr>`,
    ),
    'No refresh has run yet: the cron runs every 15 minutes, POST /admin/refresh runs one now. Until a model is published and activated, the bundled model serves.',
    colCount('refresh-log'),
  );
}

const trafficCells = (l: Traffic['hours'][number] | Traffic['routes'][number]) =>
  [
    countCell('requests', l.requests),
    countCell('status2xx', l.status2xx),
    countCell('status3xx', l.status3xx),
    countCell('status4xx', l.status4xx),
    countCell('status5xx', l.status5xx),
    td(num(l.latencyMs.p50, 1), { key: 'p50', value: l.latencyMs.p50 ?? 'null' }),
    td(num(l.latencyMs.p95, 1), { key: 'p95', value: l.latencyMs.p95 ?? 'null' }),
    td(num(l.latencyMs.p99, 1), { key: 'p99', value: l.latencyMs.p99 ?? 'null' }),
  ].join('');

/** Status classes, in the order they stack, with their colours. */
const CLASSES = [
  { key: 'status2xx', label: '2xx', color: '#3b6ea5' },
  { key: 'status3xx', label: '3xx', color: '#7a7f8c' },
  { key: 'status4xx', label: '4xx', color: '#c98a00' },
  { key: 'status5xx', label: '5xx', color: '#b3261e' },
] as const;
/** Routes drawn in the per-route chart (all of them are in the table below it). */
const CHART_ROUTES = 10;

function renderTraffic(t: Traffic): void {
  const sum = (f: (h: Traffic['hours'][number]) => number) => t.hours.reduce((s, h) => s + f(h), 0);
  const total = sum((h) => h.requests);
  byId('traffic-range').textContent =
    `${time(t.from)} to ${time(t.to)}: ${count(total)} requests, ${count(sum((h) => h.status4xx))} 4xx, ${count(
      sum((h) => h.status5xx),
    )} 5xx, on ${count(t.routes.length)} routes.`;
  byId('traffic-empty').hidden = total > 0;
  const labels = t.hours.map((h) => hourLabel(h.hour));
  stackedBarChart(
    byId<HTMLCanvasElement>('chart-requests'),
    labels,
    CLASSES.map((c) => ({ label: c.label, data: t.hours.map((h) => h[c.key]), color: c.color })),
    'requests per hour',
  );
  seriesChart(
    byId<HTMLCanvasElement>('chart-latency'),
    labels,
    [
      { label: 'p50', data: t.hours.map((h) => h.latencyMs.p50), color: '#0b6e4f' },
      { label: 'p95', data: t.hours.map((h) => h.latencyMs.p95), color: '#c98a00' },
      { label: 'p99', data: t.hours.map((h) => h.latencyMs.p99), color: '#b3261e' },
    ],
    'ms',
  );
  const busiest = t.routes.slice(0, CHART_ROUTES);
  stackedBarChart(
    byId<HTMLCanvasElement>('chart-routes'),
    busiest.map((r) => r.route),
    CLASSES.map((c) => ({ label: c.label, data: busiest.map((r) => r[c.key]), color: c.color })),
    'requests in the range',
    true,
  );
  fill(
    'traffic-table',
    t.hours.map((h) => `<tr data-hour="${esc(h.hour)}">${td(esc(time(h.hour)), { key: 'hour', value: h.hour })}${trafficCells(h)}</tr>`),
    'No hours in the range.',
    colCount('traffic-table'),
  );
  fill(
    'routes-table',
    t.routes.map(
      (r) =>
        `<tr data-route="${esc(r.route)}">${td(`<code>${esc(r.route)}</code>`, { key: 'route', value: r.route }, 'text')}${trafficCells(r)}</tr>`,
    ),
    'No request was counted in the range yet.',
    colCount('routes-table'),
  );
}

/** Why a report has no rows: nothing answered with a recId in the range (yet). */
const NO_ANSWERS =
  'No answers in the range yet. Every recommendation answer (with its recId) is counted here once its batch is written; clicks, add-to-carts and purchases count when they carry that recId.';

function renderExperiments(): void {
  const rows = experiments.map((e) => {
    const variants = e.variants
      .map(
        (v, i) =>
          `${esc(v.name)}${i === 0 ? ' (control)' : ''}: ${esc(v.weight)} · ${esc(v.modelVersion ?? 'active')}${v.placement ? ` · ${esc(v.placement)}` : ''}`,
      )
      .join('<br />');
    const stop =
      e.status === 'running'
        ? ` <button type="button" class="danger" data-stop="${esc(e.name)}" aria-label="Stop the experiment ${esc(e.name)}">Stop</button>`
        : '';
    return `<tr data-experiment="${esc(e.name)}" data-status="${esc(e.status)}"${e.name === selected ? ' class="selected"' : ''}>${[
      td(`<strong>${esc(e.name)}</strong>${e.description ? `<span class="interval">${esc(e.description)}</span>` : ''}`, {}, 'text'),
      td(esc(e.status), { key: 'status', value: e.status }, `text status-${e.status}`),
      td(esc(e.placement ?? 'every placement without its own'), { key: 'placement', value: e.placement ?? '' }, 'text'),
      td(variants, { key: 'variants', value: e.variants.map((v) => v.name).join(',') }, 'text'),
      td(esc(time(e.createdAt)), { key: 'createdAt', value: e.createdAt }),
      td(esc(time(e.stoppedAt)), { key: 'stoppedAt', value: e.stoppedAt }),
      td(
        `<button type="button" data-select="${esc(e.name)}" aria-label="Show the variants of ${esc(e.name)}"${e.name === selected ? ' aria-pressed="true"' : ''}>Show</button>${stop}`,
      ),
    ].join('')}</tr>`;
  });
  fill(
    'experiments-table',
    rows,
    'No experiment yet. Start one with PUT /admin/experiments/{name} (variants naming a model version and/or a placement, with weights); it shows here with its variants and a Stop button.',
    colCount('experiments-table'),
  );
  byId('selected-experiment').textContent = selected ?? 'no experiment';
}

function renderVariants(report: Metrics | null): void {
  const canvas = byId<HTMLCanvasElement>('chart-variants');
  const table = byId('variant-table');
  if (!report) {
    fill('variant-table', [], 'No experiment to show: the variants of the chosen experiment appear here.', colCount('variant-table'));
    clearChart(canvas);
    delete table.dataset.experiment;
    return;
  }
  table.dataset.experiment = report.experiment ?? '';
  const rows = report.groups.map((g) => {
    const vs = g.versusControl;
    const name = g.variant ?? 'outside the experiment';
    return `<tr data-variant="${esc(g.variant ?? '')}">${[
      td(`${esc(name)}${vs ? '' : ' <span class="muted">(control)</span>'}`, { key: 'variant', value: g.variant ?? '' }, 'text'),
      rateCells(g),
      testCell('vs.ctr', vs?.ctr, pp),
      testCell('vs.conversion', vs?.conversion, pp),
      testCell('vs.revenuePerAnswer', vs?.revenuePerAnswer, (x) => signed(x.toFixed(2))),
    ].join('')}</tr>`;
  });
  fill('variant-table', rows, NO_ANSWERS, colCount('variant-table'));
  if (report.groups.every((g) => g.answers === 0))
    say('experiments-status', `No answer of ${report.experiment} in the range yet: its variants show zero answers and no rates.`);
  intervalChart(
    canvas,
    report.groups.map((g) => g.variant ?? 'outside'),
    [
      { label: 'CTR', color: '#0b6e4f', values: report.groups.map((g) => g.rates.ctr) },
      { label: 'Conversion', color: '#c0661a', values: report.groups.map((g) => g.rates.conversion) },
    ],
  );
}

/** A report per placement or per model version: the table, and for placements the rates chart. */
function renderGroups(report: Metrics, tableId: string, key: 'placement' | 'version', canvasId?: string): void {
  const name = (g: Group) => (key === 'placement' ? (g.placement ?? 'none') : (g.version ?? ''));
  fill(
    tableId,
    report.groups.map(
      (g) =>
        `<tr data-${key}="${esc(g[key] ?? '')}">${td(key === 'version' ? `<code>${esc(name(g))}</code>` : esc(name(g)), { key, value: g[key] ?? '' }, 'text')}${rateCells(g)}</tr>`,
    ),
    NO_ANSWERS,
    colCount(tableId),
  );
  if (!canvasId) return;
  const canvas = byId<HTMLCanvasElement>(canvasId);
  if (report.groups.length === 0) clearChart(canvas);
  else
    intervalChart(canvas, report.groups.map(name), [
      { label: 'CTR', color: '#0b6e4f', values: report.groups.map((g) => g.rates.ctr) },
      { label: 'Conversion', color: '#c0661a', values: report.groups.map((g) => g.rates.conversion) },
    ]);
}

/* ---- loading ---- */

type Range = ReturnType<typeof range>;

async function loadVariants(r: Range, mine: number): Promise<void> {
  if (!selected) return renderVariants(null);
  const report = await admin<Metrics>(`/admin/metrics?experiment=${encodeURIComponent(selected)}&groupBy=variant&${rangeQuery(r)}`);
  if (mine === round) renderVariants(report);
}

async function loadTraffic(r: Range, mine: number): Promise<void> {
  const t = await admin<Traffic>(`/admin/traffic?${rangeQuery(r)}`);
  if (mine === round) renderTraffic(t);
}

async function loadGroups(r: Range, mine: number, key: 'placement' | 'version'): Promise<void> {
  const report = await admin<Metrics>(`/admin/metrics?groupBy=${key}&${rangeQuery(r)}`);
  if (mine !== round) return;
  if (key === 'placement') renderGroups(report, 'placement-table', 'placement', 'chart-placements');
  else renderGroups(report, 'version-table', 'version');
}

/** What this isolate serves; the public route may need the API key on some deployments, so a refusal is shown, not fatal. */
async function loadServing(): Promise<{ serving: Serving | null; why: string | null }> {
  try {
    return { serving: await api<Serving>('/v1/model', { cache: 'no-store' }), why: null };
  } catch (e) {
    return { serving: null, why: message(e) };
  }
}

/** Picks the experiment to show: the one chosen before if it still exists, else the newest running one, else the newest. */
function choose(): void {
  if (selected && experiments.some((e) => e.name === selected)) return;
  const newest = [...experiments].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  selected = (newest.find((e) => e.status === 'running') ?? newest[0])?.name ?? null;
}

/** A section's own failure shows in it; a refused token signs out. */
async function guarded(statusId: string, task: Promise<void>): Promise<void> {
  try {
    await task;
  } catch (e) {
    if (e instanceof Refused) throw e;
    say(statusId, `Could not load: ${message(e)}`, true);
  }
}

/** Loads everything with the token; the first answer says whether the token is accepted. */
async function loadAll(): Promise<void> {
  const mine = ++round;
  const r = range();
  state('loading');
  byId('dashboard').setAttribute('aria-busy', 'true');
  try {
    const [overview, { serving, why }] = await Promise.all([admin<OverviewT>('/admin/overview'), loadServing()]);
    if (mine !== round) return;
    showDashboard();
    experiments = overview.experiments;
    choose();
    renderServing(serving, why);
    renderOverview(overview, serving);
    renderExperiments();
    say('experiments-status', '');
    await Promise.all([
      guarded('traffic-range', loadTraffic(r, mine)),
      guarded('experiments-status', loadVariants(r, mine)),
      guarded('experiments-status', loadGroups(r, mine, 'placement')),
      guarded('experiments-status', loadGroups(r, mine, 'version')),
    ]);
    if (mine !== round) return;
    byId('loaded-at').textContent = `Loaded at ${new Date().toISOString().slice(11, 19)} UTC for ${time(r.from)} – ${time(r.to)}.`;
    state('ready');
  } catch (e) {
    if (mine !== round) return;
    if (e instanceof Refused) refuse();
    else {
      say('auth-status', `Could not load the dashboard: ${message(e)}`, true);
      state('failed');
    }
  } finally {
    if (mine === round) byId('dashboard').removeAttribute('aria-busy');
  }
}

/* ---- the token: asking, keeping, forgetting ---- */

function showDashboard(): void {
  if (token) keepToken(token);
  byId('dashboard').hidden = false;
  byId('token-form').hidden = true;
  byId('signed-in').hidden = false;
  say('auth-status', '');
}

/** Every number leaves the page: tables emptied, charts destroyed. */
function clearData(): void {
  for (const tbody of document.querySelectorAll('#dashboard tbody')) tbody.innerHTML = '';
  for (const canvas of document.querySelectorAll<HTMLCanvasElement>('#dashboard canvas')) clearChart(canvas);
  for (const id of ['serving', 'item-model', 'traffic-range', 'experiments-status', 'loaded-at', 'selected-experiment']) say(id, '');
  delete byId('serving').dataset.version;
  delete byId('variant-table').dataset.experiment;
  experiments = [];
  selected = null;
}

/** Back to the form: the token leaves sessionStorage and every number leaves the page. */
function signOut(text: string, error = false): void {
  round++;
  token = null;
  keepToken(null);
  clearData();
  byId('dashboard').hidden = true;
  byId('dashboard').removeAttribute('aria-busy');
  byId('signed-in').hidden = true;
  byId('token-form').hidden = false;
  byId<HTMLInputElement>('token').value = '';
  say('auth-status', text, error);
}

function refuse(): void {
  signOut(
    "The admin token was refused (401 unauthorized), so no data is shown. Check the Worker's ADMIN_TOKEN secret and enter it again.",
    true,
  );
  state('refused');
}

/**
 * A header value can only carry visible ASCII: anything else would make fetch throw before any
 * request, so the page says what is wrong instead of a browser's TypeError.
 */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

byId('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const t = byId<HTMLInputElement>('token').value.trim();
  if (!t) return;
  if (!HEADER_SAFE.test(t)) {
    say(
      'auth-status',
      'That is not an admin token: a token is sent as an HTTP header and can only hold visible ASCII characters, without spaces.',
      true,
    );
    state('refused');
    return;
  }
  token = t;
  say('auth-status', 'Checking the token…');
  void loadAll();
});
byId('forget-token').addEventListener('click', () => {
  signOut('Token forgotten: it was removed from this tab, and the data with it.');
  state('signed-out');
});
byId('range').addEventListener('change', () => void loadAll());
byId('reload').addEventListener('click', () => void loadAll());

/* ---- experiments: choosing one, stopping one ---- */

async function stopExperiment(name: string, button: HTMLButtonElement): Promise<void> {
  const ok = confirm(
    `Stop the experiment "${name}"?\n\nIts answers go back to the active model and the placement asked for; its counts stay for reports. A stopped experiment cannot be started again under the same name.`,
  );
  if (!ok) return;
  button.disabled = true;
  const mine = round;
  try {
    await admin<Experiment>(`/admin/experiments/${encodeURIComponent(name)}/stop`, { method: 'POST' });
    // what the API holds now, not what the stop answered: the page shows the stored state
    const now = await admin<Experiment>(`/admin/experiments/${encodeURIComponent(name)}`);
    if (mine !== round) return;
    await loadAll();
    say('experiments-status', `Stopped ${now.name}: the API reports it ${now.status} since ${time(now.stoppedAt)}.`);
  } catch (e) {
    button.disabled = false;
    if (e instanceof Refused) refuse();
    else say('experiments-status', `Could not stop ${name}: ${message(e)}`, true);
  }
}

byId('experiments-table').addEventListener('click', (ev) => {
  const b = (ev.target as Element | null)?.closest('button');
  if (!b) return;
  if (b.dataset.stop) void stopExperiment(b.dataset.stop, b);
  else if (b.dataset.select) {
    selected = b.dataset.select;
    renderExperiments();
    say('experiments-status', '');
    const mine = round;
    void loadVariants(range(), mine).catch((e) => (e instanceof Refused ? refuse() : say('experiments-status', message(e), true)));
  }
});

if (token) {
  say('auth-status', 'Checking the token kept for this tab…');
  void loadAll();
} else state('signed-out');
