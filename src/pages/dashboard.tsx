/**
 * Operator dashboard at `GET /admin`: what this deployment serves (model versions with their
 * offline metrics, the item model, the refresh log), traffic per hour (requests by status class,
 * latency percentiles) and per route, what answers earned per placement and per model version, and
 * the experiments with per-variant rates, 95% intervals and tests against the control, each running
 * one with a Stop button. A range selector (24 hours, 7 days, 30 days) applies to every report.
 *
 * The page itself holds no data and needs no token: it is the form and the empty frame (the only
 * server-side value in it is the counters' flush interval, to say how far the numbers lag). The
 * admin token is typed into the page once, kept in sessionStorage by the script (never in the URL
 * or localStorage), and sent as `Authorization: Bearer` to the `/admin/*` data routes, which keep
 * requiring it. The script is src/pages/client/dashboard.ts, bundled at build time (Chart.js
 * included) and served from /assets/, so the strict Content-Security-Policy holds.
 */
import { Hono } from 'hono';
import type { FC, PropsWithChildren } from 'hono/jsx';
import type { AppEnv } from '../context';
import { PAGE_CSP } from './assets';

export const dashboard = new Hono<AppEnv>();

/** What the latency numbers cover: the same account as the GET /admin/traffic route description. */
export const LATENCY_NOTE =
  "Latency is what the Worker observes from a request's start to its response: time waiting on storage, models and Durable Objects. " +
  "Deployed, Workers' clock does not advance during pure CPU work, so CPU time between waits is not in it; network time to the client never is. " +
  'Percentiles are the upper bounds of the histogram buckets (quarter-octave) that hold them.';

/** A chart: the canvas Chart.js draws into, and a table of the same numbers (for screen readers and for checking). */
const Chart: FC<{ id: string; label: string }> = ({ id, label }) => (
  <div class="chart">
    <canvas id={id} role="img" aria-label={label} />
  </div>
);

/** A table whose body the script fills; `cols` are the header cells. */
const Table: FC<{ id: string; caption: string; cols: string[]; hiddenCaption?: boolean }> = ({ id, caption, cols, hiddenCaption }) => (
  <div class="table-wrap">
    <table id={id}>
      <caption class={hiddenCaption ? 'sr-only' : undefined}>{caption}</caption>
      <thead>
        <tr>
          {cols.map((c) => (
            <th scope="col">{c}</th>
          ))}
        </tr>
      </thead>
      <tbody />
    </table>
  </div>
);

const Section: FC<PropsWithChildren<{ id: string; title: string }>> = ({ id, title, children }) => (
  <section id={id} aria-labelledby={`h-${id}`}>
    <h2 id={`h-${id}`}>{title}</h2>
    {children}
  </section>
);

/**
 * The counts and rates of a report group (per variant, placement or version): each rate with its
 * 95% interval as GET /admin/metrics returns it.
 */
const RATE_COLS = [
  'Answers',
  'Items shown',
  'Clicks',
  'Add-to-carts',
  'Purchases',
  'Revenue',
  'CTR',
  'Add-to-cart rate',
  'Conversion',
  'Revenue / 1,000 answers',
];

/** Hours the range selector offers (the counters keep METRICS_RETENTION_DAYS, 90 by default). */
const RANGES = [
  { hours: 24, label: 'Last 24 hours' },
  { hours: 7 * 24, label: 'Last 7 days' },
  { hours: 30 * 24, label: 'Last 30 days' },
];

const TRAFFIC_COLS = ['Requests', '2xx', '3xx', '4xx', '5xx', 'p50 ms', 'p95 ms', 'p99 ms'];

