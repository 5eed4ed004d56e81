/**
 * The storage floor of a user's first visit: a Worker that makes exactly the Workers KV calls the
 * recommendation Worker makes for a visitor (src/services/users.ts `resolveUser`: the isolate's
 * 5-second record cache, then one bulk read of the record with the history and forgotten markers;
 * for models with more user shards than an isolate keeps, the record written back after the
 * response) and nothing else, in the same workerd and local KV simulator through Miniflare, under
 * the same load as bench/load.ts. What it reaches is what any Worker keeping users in KV can reach
 * on this machine; the difference to the recommendation Worker's rate is the cost of everything
 * else (identity hash, model, scoring, catalogue, JSON). Also a hello-world Worker: the runtime's
 * own floor.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Miniflare } from 'miniflare';
import { freePort } from '../scripts/wrangler-dev';

const SCRIPT = `
const cache = new Map();
const RECORD_BYTES = 8 + 64 * 4 + 10 * 8; // a 64-dim record with 10 history items
const RECORD = btoa(String.fromCharCode(...new Uint8Array(RECORD_BYTES)));
const json = (body) => new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
export default {
  async fetch(req, env, ctx) {
    const path = new URL(req.url).pathname;
    if (path === '/hello') return json({ ok: true });
    const [, mode, , user] = path.split('/');
    const key = 'emb:bench:' + user;
    const hit = cache.get(user);
    if (hit && Date.now() - hit < 5000) return json({ user, from: 'isolate' });
    const got = await env.KV.get([key, 'hist:' + user, 'forgotten:' + user], 'text');
    const rec = got.get(key);
    // /many/: a model with more user shards than an isolate keeps, so the record is written through
    if (!rec && mode === 'many') ctx.waitUntil(env.KV.put(key, RECORD, { expirationTtl: 2592000 }));
    cache.set(user, Date.now());
    return json({ user, from: rec ? 'kv' : 'first visit' });
  },
};`;

export interface FloorRow {
  endpoint: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
}

/** Hello-world, then pure first visits, then repeat visits of 2,000 users in rotation. */
export async function benchStorageFloor(seconds: number, connections = 8): Promise<FloorRow[]> {
  const port = await freePort();
  const mf = new Miniflare({
    host: '127.0.0.1',
    port,
    modules: true,
    script: SCRIPT,
    compatibilityDate: '2026-04-01',
    kvNamespaces: ['KV'],
    kvPersist: join(await mkdtemp(join(tmpdir(), 'bench-floor-')), 'kv'),
  });
  await mf.ready;
  const base = `http://127.0.0.1:${port}`;
  const rows: FloorRow[] = [];
  const run = async (endpoint: string, opts: autocannon.Options) => {
    const res = await autocannon({ connections, duration: seconds, ...opts });
    if (res.errors + res.timeouts + res.non2xx > 0) throw new Error(`storage floor: ${endpoint} failed requests`);
    rows.push({ endpoint, requestsPerSecond: res.requests.average, p50: res.latency.p50, p99: res.latency.p99 });
  };
  try {
    await run('hello world (no storage)', { url: `${base}/hello` });
    // every request a new user: a pure first visit each time (the Worker's "incl. first visits"
    // row is one whenever it serves fewer than 2,000 requests in its 10 s)
    let fresh = 0;
    await run('user storage only, every request a first visit (model whose user shards fit an isolate: one bulk read)', {
      url: base,
      requests: [{ method: 'GET' as const, setupRequest: (req: object) => ({ ...req, path: `/few/users/F${fresh++}/recommendations` }) }],
    });
    await run('user storage only, every request a first visit (more shards than an isolate keeps: one bulk read, one write)', {
      url: base,
      requests: [{ method: 'GET' as const, setupRequest: (req: object) => ({ ...req, path: `/many/users/M${fresh++}/recommendations` }) }],
    });
    // then 2,000 users in rotation, as bench/load.ts: KV reads, and isolate-cache hits when fast
    let next = 0;
    await run('user storage only, 2,000 users in rotation (repeat visits)', {
      url: base,
      requests: [
        { method: 'GET' as const, setupRequest: (req: object) => ({ ...req, path: `/few/users/F${next++ % 2000}/recommendations` }) },
      ],
    });
    return rows;
  } finally {
    await mf.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchStorageFloor(10)) console.log(r);
}
