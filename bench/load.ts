/**
 * End-to-end load against `wrangler dev` (real workerd, one local isolate): a synthetic catalogue
 * of N items × 64 dims is built, signed, published to a fresh local R2 bucket and activated through
 * /admin/refresh; then autocannon drives GET /v1/users/{id}/recommendations and
 * POST /v1/recommendations. The first request after activation (ORT session + model load in a
 * fresh isolate) is timed from outside, as on a deployed Worker. Optionally the same bundle and
 * state run again in workerd through Miniflare without wrangler dev's proxies (bench/miniflare.ts),
 * and the same artifact is served by a central Node server with native onnxruntime-node
 * (bench/central-server.ts) under the same load.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LATEST_KEY, ORIGIN_PREFIX } from '@edge-recs/core/manifest';
import { generateSigningKey } from '@edge-recs/core/signing';
import autocannon from 'autocannon';
import { buildArtifact } from '../model/artifact';
import { writeArtifactDir } from '../model/artifact-fs';
import { publishArtifact, r2Target } from '../model/publish';
import { csrFromTriples } from '../model/sparse';
import { bundleWorker, startMiniflare } from '../scripts/miniflare';
import { freePort, startWrangler, stopWrangler } from '../scripts/wrangler-dev';
import { randomFactors } from './kernels';

export interface LoadRow {
  endpoint: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /**
   * CPU time (user + system) the server's processes spent per request, ms: everything the server
   * side ran (for workerd: the isolate, the runtime and the KV/R2/Durable Object simulators), none
   * of the load generator's. Throughput per core is its inverse, whatever else shares the cores.
   */
  cpuMsPerRequest: number;
}

/** CPU seconds (user + system, all threads) used so far by `roots` and all their descendants (Linux /proc). */
export function cpuSeconds(roots: number[]): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // fields after the parenthesised command: state ppid … utime (12th) stime (13th)
      const f = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1].split(' ');
      stats.set(Number(entry), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // exited meanwhile
    }
  }
  const wanted = new Set(roots);
  // parents before children is not guaranteed: repeat until no new descendant is found
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, st] of stats)
      if (!wanted.has(pid) && wanted.has(st.ppid)) {
        wanted.add(pid);
        grew = true;
      }
  }
  let ticks = 0;
  for (const pid of wanted) ticks += stats.get(pid)?.ticks ?? 0;
  return ticks / 100; // USER_HZ
}

/** The workerd processes this process started (Miniflare's). */
function workerdChildren(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.includes('(workerd)') && Number(stat.split(') ')[1].split(' ')[1]) === process.pid) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Drives the three rows against `base`; `server` gives the server's root processes (CPU accounting). */
async function drive(base: string, seconds: number, label: string, server: () => number[], connections = 8): Promise<LoadRow[]> {
  const rows: LoadRow[] = [];
  const run = async (endpoint: string, opts: autocannon.Options) => {
    const before = cpuSeconds(server());
    const res = await autocannon({ connections, duration: seconds, ...opts });
    const cpu = cpuSeconds(server()) - before;
    rows.push({
      endpoint: `${label}: ${endpoint}`,
      requestsPerSecond: res.requests.average,
      p50: res.latency.p50,
      p99: res.latency.p99,
      errors: res.errors + res.timeouts,
      non2xx: res.non2xx,
      cpuMsPerRequest: (cpu * 1000) / Math.max(1, res.requests.total),
    });
  };
  // Warm-up, the same for every server and not measured: a deployed isolate serves its first
  // visitors with compiled code, not while the JIT still interprets the request path. Visitors the
  // model does not know (the first-visit storage path, popular answers) and baskets (fold-in and
  // scoring) — none of the 2,000 users below, whose first visits the next row measures.
  let stranger = 0;
  await autocannon({
    url: base,
    connections,
    duration: 2,
    requests: [{ method: 'GET', setupRequest: (req: object) => ({ ...req, path: `/v1/users/W${stranger++}/recommendations?k=20` }) }],
  });
  await autocannon({
    url: `${base}/v1/recommendations`,
    connections,
    duration: 2,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ items: ['I4', 'I5', 'I6'], k: 20 }),
  });
  // 2,000 trained users in rotation, so per-user caches see realistic reuse, not one hot key. The
  // first run includes every user's first visit (the Worker then reads KV, finds the user in the
  // artifact's shard and writes their record to KV); the second is repeat visits only.
  let next = 0;
  const users = {
    url: base,
    requests: [
      { method: 'GET' as const, setupRequest: (req: object) => ({ ...req, path: `/v1/users/U${next++ % 2000}/recommendations?k=20` }) },
    ],
  };
  await run('GET /v1/users/{id}/recommendations?k=20 (incl. first visits)', users);
  await run('GET /v1/users/{id}/recommendations?k=20 (repeat visits)', users);
  await run('POST /v1/recommendations (3 items, k=20)', {
    url: `${base}/v1/recommendations`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ items: ['I1', 'I2', 'I3'], k: 20 }),
  });
  return rows;
}

