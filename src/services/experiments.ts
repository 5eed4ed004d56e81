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
 * split is a new experiment. Starts and stops are applied by one Durable Object, one after the
 * other (storage/experiments.ts): of overlapping starts sent at once exactly one wins.
 */
import { AppError } from '../errors';
import {
  type Experiment,
  type ExperimentStoreClient,
  type ExperimentsDoc,
  type ExperimentVariant,
  type StartOutcome,
  sameDefinition,
} from '../storage/experiments';
import { keyedHash } from '../storage/identity';

export type { Experiment, ExperimentVariant };

/** The subject an answer is about: a user, or an anonymous session the client names. */
export type Subject = { kind: 'user' | 'session'; id: string };

export interface ExperimentDeps {
  store: ExperimentStoreClient;
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

/** The 409 for a start the store refused. */
function refusal(name: string, outcome: Extract<StartOutcome['outcome'], 'name_taken' | 'scope_taken'>, other: Experiment): AppError {
  if (outcome === 'scope_taken')
    return new AppError(
      'experiment_conflict',
      `experiment ${other.name} already runs on ${other.placement === undefined ? 'every answer' : `placement ${other.placement}`}; stop it first`,
    );
  return new AppError(
    'experiment_conflict',
    other.status === 'running'
      ? `experiment ${name} is running with another definition; changing it would move users between variants — stop it and start a new one`
      : `experiment ${name} was stopped; start a new experiment under a new name`,
  );
}

/**
 * Defines (starts) an experiment; repeating the same definition is a no-op. The name and scope
 * are checked once before the (slower) validation, for a clear answer, and again by the store in
 * the same step as the write, which is what makes concurrent starts safe.
 */
export async function putExperiment(
  deps: ExperimentDeps,
  name: string,
  input: ExperimentInput,
): Promise<{ experiment: Experiment; created: boolean }> {
  const doc = await deps.store.list();
  const existing = doc.experiments.find((e) => e.name === name);
  if (existing) {
    if (existing.status === 'running' && sameDefinition(existing, input)) return { experiment: existing, created: false };
    throw refusal(name, 'name_taken', existing);
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
  const clash = doc.experiments.find((e) => e.status === 'running' && e.placement === input.placement);
  if (clash) throw refusal(name, 'scope_taken', clash);
  const result = await deps.store.start({ name, ...input, status: 'running', createdAt: deps.now().toISOString() });
  switch (result.outcome) {
    case 'started':
      return { experiment: result.experiment, created: true };
    case 'unchanged':
      return { experiment: result.experiment, created: false };
    default:
      throw refusal(name, result.outcome, result.experiment);
  }
}

/** Stops a running experiment (kept, with its counts, for reports); stopping twice is a no-op. */
export async function stopExperiment(deps: Pick<ExperimentDeps, 'store' | 'now'>, name: string): Promise<Experiment> {
  const stopped = await deps.store.stop(name, deps.now().toISOString());
  if (!stopped) throw new AppError('experiment_not_found', `no experiment is named ${name}`);
  return stopped;
}

export async function listExperiments(store: ExperimentStoreClient): Promise<Experiment[]> {
  return (await store.list()).experiments;
}

export async function getExperiment(store: ExperimentStoreClient, name: string): Promise<Experiment> {
  const found = (await store.list()).experiments.find((e) => e.name === name);
  if (!found) throw new AppError('experiment_not_found', `no experiment is named ${name}`);
  return found;
}

/**
 * Refuses to delete a placement a running experiment uses — as its scope, or as a variant's rules
 * (AppError placement_in_use naming the experiment). A delete that races a start can still leave
 * a variant without its placement: its answers then use the placement asked for (context.ts enter).
 */
export async function checkPlacementUnused(store: ExperimentStoreClient, placement: string): Promise<void> {
  for (const e of (await store.list()).experiments) {
    if (e.status !== 'running') continue;
    const variant = e.variants.find((v) => v.placement === placement);
    if (e.placement === placement || variant)
      throw new AppError(
        'placement_in_use',
        `placement ${placement} is used by running experiment ${e.name} (${variant ? `variant ${variant.name}` : 'its scope'}); stop it first (POST /admin/experiments/${e.name}/stop)`,
      );
  }
}
