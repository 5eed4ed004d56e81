/**
 * What model refresh keeps in KV: the active-model pointer (the one switching write), the
 * outcome of the last run, the staging cursor of a run that continues next time, and verdicts
 * about versions that must not be verified again.
 */
import type { RefreshStatus } from '../schemas';
import { KV } from './keys';

export type { RefreshStatus };

export interface ActivePointer {
  version: string;
  activatedAt: string;
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
const REJECTION_TTL_SECONDS = 30 * 24 * 60 * 60;

export function readActivePointer(kv: KVNamespace): Promise<ActivePointer | null> {
  return kv.get<ActivePointer>(KV.activeModel, 'json');
}

export async function writeActivePointer(kv: KVNamespace, pointer: ActivePointer): Promise<void> {
  await kv.put(KV.activeModel, JSON.stringify(pointer));
}

export function readLastRefresh(kv: KVNamespace): Promise<RefreshStatus | null> {
  return kv.get<RefreshStatus>(KV.lastRefresh, 'json');
}

export async function writeLastRefresh(kv: KVNamespace, status: RefreshStatus): Promise<void> {
  await kv.put(KV.lastRefresh, JSON.stringify(status));
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