/** The same artifact behind a central Node server with onnxruntime-node (bench/central-server.ts). */
async function driveCentral(dir: string, seconds: number): Promise<LoadRow[]> {
  const port = await freePort();
  const proc = spawn('node_modules/.bin/tsx', ['bench/central-server.ts', dir, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`central server did not start:\n${log}`)), 60_000);
      const onData = (d: Buffer) => {
        log += d.toString();
        if (log.includes('central server ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', onData);
      proc.on('exit', (code) => reject(new Error(`central server exited with ${code}:\n${log}`)));
    });
    return await drive(`http://127.0.0.1:${port}`, seconds, 'Node + onnxruntime-node', () => [proc.pid as number]);
  } finally {
    proc.kill('SIGTERM');
  }
}

/** Stops `wrangler dev` and waits (up to 10 s) until it has exited and its state is on disk. */
async function stopped(proc: ChildProcess): Promise<void> {
  const exited = proc.exitCode !== null ? Promise.resolve() : new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  stopWrangler(proc);
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
}

/** A synthetic artifact of `items` × `dims` (random factors, 2,000 users with 10 items each). */
export async function syntheticArtifact(items: number, dims: number, signingKey: string) {
  const users = 2000;
  const itemIds = Array.from({ length: items }, (_, i) => `I${i}`);
  const r: number[] = [],
    c: number[] = [];
  for (let u = 0; u < users; u++)
    for (let k = 0; k < 10; k++) {
      r.push(u);
      c.push((u * 7919 + k * 104729) % items);
    }
  const userItems = csrFromTriples(users, items, Int32Array.from(r), Int32Array.from(c), new Float32Array(r.length).fill(1));
  return buildArtifact({
    version: `bench-${items}`,
    algorithm: 'synthetic',
    hyperparameters: {},
    foldIn: { unobservedWeight: 1, alpha: 1, regularization: 1, regExponent: 0 },
    data: { source: 'synthetic', layout: 'generic', sha256: '0'.repeat(64), users, items, interactions: r.length },
    dims,
    itemIds,
    titles: itemIds.map((id) => `Synthetic product ${id}`),
    itemCounts: new Float32Array(items).map((_, i) => items - i),
    itemFactors: randomFactors(items, dims, 1),
    itemWeights: new Float32Array(items).fill(1),
    userIds: Array.from({ length: users }, (_, u) => `U${u}`),
    userFactors: randomFactors(users, dims, 2),
    userItems,
    signingKey,
  });
}

/** Resident and peak resident memory (VmRSS, VmHWM) of the workerd processes wrangler started, MB. */
async function workerdMemory(wrangler: ChildProcess): Promise<{ rssMb: number; peakMb: number }> {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '-g', String(wrangler.pid)], { encoding: 'utf8' });
  let rssMb = 0,
    peakMb = 0;
  for (const line of out.trim().split('\n')) {
    const [pid, comm] = line.trim().split(/\s+/);
    if (comm !== 'workerd') continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    rssMb += kb('VmRSS') / 1024;
    peakMb += kb('VmHWM') / 1024;
  }
  return { rssMb, peakMb };
}

export interface LoadResult {
  coldMs: number;
  rows: LoadRow[];
  /** workerd's resident memory before the first request and its peak after serving */
  memory: { beforeMb: number; peakMb: number };
  /** what the Worker reports holding for the model (/v1/model modelBytes) and how it scores */
  modelBytes: number;
  scoring: string;
  /** the artifact on disk (for the memory probe); removed with the OS temp directory */
  artifactDir: string;
  /** each /admin/refresh run until activation: outcome and storage operations spent */
  refreshRuns: { outcome: string; ops?: number; reason: string | null }[];
  /** warning lines workerd wrote in the Miniflare run, start included (null: no Miniflare run) */
  runtimeWarnings: number | null;
}

/**
 * Serves an artifact directory as an HTTP origin (models/latest.json, models/<version>/<file>),
 * the layout `npm run publish -- --https` writes, for the refresh to stage from.
 */
async function serveOrigin(dir: string, version: string): Promise<{ url: string; close: () => void }> {
  const port = await freePort();
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === `/${LATEST_KEY}`) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ version, publishedAt: new Date().toISOString() }));
      return;
    }
    const prefix = `/${ORIGIN_PREFIX}${version}/`;
    const body =
      path.startsWith(prefix) && !path.includes('..') ? await readFile(join(dir, path.slice(prefix.length))).catch(() => null) : null;
    res.statusCode = body ? 200 : 404;
    res.end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/**
 * Publishes a synthetic artifact to a fresh local R2 bucket, activates it through /admin/refresh,
 * restarts `wrangler dev` so the next request meets a cold isolate, and times that request from
 * outside. Then drives load (`connections` at a time) and, with `central`, the same artifact on
 * the central Node server.
 */
