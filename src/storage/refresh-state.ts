/**
 * What model refresh keeps in KV: the active-model pointer (the one switching write), the
 * outcome of the last run, the staging cursor of a run that continues next time, and verdicts
 * about versions that must not be verified again.
 */

import { DAY_SECONDS } from '@edge-recs/core/time';
import type { RefreshReport } from '../schemas';
import { KV } from './keys';

export type { RefreshReport };

export interface ActivePointer {
  version: string;
  activatedAt: string;
  /** the active version's manifest creation time (signed): a refresh only moves forward from it */
  createdAt?: string;
  /** earlier good versions, newest first (rollback targets) */
  previous: string[];
}

export interface StagingState {
  version: string;
  /** index of the next file (in manifest order) to stage */
  next: number;
  total: number;
  startedAt: string;
  runs: number;
}

/** How long a verdict about a version's content is remembered. */
const REJECTION_TTL_SECONDS = 30 * DAY_SECONDS;

export function readActivePointer(kv: KVNamespace): Promise<ActivePointer | null> {
  return kv.get<ActivePointer>(KV.activeModel, 'json');
}

export async function writeActivePointer(kv: KVNamespace, pointer: ActivePointer): Promise<void> {
  await kv.put(KV.activeModel, JSON.stringify(pointer));
}

/** The newest version (by signed creation time) this deployment ever activated: where "forward" starts. */
export interface NewestActivated {
  version: string;
  createdAt: string;
}

export function readNewestActivated(kv: KVNamespace): Promise<NewestActivated | null> {
  return kv.get<NewestActivated>(KV.newestActivated, 'json');
}

/** Records `candidate` when it is newer than what is recorded (activations are rare: one write each at most). */
export async function raiseNewestActivated(kv: KVNamespace, candidate: NewestActivated): Promise<void> {
  const current = await readNewestActivated(kv);
  if (current && !(Date.parse(candidate.createdAt) > Date.parse(current.createdAt))) return;
  await kv.put(KV.newestActivated, JSON.stringify(candidate));
}

/** Removes the active pointer: the bundled model serves again (a rollback past the first published version). */
export async function clearActivePointer(kv: KVNamespace): Promise<void> {
  await kv.delete(KV.activeModel);
}

export function readLastRefresh(kv: KVNamespace): Promise<RefreshReport | null> {
  return kv.get<RefreshReport>(KV.lastRefresh, 'json');
}

/** Runs kept in the refresh log (the dashboard's refresh history). */
export const REFRESH_LOG_LENGTH = 50;

/** Records a run's outcome as the last one, and at the head of the log (one writer: the cron or an operator). */
export async function writeLastRefresh(kv: KVNamespace, status: RefreshReport): Promise<void> {
  await kv.put(KV.lastRefresh, JSON.stringify(status));
  const log = (await kv.get<RefreshReport[]>(KV.refreshLog, 'json')) ?? [];
  await kv.put(KV.refreshLog, JSON.stringify([status, ...log].slice(0, REFRESH_LOG_LENGTH)));
}

/** The latest runs, newest first. */
export async function readRefreshLog(kv: KVNamespace): Promise<RefreshReport[]> {
  return (await kv.get<RefreshReport[]>(KV.refreshLog, 'json')) ?? [];
}

export function readStaging(kv: KVNamespace): Promise<StagingState | null> {
  return kv.get<StagingState>(KV.staging, 'json');
}

export async function writeStaging(kv: KVNamespace, state: StagingState): Promise<void> {
  await kv.put(KV.staging, JSON.stringify(state));
}

export async function clearStaging(kv: KVNamespace): Promise<void> {
  await kv.delete(KV.staging);
}

export function readRejection(kv: KVNamespace, version: string): Promise<string | null> {
  return kv.get(KV.rejected(version));
}

export async function writeRejection(kv: KVNamespace, version: string, reason: string): Promise<void> {
  await kv.put(KV.rejected(version), reason, { expirationTtl: REJECTION_TTL_SECONDS });
}

/** Files of a version that failed their check after activation, with why and when. */
export type DamageRecord = Record<string, { reason: string; at: string }>;

export async function readDamage(kv: KVNamespace, version: string): Promise<DamageRecord> {
  return (await kv.get<DamageRecord>(KV.damaged(version), 'json')) ?? {};
}

/** Adds a damaged file (read-modify-write: each isolate reports a file once, so writes are rare). */
export async function recordDamage(kv: KVNamespace, version: string, file: string, reason: string, at = new Date()): Promise<void> {
  const record = await readDamage(kv, version);
  if (record[file]) return;
  record[file] = { reason, at: at.toISOString() };
  await kv.put(KV.damaged(version), JSON.stringify(record));
}

/** Removes repaired files from the record (and the record once it is empty). */
export async function clearDamage(kv: KVNamespace, version: string, files: readonly string[]): Promise<void> {
  const record = await readDamage(kv, version);
  for (const f of files) delete record[f];
  if (Object.keys(record).length) await kv.put(KV.damaged(version), JSON.stringify(record));
  else await kv.delete(KV.damaged(version));
}
