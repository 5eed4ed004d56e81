/**
 * Where a user's first visit spends the Worker's CPU: the 100,000-item synthetic artifact of the
 * load bench, activated in workerd through Miniflare, then V8's sampling profiler (through the
 * inspector) while autocannon sends each of the artifact's 2,000 users their first visit (after the
 * load bench's warm-up), or with `repeat` their second. Prints self and inclusive time per function
 * of the Worker's bundle and which functions call the runtime's natives.
 * `npx tsx bench/profile-first-visit.ts [repeat]`.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey } from '@edge-recs/core/signing';
import autocannon from 'autocannon';
import WebSocket from 'ws';
import { publishArtifact, r2Target } from '../model/publish';
import { bundleWorker, startMiniflare } from '../scripts/miniflare';
import { freePort } from '../scripts/wrangler-dev';
import { syntheticArtifact } from './load';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

async function inspector(port: number) {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string; title: string }[];
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let id = 0;
  const pending = new Map<number, (v: unknown) => void>();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  });
  const send = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => ws.close() };
}

async function main() {
  const repeat = process.argv[2] === 'repeat';
  const key = await generateSigningKey();
  const built = await syntheticArtifact(100_000, 64, key.privateKeyPkcs8);
  const state = await mkdtemp(join(tmpdir(), 'profile-state-'));
  const { getPlatformProxy } = await import('wrangler');
  const proxy = await getPlatformProxy<{ MODELS: R2Bucket }>({ persist: { path: join(state, 'v3') } });
  await publishArtifact(r2Target(proxy.env.MODELS), { version: built.manifest.version, ...built });
  await proxy.dispose();
  const bundle = join(state, 'dist');
  bundleWorker(bundle);
  const port = await freePort();
  const inspectorPort = await freePort();
  const vars = { MODEL_PUBLIC_KEYS: key.publicKeyRaw, ADMIN_TOKEN: 'bench', ACTIVE_POINTER_TTL_SECONDS: '3600' };
  const mf = await startMiniflare(bundle, state, port, vars, inspectorPort);
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let run = 0; run < 10; run++) {
      const res = (await (await fetch(`${base}/admin/refresh`, { method: 'POST', headers: { authorization: 'Bearer bench' } })).json()) as {
        outcome: string;
      };
      if (res.outcome === 'activated') break;
      if (res.outcome !== 'staging') throw new Error(JSON.stringify(res));
    }
    await fetch(`${base}/v1/users/U1/recommendations?k=20`);
    // warm-up as bench/load.ts does it: strangers (popular answers) and baskets, none of the users below
    let stranger = 0;
    await autocannon({
      url: base,
      connections: 8,
      duration: 3,
      requests: [{ method: 'GET', setupRequest: (req: object) => ({ ...req, path: `/v1/users/W${stranger++}/recommendations?k=20` }) }],
    });
    await autocannon({
      url: `${base}/v1/recommendations`,
      connections: 8,
      duration: 3,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: ['I4', 'I5', 'I6'], k: 20 }),
    });
    let next = 2;
    // first visits: each of the artifact's other 1,998 users once; repeat: then all of them again
    const load = () =>
      autocannon({
        url: base,
        connections: 8,
        amount: 1998,
        requests: [
          { method: 'GET', setupRequest: (req: object) => ({ ...req, path: `/v1/users/U${2 + (next++ % 1998)}/recommendations?k=20` }) },
        ],
      });
    if (repeat) await load();
    const insp = await inspector(inspectorPort);
    await insp.send('Profiler.enable');
    await insp.send('Profiler.setSamplingInterval', { interval: 200 });
    await insp.send('Profiler.start');
    const res = await load();
    const { profile } = (await insp.send('Profiler.stop')) as {
      profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
    };
    insp.close();
    console.log(`${res.requests.average} req/s, ${res.requests.total} requests, p50 ${res.latency.p50} ms`);
    const self = new Map<number, number>();
    for (const [i, node] of profile.samples.entries()) self.set(node, (self.get(node) ?? 0) + (profile.timeDeltas[i] ?? 0));
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const label = (n: ProfileNode) =>
      `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').at(-1)}:${n.callFrame.lineNumber}`;
    const selfBy = new Map<string, number>();
    const totalBy = new Map<string, number>();
    let total = 0;
    for (const [id, us] of self) {
      total += us;
      selfBy.set(label(byId.get(id)!), (selfBy.get(label(byId.get(id)!)) ?? 0) + us);
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const l = label(byId.get(cur)!);
        if (seen.has(l)) continue;
        seen.add(l);
        totalBy.set(l, (totalBy.get(l) ?? 0) + us);
      }
    }
    const perReq = (us: number) => `${(us / 1000 / res.requests.total).toFixed(3)} ms/req`;
    console.log(`profiled ${(total / 1e6).toFixed(2)} s; ${perReq(total)}`);
    console.log('\nself:');
    for (const [l, us] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${perReq(us)}  ${l}`);
    // who calls the natives: self time of each native frame by its nearest named caller
    const callers = new Map<string, number>();
    for (const [id, us] of self) {
      const n = byId.get(id)!;
      if (n.callFrame.url !== '' || ['(program)', '(idle)', '(garbage collector)', '(root)'].includes(n.callFrame.functionName)) continue;
      let p = parent.get(id);
      while (p !== undefined && byId.get(p)!.callFrame.url === '') p = parent.get(p);
      const l = `${label(n)}  <-  ${p === undefined ? '?' : label(byId.get(p)!)}`;
      callers.set(l, (callers.get(l) ?? 0) + us);
    }
    console.log('\nnatives by caller:');
    for (const [l, us] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${perReq(us)}  ${l}`);
    console.log('\ninclusive:');
    for (const [l, us] of [...totalBy].sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log(`${perReq(us)}  ${l}`);
  } finally {
    await mf.dispose();
  }
}

await main();
