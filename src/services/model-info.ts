/** What GET /v1/model says about the active model: its manifest, how it is served, and refresh state (public view). */
import type { ServingModel } from '../models/model';
import type { Models } from '../models/registry';
import type { ModelInfo } from '../schemas';
import { readDamage, readLastRefresh } from '../storage/refresh-state';

/** What GET /v1/model reads: the serving models and the refresh log and damage records in KV. */
export interface ModelInfoDeps {
  models: Models;
  kv: KVNamespace;
}

export async function describeModel(deps: ModelInfoDeps): Promise<ModelInfo> {
  const m: ServingModel = await deps.models.active();
  const [pointer, report, damage] = await Promise.all([
    deps.models.pointer(),
    readLastRefresh(deps.kv),
    m.source.kind === 'bundled' ? {} : readDamage(deps.kv, m.version),
  ]);
  // the public view of the last run: no operator detail (origin location, exception text)
  const lastRefresh = report && { at: report.at, outcome: report.outcome, version: report.version, reason: report.reason, ops: report.ops };
  const man = m.manifest;
  return {
    version: m.version,
    source: m.source.kind === 'bundled' ? 'bundled' : 'origin',
    trainedAt: man.createdAt,
    dims: man.dims,
    itemCount: man.itemCount,
    userCount: man.userCount,
    scoring: m.scorer.kind,
    modelBytes: m.memoryBytes,
    algorithm: man.trainer.algorithm,
    hyperparameters: man.trainer.hyperparameters,
    data: {
      source: man.data.source,
      sha256: man.data.sha256,
      users: man.data.users,
      items: man.data.items,
      interactions: man.data.interactions,
    },
    metrics: man.metrics,
    itemModel: man.itemModel ?? null,
    previousVersions: pointer?.previous ?? [],
    lastRefresh,
    damagedFiles: Object.keys(damage).sort(),
  };
}
