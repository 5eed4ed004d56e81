/**
 * End-to-end load against `wrangler dev` (real workerd, one local isolate): a synthetic catalogue
 * of N items × 64 dims is built, signed, published to a fresh local R2 bucket and activated through
 * /admin/refresh; then autocannon drives GET /v1/users/{id}/recommendations and
 * POST /v1/recommendations. The first request after activation (ORT session + model load in a
 * fresh isolate) is timed from outside, as on a deployed Worker. The same artifact is then served
 * by a central Node server with native onnxruntime-node (bench/central-server.ts) under the same load.
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildArtifact } from '../model/artifact';
import { writeArtifactDir } from '../model/artifact-fs';
import { publishArtifact, r2Target } from '../model/publish';
import { csrFromTriples } from '../model/sparse';
import { generateSigningKey } from '../src/core/signing';
import { freePort, startWrangler, stopWrangler } from '../test/e2e/wrangler';
import { randomFactors } from './kernels';

export interface LoadRow {
  endpoint: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function drive(base: string, seconds: number, label: string): Promise<LoadRow[]> {
  const rows: LoadRow[] = [];
  const run = async (endpoint: string, opts: autocannon.Options) => {
    const res = await autocannon({ connections: 8, duration: seconds, ...opts });
    rows.push({ endpoint: `${label}: ${endpoint}`, requestsPerSecond: res.requests.average, p50: res.latency.p50, p99: res.latency.p99, errors: res.errors + res.timeouts, non2xx: res.non2xx });
  };
  await run('GET /v1/users/{id}/recommendations?k=20', { url: `${base}/v1/users/U1/recommendations?k=20` });
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
    return await drive(`http://127.0.0.1:${port}`, seconds, 'Node + onnxruntime-node');
  } finally {
    proc.kill('SIGTERM');
  }
}

export async function benchLoad(items: number, dims: number, seconds: number): Promise<{ coldMs: number; rows: LoadRow[] }> {
  const key = await generateSigningKey();
  const users = 2000;
  const itemIds = Array.from({ length: items }, (_, i) => `I${i}`);
  const r: number[] = [], c: number[] = [];
  for (let u = 0; u < users; u++) for (let k = 0; k < 10; k++) { r.push(u); c.push((u * 7919 + k * 104729) % items); }
  const userItems = csrFromTriples(users, items, Int32Array.from(r), Int32Array.from(c), new Float32Array(r.length).fill(1));
  const built = await buildArtifact({
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
    signingKey: key.privateKeyPkcs8,
  });
  const state = await mkdtemp(join(tmpdir(), 'bench-state-'));
  const artifactDir = join(state, 'artifact');
  await writeArtifactDir(artifactDir, built);
  const { getPlatformProxy } = await import('wrangler');
  const proxy = await getPlatformProxy<{ MODELS: R2Bucket }>({ persist: { path: join(state, 'v3') } });
  try {
    await publishArtifact(r2Target(proxy.env.MODELS), { version: built.manifest.version, ...built });
  } finally {
    await proxy.dispose();
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const wrangler = await startWrangler(port, state, { MODEL_PUBLIC_KEYS: key.publicKeyRaw, ADMIN_TOKEN: 'bench', ACTIVE_POINTER_TTL_SECONDS: '3600' });
  try {
    const refresh = (await (await fetch(`${base}/admin/refresh`, { method: 'POST', headers: { authorization: 'Bearer bench' } })).json()) as { outcome: string };
    if (refresh.outcome !== 'activated') throw new Error(`bench model not activated: ${JSON.stringify(refresh)}`);
    // The refresh ran in the isolate that served it; restart so the next request meets a cold isolate.
    stopWrangler(wrangler);
    const cold = await startWrangler(port, state, { MODEL_PUBLIC_KEYS: key.publicKeyRaw, ADMIN_TOKEN: 'bench', ACTIVE_POINTER_TTL_SECONDS: '3600' });
    try {
      const t = performance.now();
      const first = await fetch(`${base}/v1/users/U1/recommendations?k=20`);
      const coldMs = performance.now() - t;
      if (first.headers.get('x-model-version') !== built.manifest.version) throw new Error('cold request not served by the bench model');
      const rows = await drive(base, seconds, 'Worker (wrangler dev)');
      stopWrangler(cold);
      rows.push(...(await driveCentral(artifactDir, seconds)));
      return { coldMs, rows };
    } finally {
      stopWrangler(cold);
    }
  } finally {
    stopWrangler(wrangler);
  }
}
