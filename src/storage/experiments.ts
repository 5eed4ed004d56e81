/**
 * Experiments at rest: one KV value (`experiments`) holding every experiment, running and
 * stopped, written only by the admin routes (operators, rarely) and read by every isolate through
 * a short cache (EXPERIMENTS_CACHE_SECONDS, refreshed in the background).
 * Why KV: experiments change a few times a month and are read by every answer, the access pattern
 * KV is built for. The cost is propagation: a start or stop reaches every location within KV's
 * eventual consistency (about a minute) plus the cache — assignment itself does not depend on it,
 * since a user's variant is a keyed hash of their id and the experiment's definition, which never
 * changes while it runs.
 */
import { KV } from './keys';

export interface ExperimentVariant {
  name: string;
  /** share of traffic: weight / Σ weights */
  weight: number;
  /** the model version this variant serves ("bundled" = the model in the script); absent = the active one */
  modelVersion?: string;
  /** the placement (rules) this variant applies instead of the one asked for */
  placement?: string;
}

export interface Experiment {
  name: string;
  description?: string;
  /** requests for this placement take part; absent = every answer that names no placement with its own experiment */
  placement?: string;
  variants: ExperimentVariant[];
  status: 'running' | 'stopped';
  createdAt: string;
  stoppedAt?: string;
}

export interface ExperimentsDoc {
  revision: number;
  experiments: Experiment[];
}

const EMPTY: ExperimentsDoc = { revision: 0, experiments: [] };

export async function readExperiments(kv: KVNamespace): Promise<ExperimentsDoc> {
  return (await kv.get<ExperimentsDoc>(KV.experiments, 'json')) ?? EMPTY;
}

export async function writeExperiments(kv: KVNamespace, doc: ExperimentsDoc): Promise<void> {
  await kv.put(KV.experiments, JSON.stringify(doc));
  cached = { at: Date.now(), doc };
}

let cached: { at: number; doc: ExperimentsDoc } | null = null;
let refreshing: Promise<void> | null = null;

/**
 * This isolate's copy: read on first use, then served from memory and refreshed in the
 * background (through `defer`) once older than `cacheSeconds`.
 */
export async function cachedExperiments(
  kv: KVNamespace,
  cacheSeconds: number,
  defer: (p: Promise<unknown>) => void,
): Promise<ExperimentsDoc> {
  const now = Date.now();
  if (!cached) {
    cached = { at: now, doc: await readExperiments(kv) };
  } else if (now - cached.at >= cacheSeconds * 1000 && !refreshing) {
    refreshing = readExperiments(kv)
      .then((doc) => {
        cached = { at: Date.now(), doc };
      })
      .catch(() => undefined)
      .finally(() => {
        refreshing = null;
      });
    defer(refreshing);
  }
  return cached.doc;
}

/** Model versions running experiments serve (refresh keeps them). */
export async function pinnedVersions(kv: KVNamespace): Promise<string[]> {
  const doc = await readExperiments(kv);
  return doc.experiments
    .filter((e) => e.status === 'running')
    .flatMap((e) => e.variants.map((v) => v.modelVersion))
    .filter((v): v is string => v !== undefined && v !== 'bundled');
}
