/** Worker entry: the HTTP app, the cron-triggered model refresh, and the Durable Object classes. */
import { createApp } from './app';
import { scheduled } from './scheduled';

const app = createApp();

export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Env>;

/** The live catalogue and placements (src/storage/catalog-store.ts). */
export { CatalogStore } from './storage/catalog-store';
/** Background erasure of a forgotten user's exported events (src/storage/erasure-jobs.ts). */
export { ErasureJobs } from './storage/erasure-jobs';
/** Experiment definitions: starts and stops applied one at a time (src/storage/experiments.ts). */
export { ExperimentStore } from './storage/experiments';
/** Per-user interaction history (src/storage/history.ts). */
export { UserHistory } from './storage/history';
/** Attribution and traffic counters (src/storage/metrics.ts). */
export { MetricsStore } from './storage/metrics';
/** Time-decayed popularity from live events (src/storage/trending.ts). */
export { TrendingStore } from './storage/trending';
