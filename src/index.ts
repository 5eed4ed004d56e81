/** Worker entry: the HTTP app and the cron-triggered model refresh. */
import { createApp } from './app';
import { scheduled } from './refresh/scheduled';

const app = createApp();

export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Env>;

/** Durable Object class: per-user interaction history (src/events/history.ts). */
export { UserHistory } from './events/history';
