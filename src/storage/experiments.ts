/**
 * Experiments at rest: one Durable Object writes them, KV holds the copy every answer reads.
 *
 * Writes — one object (class ExperimentStore, named "experiments", SQLite storage) holds every
 * experiment, running and stopped. Starting and stopping are read-check-write steps (is the name
 * taken? does another experiment run on the same placement scope?), and two of them at once must
 * not both pass their checks or overwrite each other's result. Each runs inside the object as one
 * synchronous step over its storage, without an await between the check and the write, so the
 * object applies them one after the other: of concurrent overlapping starts exactly one wins, and
 * a stop is never undone by a start of another experiment. Admin reads (listing, one experiment,
 * reports, whether a placement is in use) ask the object too: they are rare and must see the
 * latest change.
 *
 * Reads on the answer path — after every change the object writes the whole document (it is small:
 * definitions only) to KV (`experiments`), and every isolate reads that copy through a short cache
 * (EXPERIMENTS_CACHE_SECONDS, refreshed in the background). Experiments change a few times a
 * month and every answer reads them: KV is built for that, at no added latency, and every isolate
 * asking the one object every few seconds would make it a global dependency of every answer. The
 * cost is propagation: a start or stop reaches every location within KV's eventual consistency
 * (about a minute) plus the cache; the isolate that made the change sees it at once. Assignment
 * itself does not depend on it, since a subject's variant is a keyed hash of their id and the
 * experiment's definition, which never changes while it runs.
 *
 * The copy is written one write at a time, each of the newest document, so it ends with the last
 * change whatever order writes finish in; an alarm stored with every change that is not copied
 * yet retries it — after a failed write, or when the object stopped before writing (the change
 * itself is stored, and the admin reads already see it). On its first start the
 * object adopts the document earlier versions of this Worker kept in KV alone.
 */
import { DurableObject } from 'cloudflare:workers';
import { DO, KV } from './keys';

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

/** Whether two experiments define the same split (description, scope and variants). */
export function sameDefinition(a: Omit<Experiment, 'name' | 'status' | 'createdAt'>, b: Omit<Experiment, 'name' | 'status' | 'createdAt'>) {
  const definition = (e: typeof a) => JSON.stringify({ d: e.description, p: e.placement, v: e.variants });
  return definition(a) === definition(b);
}

/** What a start did: started it, found it running as defined, or refused it (the name taken, or the scope). */
export type StartOutcome =
  | { outcome: 'started' | 'unchanged'; experiment: Experiment }
  | { outcome: 'name_taken' | 'scope_taken'; experiment: Experiment };

/** Delay before a failed write of the KV copy is tried again. */
const RETRY_MS = 10_000;

export class ExperimentStore extends DurableObject<Env> {
  private doc: ExperimentsDoc = EMPTY;
  /** the revision the KV copy holds (as far as this object wrote it) */
  private replicated = 0;
  private replicating: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const sql = ctx.storage.sql;
      sql.exec(
        'CREATE TABLE IF NOT EXISTS doc (id INTEGER PRIMARY KEY, revision INTEGER NOT NULL, experiments TEXT NOT NULL, replicated INTEGER NOT NULL)',
      );
      const row = sql
        .exec<{ revision: number; experiments: string; replicated: number }>('SELECT revision, experiments, replicated FROM doc')
        .toArray()[0];
      if (row) {
        this.doc = { revision: row.revision, experiments: JSON.parse(row.experiments) as Experiment[] };
        this.replicated = row.replicated;
        // a change stored before the object stopped but never copied to KV: copy it now
        if (row.revision > row.replicated) await ctx.storage.setAlarm(Date.now());
      } else {
        // first start: adopt what the KV-only versions of this Worker wrote (it is the KV copy already)
        const adopted = await readExperiments(env.RECS_KV);
        this.save(adopted, adopted.revision);
      }
    });
  }

  private save(doc: ExperimentsDoc, replicated = this.replicated): void {
    this.doc = doc;
    this.replicated = replicated;
    this.ctx.storage.sql.exec(
      'INSERT OR REPLACE INTO doc (id, revision, experiments, replicated) VALUES (0, ?, ?, ?)',
      doc.revision,
      JSON.stringify(doc.experiments),
      replicated,
    );
    // the alarm is stored with the change (same output gate): if the object stops before the KV
    // copy is written, the alarm writes it; once the copy is current there is nothing to retry
    if (doc.revision > replicated) void this.ctx.storage.setAlarm(Date.now() + RETRY_MS);
    else void this.ctx.storage.deleteAlarm();
  }

  /** Writes the newest document to KV once no earlier write is under way (see the header). */
  private replicate(): Promise<void> {
    const write = async () => {
      const doc = this.doc;
      if (doc.revision <= this.replicated) return;
      try {
        await writeExperiments(this.env.RECS_KV, doc);
        this.save(this.doc, Math.max(this.replicated, doc.revision));
      } catch (err) {
        console.error(
          `experiments: the KV copy of revision ${doc.revision} was not written (retried): ${err instanceof Error ? err.message : String(err)}`,
        );
        await this.ctx.storage.setAlarm(Date.now() + RETRY_MS);
      }
    };
    this.replicating = this.replicating.then(write).catch(() => undefined);
    return this.replicating;
  }

  override async alarm(): Promise<void> {
    await this.replicate();
  }

  async list(): Promise<ExperimentsDoc> {
    return this.doc;
  }

  /** Starts `experiment` unless its name is taken or another experiment runs on its scope (one step: see the header). */
  async start(experiment: Experiment): Promise<StartOutcome & { doc: ExperimentsDoc }> {
    const existing = this.doc.experiments.find((e) => e.name === experiment.name);
    if (existing) {
      const outcome = existing.status === 'running' && sameDefinition(existing, experiment) ? 'unchanged' : 'name_taken';
      return { outcome, experiment: existing, doc: this.doc };
    }
    const clash = this.doc.experiments.find((e) => e.status === 'running' && e.placement === experiment.placement);
    if (clash) return { outcome: 'scope_taken', experiment: clash, doc: this.doc };
    this.save({ revision: this.doc.revision + 1, experiments: [...this.doc.experiments, experiment] });
    await this.replicate();
    return { outcome: 'started', experiment, doc: this.doc };
  }

  /** Stops a running experiment; stopping a stopped one changes nothing; null when there is none of that name. */
  async stop(name: string, at: string): Promise<{ experiment: Experiment | null; doc: ExperimentsDoc }> {
    const found = this.doc.experiments.find((e) => e.name === name);
    if (!found || found.status === 'stopped') return { experiment: found ?? null, doc: this.doc };
    const stopped: Experiment = { ...found, status: 'stopped', stoppedAt: at };
    this.save({ revision: this.doc.revision + 1, experiments: this.doc.experiments.map((e) => (e.name === name ? stopped : e)) });
    await this.replicate();
    return { experiment: stopped, doc: this.doc };
  }
}

