/** The outcome of the latest model refresh, kept in KV for /v1/model and operators. */
export const LAST_REFRESH_KEY = 'model:last-refresh';

export interface RefreshStatus {
  at: string;
  outcome: 'activated' | 'unchanged' | 'rejected' | 'staging' | 'failed';
  version: string | null;
  reason: string | null;
  /** storage operations the run spent (origin reads + MODELS writes) */
  ops?: number;
}

export async function readLastRefresh(kv: KVNamespace): Promise<RefreshStatus | null> {
  return kv.get<RefreshStatus>(LAST_REFRESH_KEY, 'json');
}

export async function writeLastRefresh(kv: KVNamespace, status: RefreshStatus): Promise<void> {
  await kv.put(LAST_REFRESH_KEY, JSON.stringify(status));
}