export async function benchLoad(
  items: number,
  dims: number,
  seconds: number,
  opts: { central?: boolean; miniflare?: boolean; connections?: number; vars?: Record<string, string>; httpOrigin?: boolean } = {},
): Promise<LoadResult> {
  const key = await generateSigningKey();
  const built = await syntheticArtifact(items, dims, key.privateKeyPkcs8);
  const state = await mkdtemp(join(tmpdir(), 'bench-state-'));
  const artifactDir = join(state, 'artifact');
  await writeArtifactDir(artifactDir, built);
  // the artifact comes from the MODELS bucket itself, or (httpOrigin) is staged from an HTTP origin
  const origin = opts.httpOrigin ? await serveOrigin(artifactDir, built.manifest.version) : null;
  if (!origin) {
    const { getPlatformProxy } = await import('wrangler');
    const proxy = await getPlatformProxy<{ MODELS: R2Bucket }>({ persist: { path: join(state, 'v3') } });
    try {
      await publishArtifact(r2Target(proxy.env.MODELS), { version: built.manifest.version, ...built });
    } finally {
      await proxy.dispose();
    }
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const vars = {
    MODEL_PUBLIC_KEYS: key.publicKeyRaw,
    ADMIN_TOKEN: 'bench',
    ACTIVE_POINTER_TTL_SECONDS: '3600',
    ...(origin ? { ORIGIN_URL: origin.url } : {}),
    ...opts.vars,
  };
  const wrangler = await startWrangler(port, state, vars);
  const refreshRuns: LoadResult['refreshRuns'] = [];
  let runtimeWarnings: number | null = null;
  try {
    // one run per call, as the cron would do; big artifacts stage over several
    for (let run = 0; run < 10 && refreshRuns.at(-1)?.outcome !== 'activated'; run++) {
      const res = await fetch(`${base}/admin/refresh`, { method: 'POST', headers: { authorization: 'Bearer bench' } });
      refreshRuns.push((await res.json()) as LoadResult['refreshRuns'][number]);
      if (!['staging', 'activated'].includes(refreshRuns.at(-1)!.outcome)) break;
    }
    origin?.close();
    if (refreshRuns.at(-1)?.outcome !== 'activated') throw new Error(`bench model not activated: ${JSON.stringify(refreshRuns)}`);
    // The refresh ran in the isolate that served it; restart so the next request meets a cold isolate.
    await stopped(wrangler);
    // Miniflare gets its own copy of the activated state, so its users' first visits are first
    // visits too (not KV hits on records the wrangler dev run wrote).
    const mfState = join(state, 'miniflare');
    if (opts.miniflare) await cp(join(state, 'v3'), join(mfState, 'v3'), { recursive: true });
    const cold = await startWrangler(port, state, vars);
    try {
      const before = await workerdMemory(cold);
      const t = performance.now();
      const first = await fetch(`${base}/v1/users/U1/recommendations?k=20`);
      const coldMs = performance.now() - t;
      if (first.headers.get('x-model-version') !== built.manifest.version)
        throw new Error(`cold request not served by the bench model: ${first.status} ${await first.text()}`);
      const info = (await (await fetch(`${base}/v1/model`)).json()) as { modelBytes: number; scoring: string };
      const rows = await drive(base, seconds, `Worker (wrangler dev, ${info.scoring})`, () => [cold.pid as number], opts.connections);
      const after = await workerdMemory(cold);
      stopWrangler(cold);
      if (opts.miniflare) {
        const bundle = join(state, 'dist');
        bundleWorker(bundle);
        const mfPort = await freePort();
        // workerd's own warnings while serving (e.g. a promise settled across requests, whose
        // continuations it cancels): counted, so that a run which logs them says so
        let warnings = 0;
        let partial = ''; // output arrives in chunks that may split a line
        const mf = await startMiniflare(bundle, mfState, mfPort, vars, undefined, (text) => {
          const lines = (partial + text).split('\n');
          partial = lines.pop() ?? '';
          warnings += lines.filter((l) => /\bwarning: /i.test(l) && !l.includes('DurableObjectNamespace')).length;
        });
        try {
          await fetch(`http://127.0.0.1:${mfPort}/v1/users/U1/recommendations?k=20`); // load the model
          rows.push(
            ...(await drive(
              `http://127.0.0.1:${mfPort}`,
              seconds,
              `Worker (workerd via Miniflare, no wrangler dev proxy, ${info.scoring})`,
              workerdChildren,
              opts.connections,
            )),
          );
          runtimeWarnings = warnings;
        } finally {
          await mf.dispose();
        }
      }
      if (opts.central) rows.push(...(await driveCentral(artifactDir, seconds)));
      return {
        coldMs,
        rows,
        memory: { beforeMb: before.rssMb, peakMb: after.peakMb },
        modelBytes: info.modelBytes,
        scoring: info.scoring,
        artifactDir,
        refreshRuns,
        runtimeWarnings,
      };
    } finally {
      stopWrangler(cold);
    }
  } finally {
    stopWrangler(wrangler);
  }
}