/** The experiments object as services use it (writes, and reads that must see the latest change). */
export interface ExperimentStoreClient {
  list(): Promise<ExperimentsDoc>;
  start(experiment: Experiment): Promise<StartOutcome>;
  stop(name: string, at: string): Promise<Experiment | null>;
}

export function experimentStore(ns: DurableObjectNamespace<ExperimentStore>): ExperimentStoreClient {
  const stub = () => ns.get(ns.idFromName(DO.experiments));
  return {
    list: async () => (await stub().list()) as ExperimentsDoc,
    async start(experiment) {
      const { doc, ...outcome } = (await stub().start(experiment)) as StartOutcome & { doc: ExperimentsDoc };
      remember(doc);
      return outcome;
    },
    async stop(name, at) {
      const { doc, experiment } = (await stub().stop(name, at)) as { experiment: Experiment | null; doc: ExperimentsDoc };
      remember(doc);
      return experiment;
    },
  };
}

export async function readExperiments(kv: KVNamespace): Promise<ExperimentsDoc> {
  return (await kv.get<ExperimentsDoc>(KV.experiments, 'json')) ?? EMPTY;
}

async function writeExperiments(kv: KVNamespace, doc: ExperimentsDoc): Promise<void> {
  await kv.put(KV.experiments, JSON.stringify(doc));
}

let cached: { at: number; doc: ExperimentsDoc } | null = null;
let refreshing: Promise<void> | null = null;

/** Keeps a document in this isolate's copy unless the copy is newer (a KV read may lag this isolate's own change). */
function remember(doc: ExperimentsDoc, at = Date.now()): void {
  if (!cached || doc.revision >= cached.doc.revision) cached = { at, doc };
  else cached = { at, doc: cached.doc };
}

/**
 * This isolate's copy of the KV replica: read on first use, then served from memory and refreshed
 * in the background (through `defer`) once older than `cacheSeconds`. Changes this isolate made
 * show at once.
 */
export async function cachedExperiments(
  kv: KVNamespace,
  cacheSeconds: number,
  defer: (p: Promise<unknown>) => void,
): Promise<ExperimentsDoc> {
  const now = Date.now();
  if (!cached) {
    remember(await readExperiments(kv), now);
  } else if (now - cached.at >= cacheSeconds * 1000 && !refreshing) {
    refreshing = readExperiments(kv)
      .then((doc) => remember(doc))
      .catch(() => undefined)
      .finally(() => {
        refreshing = null;
      });
    defer(refreshing);
  }
  return (cached as { doc: ExperimentsDoc }).doc;
}

/** Model versions running experiments serve (refresh keeps them): from the KV copy the object writes before a start answers. */
export async function pinnedVersions(kv: KVNamespace): Promise<string[]> {
  const doc = await readExperiments(kv);
  return doc.experiments
    .filter((e) => e.status === 'running')
    .flatMap((e) => e.variants.map((v) => v.modelVersion))
    .filter((v): v is string => v !== undefined && v !== 'bundled');
}
