/**
 * Every storage key this Worker reads or writes, in one place.
 *
 * KV (RECS_KV):
 *   model:active              the active-model pointer (the one switching write of a refresh)
 *   model:newest-activated    the newest version ever activated: a refresh only moves past it
 *   model:last-refresh        outcome of the latest refresh run (GET /v1/model, /admin)
 *   model:refresh-log         the latest runs, newest first (the dashboard)
 *   model:staging             cursor of a refresh that stages over several runs
 *   model:rejected:<version>  a verdict about a version's signed content (not retried)
 *   model:damaged:<version>   files of a serving version that failed their check since activation
 *   origin:etag:<key>         ETag and body of the origin's last conditional GET
 *   emb:<version>:<user key>  a user's embedding record for one model version
 *   forgotten:<user key>      the user asked to be forgotten (value: when, ms)
 *   hist:<user key>           the user has an edge history in their Durable Object
 *   experiments               every experiment (running and stopped): the copy answers read, written by
 *                             the EXPERIMENTS object after each change (storage/experiments.ts)
 * R2 (MODELS):
 *   models/<version>/<file>, models/latest.json   published artifacts (see core/manifest.ts)
 *   events/pending/<window>/<batch>.csv           accepted events awaiting compaction
 *   events/export/<window>--<batch>.csv           compacted export parts the trainer reads
 *   catalog/snapshots/<seq>/NNNN.jsonl, manifest.json  snapshots of the live catalogue
 * Durable Objects: USER_HISTORY (one per user key), ERASURE_JOBS "erasures", CATALOG "catalog",
 *   TRENDING "trending", METRICS "metrics-<shard>" (storage/metrics.ts), EXPERIMENTS "experiments".
 * User keys are keyed hashes of user ids (storage/identity.ts), never raw ids.
 */
import { ORIGIN_PREFIX } from '@edge-recs/core/manifest';

export { LATEST_KEY, ORIGIN_PREFIX } from '@edge-recs/core/manifest';

export const KV = {
  activeModel: 'model:active',
  newestActivated: 'model:newest-activated',
  lastRefresh: 'model:last-refresh',
  refreshLog: 'model:refresh-log',
  staging: 'model:staging',
  rejected: (version: string) => `model:rejected:${version}`,
  damaged: (version: string) => `model:damaged:${version}`,
  originEtag: (key: string) => `origin:etag:${key}`,
  embedding: (version: string, userKey: string) => `emb:${version}:${userKey}`,
  forgotten: (userKey: string) => `forgotten:${userKey}`,
  historyMarker: (userKey: string) => `hist:${userKey}`,
  experiments: 'experiments',
} as const;

export const R2 = {
  modelFile: (version: string, file: string) => `${ORIGIN_PREFIX}${version}/${file}`,
  modelPrefix: (version: string) => `${ORIGIN_PREFIX}${version}/`,
  pendingEvents: 'events/pending/',
  pendingWindow: (window: string) => `events/pending/${window}/`,
  exports: 'events/export/',
  catalogSnapshots: 'catalog/snapshots/',
  catalogSnapshotPart: (seq: number, part: number) => `catalog/snapshots/${seq}/${String(part).padStart(4, '0')}.jsonl`,
  catalogSnapshotManifest: (seq: number) => `catalog/snapshots/${seq}/manifest.json`,
} as const;

/** Names of the singleton and sharded Durable Objects (per-user histories are named by user key). */
export const DO = {
  catalog: 'catalog',
  erasures: 'erasures',
  trending: 'trending',
  experiments: 'experiments',
  metrics: (shard: number) => `metrics-${shard}`,
} as const;
