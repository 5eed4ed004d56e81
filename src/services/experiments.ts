/**
 * A/B tests between models and rules: defining, stopping and listing experiments, and assigning
 * a request's subject (a user id, or an anonymous session id) to a variant.
 *
 * Assignment is u = HMAC-SHA256(USER_ID_SECRET, "<experiment>\n<subject id>") read as a
 * number in [0, 1), and the variant whose cumulative weight share first exceeds u. The hash is
 * keyed, so nobody can choose ids to land in a variant; it depends only on the experiment's name
 * and the subject, so a subject keeps its variant for the experiment's whole life, in every
 * location and isolate, with nothing stored per subject; and u is uniform, so each variant gets
 * its weight share of subjects up to sampling error. Users and anonymous sessions share one id
 * space: a shop sends an anonymous visitor's session id as the userId of their events, and those
 * events must reach the model of the variant that answered them.
 * A definition never changes while it runs (that would move subjects between variants): a new
 * split is a new experiment.
 */
import { AppError } from '../errors';
import { type Experiment, type ExperimentsDoc, type ExperimentVariant, readExperiments, writeExperiments } from '../storage/experiments';
import { keyedHash } from '../storage/identity';

export type { Experiment, ExperimentVariant };

/** The subject an answer is about: a user, or an anonymous session the client names. */
export type Subject = { kind: 'user' | 'session'; id: string };

export interface ExperimentDeps {
  kv: KVNamespace;
  /** versions a variant may serve: "bundled", the active version and the kept previous ones */
  servableVersions(): Promise<string[]>;
  placementExists(name: string): boolean;
  now(): Date;
}

export type ExperimentInput = Omit<Experiment, 'status' | 'createdAt' | 'stoppedAt' | 'name'>;

/** u ∈ [0, 1) for a subject in an experiment (keyed; see the header). */
export async function assignmentPoint(secret: string | undefined, experiment: string, subject: Subject): Promise<number> {
  const digest = await keyedHash(secret, `${experiment}\n${subject.id}`);
  const v = new DataView(digest);
  // 53 bits: the high 32 and the next 21
  return (v.getUint32(0) * 2 ** 21 + (v.getUint32(4) >>> 11)) / 2 ** 53;
}

/** The variant of u: cumulative weight shares, in the order defined. */
export function variantAt(variants: readonly ExperimentVariant[], u: number): ExperimentVariant {
  const total = variants.reduce((s, v) => s + v.weight, 0);
  let acc = 0;
  for (const v of variants) {
    acc += v.weight / total;
    if (u < acc) return v;
  }
  return variants[variants.length - 1];
}

/** The running experiment a request for `placement` takes part in: the one scoped to it, else the unscoped one. */
export function runningFor(doc: ExperimentsDoc, placement: string | undefined): Experiment | undefined {
  const running = doc.experiments.filter((e) => e.status === 'running');
  return (
    (placement !== undefined ? running.find((e) => e.placement === placement) : undefined) ?? running.find((e) => e.placement === undefined)
  );
}

/** Defines (starts) an experiment; repeating the same definition is a no-op. */
export async function putExperiment(
  deps: ExperimentDeps,
  name: string,
  input: ExperimentInput,
): Promise<{ experiment: Experiment; created: boolean }> {
  const doc = await readExperiments(deps.kv);
  const existing = doc.experiments.find((e) => e.name === name);
  const definition = (e: ExperimentInput) => JSON.stringify({ d: e.description, p: e.placement, v: e.variants });
  if (existing) {
    if (existing.status === 'running' && definition(existing) === definition(input)) return { experiment: existing, created: false };
    throw new AppError(
      'experiment_conflict',
      existing.status === 'running'
        ? `experiment ${name} is running with another definition; changing it would move users between variants — stop it and start a new one`
        : `experiment ${name} was stopped; start a new experiment under a new name`,
    );
  }
  const names = new Set<string>();
  for (const v of input.variants) {
    if (names.has(v.name)) throw new AppError('invalid_request', `variant name ${v.name} is used twice`);
    names.add(v.name);
  }
  const servable = await deps.servableVersions();
  for (const v of input.variants) {
    if (v.modelVersion !== undefined && !servable.includes(v.modelVersion))
      throw new AppError(
        'invalid_request',
        `variant ${v.name}: model version ${v.modelVersion} is not kept by the registry (servable: ${servable.join(', ')})`,
      );
    if (v.placement !== undefined && !deps.placementExists(v.placement))
      throw new AppError('placement_not_found', `variant ${v.name}: no placement is named ${v.placement}`);
  }
  if (input.placement !== undefined && !deps.placementExists(input.placement))
    throw new AppError('placement_not_found', `no placement is named ${input.placement}`);
  const clash = runningFor({ revision: 0, experiments: doc.experiments.filter((e) => e.placement === input.placement) }, input.placement);
  if (clash)
    throw new AppError(
      'experiment_conflict',
      `experiment ${clash.name} already runs on ${input.placement === undefined ? 'every answer' : `placement ${input.placement}`}; stop it first`,
    );
  const experiment: Experiment = { name, ...input, status: 'running', createdAt: deps.now().toISOString() };
  await writeExperiments(deps.kv, { revision: doc.revision + 1, experiments: [...doc.experiments, experiment] });
  return { experiment, created: true };
}

/** Stops a running experiment (kept, with its counts, for reports); stopping twice is a no-op. */
export async function stopExperiment(deps: Pick<ExperimentDeps, 'kv' | 'now'>, name: string): Promise<Experiment> {
  const doc = await readExperiments(deps.kv);
  const found = doc.experiments.find((e) => e.name === name);
  if (!found) throw new AppError('experiment_not_found', `no experiment is named ${name}`);
  if (found.status === 'stopped') return found;
  const stopped: Experiment = { ...found, status: 'stopped', stoppedAt: deps.now().toISOString() };
  await writeExperiments(deps.kv, {
    revision: doc.revision + 1,
    experiments: doc.experiments.map((e) => (e.name === name ? stopped : e)),
  });
  return stopped;
}

export async function listExperiments(kv: KVNamespace): Promise<Experiment[]> {
  return (await readExperiments(kv)).experiments;
}

export async function getExperiment(kv: KVNamespace, name: string): Promise<Experiment> {
  const found = (await readExperiments(kv)).experiments.find((e) => e.name === name);
  if (!found) throw new AppError('experiment_not_found', `no experiment is named ${name}`);
  return found;
}