const DashboardPage: FC<{ flushMs: number }> = ({ flushMs }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width,initial-scale=1" />
      <meta name="referrer" content="no-referrer" />
      <title>Edge recommendations — operator dashboard</title>
      <link rel="stylesheet" href="/assets/dashboard.css" />
      <link rel="icon" href="data:," />
    </head>
    <body data-state="signed-out">
      <header>
        <h1>Operator dashboard · edge recommendations</h1>
        <nav>
          <a href="/">Demo store</a> · <a href="/docs">API docs</a>
        </nav>
      </header>
      <section id="auth" aria-labelledby="h-auth">
        <h2 id="h-auth">Admin token</h2>
        {/* the input has no name: without the script the form submits nothing, so the token never reaches a URL */}
        <form id="token-form" autocomplete="off">
          <label for="token">ADMIN_TOKEN</label>
          <input id="token" type="password" autocomplete="off" spellcheck={false} placeholder="the Worker's ADMIN_TOKEN secret" required />
          <button type="submit">Open the dashboard</button>
        </form>
        <p id="signed-in" hidden>
          The token is kept in this tab's sessionStorage until the tab closes.{' '}
          <button type="button" id="forget-token">
            Forget token
          </button>
        </p>
        <p id="auth-status" role="status" aria-live="polite" class="muted">
          Enter the admin token to see the data. It stays in this tab only and is sent to the /admin data routes as a bearer token.
        </p>
      </section>
      <main id="dashboard" hidden>
        <div class="toolbar">
          <label for="range" class="inline">
            Range
          </label>
          <select id="range">
            {RANGES.map((r, i) => (
              <option value={String(r.hours)} selected={i === 0}>
                {r.label}
              </option>
            ))}
          </select>
          <button type="button" id="reload">
            Reload
          </button>
          <span id="loaded-at" class="muted" aria-live="polite" />
        </div>
        <p id="lag-note" class="note">
          Counters are written in batches after the responses they count (every {flushMs} ms per Worker isolate,
          METRICS_FLUSH_MILLISECONDS), so the newest requests and events show up here a moment later: up to that interval plus the write to
          the counter objects.
        </p>
        <Section id="versions" title="Model versions">
          <p id="serving" class="muted" />
          <p id="item-model" class="muted" />
          <Table
            id="versions-table"
            caption="Versions this deployment can serve, with their offline evaluation (held-out purchases)"
            cols={[
              'Version',
              'Role',
              'Trained at',
              'Items',
              'Users',
              'Dims',
              'Item model',
              'NDCG@100',
              'Recall@20',
              'Factors NDCG@100',
              'Item model NDCG@100',
              'Popularity NDCG@100',
            ]}
          />
          <h3 id="h-refresh-log">Refresh log</h3>
          <Table
            id="refresh-log"
            caption="Latest refresh runs, newest first"
            hiddenCaption
            cols={['Time', 'Outcome', 'Version', 'Reason']}
          />
        </Section>
        <Section id="traffic" title="Traffic per hour">
          <p id="traffic-range" class="muted" />
          <p id="traffic-empty" class="note" hidden>
            No request was counted in this range yet. Every request the Worker answers (API, pages, this dashboard's own calls) is counted
            per hour, route and status class once its batch is written.
          </p>
          <div class="charts">
            <figure>
              <Chart id="chart-requests" label="Requests per hour by status class (2xx, 3xx, 4xx, 5xx)" />
              <figcaption>Requests per hour by status class (UTC)</figcaption>
            </figure>
            <figure>
              <Chart id="chart-latency" label="Latency p50, p95 and p99 per hour, in milliseconds" />
              <figcaption>Latency p50 / p95 / p99 per hour, ms (UTC)</figcaption>
            </figure>
            {/* full width: route names are long */}
            <figure class="wide">
              <Chart id="chart-routes" label="Requests per route by status class over the range" />
              <figcaption>Requests per route by status class over the range (the 10 busiest routes)</figcaption>
            </figure>
          </div>
          <p id="latency-note" class="note">
            {LATENCY_NOTE}
          </p>
          <details>
            <summary>The numbers per hour</summary>
            <Table id="traffic-table" caption="Requests and latency per hour (UTC)" hiddenCaption cols={['Hour', ...TRAFFIC_COLS]} />
          </details>
          <details>
            <summary>Per route</summary>
            <Table
              id="routes-table"
              caption="Requests and latency per route over the range"
              hiddenCaption
              cols={['Route', ...TRAFFIC_COLS]}
            />
          </details>
        </Section>
        <Section id="placements" title="Per placement">
          <p class="muted">
            Every answer in the range by the placement it was asked for ("none": answers that named no placement), with the clicks,
            add-to-carts and purchases that carried its recId (GET /admin/metrics?groupBy=placement).
          </p>
          <Table id="placement-table" caption="Counts and rates per placement" hiddenCaption cols={['Placement', ...RATE_COLS]} />
          <figure>
            <Chart id="chart-placements" label="CTR and conversion per placement with 95% intervals" />
            <figcaption>CTR and conversion per placement, % (whiskers: 95% intervals)</figcaption>
          </figure>
        </Section>
        <Section id="model-versions" title="Per model version">
          <p class="muted">
            The same counts by the model version that scored each answer (GET /admin/metrics?groupBy=version): how a newly activated version
            does against the one before it.
          </p>
          <Table id="version-table" caption="Counts and rates per model version" hiddenCaption cols={['Version', ...RATE_COLS]} />
        </Section>
        <Section id="experiments" title="Experiments">
          <p id="experiments-status" class="muted" role="status" aria-live="polite" />
          <Table
            id="experiments-table"
            caption="Every experiment, running and stopped"
            hiddenCaption
            cols={['Name', 'Status', 'Placement', 'Variants (weight · model · placement)', 'Started', 'Stopped', '']}
          />
          <h3 id="h-variants">
            Variants of <span id="selected-experiment">…</span>
          </h3>
          <p class="muted">
            Rates with their 95% intervals; the first variant is the control, and each other variant is tested against it (two-sided,
            significant when p &lt; 0.05). A verdict needs answers on both sides: until then the test says "—".
          </p>
          <Table
            id="variant-table"
            caption="Counts and rates per variant"
            hiddenCaption
            cols={['Variant', ...RATE_COLS, 'vs control: CTR', 'vs control: conversion', 'vs control: revenue / answer']}
          />
          <figure>
            <Chart id="chart-variants" label="CTR and conversion per variant with 95% intervals" />
            <figcaption>CTR and conversion per variant, % (whiskers: 95% intervals)</figcaption>
          </figure>
        </Section>
      </main>
      <script type="module" src="/assets/dashboard.js" />
    </body>
  </html>
);

dashboard.get('/admin', (c) => {
  c.header('content-security-policy', PAGE_CSP);
  c.header('x-content-type-options', 'nosniff');
  // the page is the same for everyone and holds no data, but an operator's browser need not keep it
  c.header('cache-control', 'no-store');
  return c.html(`<!doctype html>${<DashboardPage flushMs={c.var.ctx.config.metrics.flushMilliseconds} />}`);
});
