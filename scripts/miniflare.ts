/**
 * The Worker in workerd through Miniflare's API, without `wrangler dev`'s proxy layers: the same
 * bundle `wrangler deploy` would upload (`wrangler deploy --dry-run --outdir`), the same KV, R2 and
 * Durable Object simulators, reading the state a `wrangler dev --persist-to` run left behind.
 * Why: on this 2-core machine a hello-world Worker answers ~840 req/s under `wrangler dev` but
 * ~3,900 under Miniflare directly, so `wrangler dev` mostly measures itself. Deployed Workers
 * have neither layer; this is the closest local measure of the Worker's own cost per request.
 * Used by the load benchmark and by the API contract test (which also reads the bindings).
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Miniflare } from 'miniflare';

/** Bundles the Worker exactly as a deploy would, into `outdir`. */
export function bundleWorker(outdir: string): void {
  execFileSync('node_modules/.bin/wrangler', ['deploy', '--dry-run', '--outdir', outdir], {
    stdio: 'ignore',
    env: { ...process.env, CI: 'true' },
  });
}

/** The [vars] of wrangler.toml (string values only, which is all this project uses). */
async function tomlVars(): Promise<Record<string, string>> {
  const toml = await readFile('wrangler.toml', 'utf8');
  const section = toml.slice(toml.indexOf('[vars]'));
  return Object.fromEntries([...section.matchAll(/^([A-Z0-9_]+)\s*=\s*"([^"]*)"/gm)].map((m) => [m[1], m[2]]));
}

/**
 * Starts the bundle in workerd; `port` 0 = none (the test dispatches through mf.dispatchFetch).
 * `onOutput` also sees what workerd writes (it is passed through to this process as usual).
 */
export async function startMiniflare(
  bundle: string,
  state: string,
  port: number,
  vars: Record<string, string>,
  inspectorPort?: number,
  onOutput?: (text: string) => void,
): Promise<Miniflare> {
  const mf = new Miniflare({
    ...(onOutput
      ? {
          handleRuntimeStdio(stdout: Readable, stderr: Readable) {
            for (const [from, to] of [
              [stdout, process.stdout],
              [stderr, process.stderr],
            ] as const)
              from.on('data', (d: Buffer) => {
                onOutput(d.toString());
                to.write(d);
              });
          },
        }
      : {}),
    ...(port ? { host: '127.0.0.1', port } : {}),
    ...(inspectorPort ? { inspectorPort, unsafeInspectorProxy: true } : {}),
    // every file of the bundle listed explicitly (Miniflare's import walker rejects the
    // dynamic imports inside onnxruntime-web)
    modulesRoot: bundle,
    modules: (await readdir(bundle))
      .filter((f) => !f.endsWith('.map') && f !== 'README.md')
      .sort((a, b) => Number(b === 'index.js') - Number(a === 'index.js')) // the main module first
      .map((f) => ({
        type: f === 'index.js' ? ('ESModule' as const) : f.endsWith('.wasm') ? ('CompiledWasm' as const) : ('Data' as const),
        path: join(bundle, f),
      })),
    compatibilityDate: '2026-04-01',
    bindings: { ...(await tomlVars()), ...vars },
    kvNamespaces: { RECS_KV: 'recs_kv_local' },
    r2Buckets: { MODELS: 'recs-models' },
    durableObjects: {
      USER_HISTORY: { className: 'UserHistory', useSQLite: true },
      ERASURE_JOBS: { className: 'ErasureJobs', useSQLite: true },
      CATALOG: { className: 'CatalogStore', useSQLite: true },
      TRENDING: { className: 'TrendingStore', useSQLite: true },
      METRICS: { className: 'MetricsStore', useSQLite: true },
      EXPERIMENTS: { className: 'ExperimentStore', useSQLite: true },
    },
    kvPersist: join(state, 'v3', 'kv'),
    r2Persist: join(state, 'v3', 'r2'),
    durableObjectsPersist: join(state, 'v3', 'do'),
  });
  await mf.ready;
  return mf;
}
