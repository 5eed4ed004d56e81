/**
 * Operator dashboard at `GET /admin`: the model versions with their offline metrics and the refresh
 * log, traffic per hour (requests, 4xx/5xx, latency percentiles), experiments with per-variant
 * rates, intervals and tests against the control, and the same rates per placement.
 *
 * The page itself holds no data and needs no token: it is the form and the empty frame. The admin
 * token is typed into the page once, kept in sessionStorage by the script (never in the URL or
 * localStorage), and sent as `Authorization: Bearer` to the `/admin/*` data routes, which keep
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

/** The per-variant and per-placement rate columns (each estimate with its 95% interval). */
const RATE_COLS = [
  'Answers',
  'Items shown',
  'Clicks',
  'Add-to-carts',
  'Purchases',
  'Revenue',
  'CTR',
  'Conversion',
  'Revenue / 1,000 answers',
];

const DashboardPage: FC = () => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width,initial-scale=1" />
      <meta name="referrer" content="no-referrer" />
      <title>Edge recommendations — operator dashboard</title>
      <link rel="stylesheet" href="/assets/dashboard.css" />
      <link rel="icon" href="data:," />
    </head>
    <body>
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
          Signed in for this browser tab (the token is kept in sessionStorage until the tab closes).{' '}
          <button type="button" id="sign-out">
            Sign out
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
            <option value="24" selected>
              Last 24 hours
            </option>
            <option value="168">Last 7 days</option>
          </select>
          <button type="button" id="reload">
            Reload
          </button>
          <span id="loaded-at" class="muted" aria-live="polite" />
        </div>
        <Section id="versions" title="Model versions">
          <p id="serving" class="muted" />
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
          <div class="charts">
            <figure>
              <Chart id="chart-requests" label="Requests, 4xx and 5xx answers per hour" />
              <figcaption>Requests, 4xx and 5xx per hour (UTC)</figcaption>
            </figure>
            <figure>
              <Chart id="chart-latency" label="Latency p50, p95 and p99 per hour, in milliseconds" />
              <figcaption>Latency p50 / p95 / p99 per hour, ms (UTC)</figcaption>
            </figure>
          </div>
          <p id="latency-note" class="note">
            {LATENCY_NOTE}
          </p>
          <details>
            <summary>The numbers per hour</summary>
            <Table
              id="traffic-table"
              caption="Requests and latency per hour (UTC)"
              hiddenCaption
              cols={['Hour', 'Requests', '2xx', '3xx', '4xx', '5xx', 'p50 ms', 'p95 ms', 'p99 ms']}
            />
          </details>
          <details>
            <summary>Per route</summary>
            <Table
              id="routes-table"
              caption="Requests and latency per route over the range"
              hiddenCaption
              cols={['Route', 'Requests', '2xx', '3xx', '4xx', '5xx', 'p50 ms', 'p95 ms', 'p99 ms']}
            />
          </details>
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
            significant when p &lt; 0.05).
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
        <Section id="placements" title="Per placement">
          <p class="muted">Every answer in the range by the placement it was asked for ("none": answers that named no placement).</p>
          <Table id="placement-table" caption="Counts and rates per placement" hiddenCaption cols={['Placement', ...RATE_COLS]} />
          <figure>
            <Chart id="chart-placements" label="CTR and conversion per placement with 95% intervals" />
            <figcaption>CTR and conversion per placement, % (whiskers: 95% intervals)</figcaption>
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
  return c.html(`<!doctype html>${<DashboardPage />}`);
});
