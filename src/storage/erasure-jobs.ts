/**
 * Erasing a forgotten user's rows from the event files in R2, as a resumable background job.
 *
 * Why a job: the files are many (one pending object per accepted batch, export parts per
 * window), and one invocation may make at most 1,000 storage operations, so a DELETE cannot
 * read them all inline. DELETE /v1/users/{id} stops serving the user at once (markers,
 * embeddings, history) and enqueues a job here; GET /v1/erasures/{id} shows its progress.
 *
 * Why a Durable Object: one object (named "erasures") serialises the jobs, keeps them in its
 * strongly consistent storage, and runs them from its alarm — each alarm run spends at most
 * ERASURE_OPS_PER_RUN R2 operations, saves the job's cursor (the last key it finished) and
 * schedules the next run until every job is done. A run cut off mid-way repeats at most the
 * object it was on, and removing a user's rows twice removes nothing more.
 *
 * What a job touches: pending batches accepted before the deletion, then export parts of windows
 * that started before it; anything later was compacted after the user's forgotten marker was set
 * and holds only rows the user sent after the deletion (a new consent), which stay.
 */
import { DurableObject } from 'cloudflare:workers';
import { DAY_MS } from '@edge-recs/core/time';
import { configFrom } from '../config';
import { acceptedAt, dataLines, exportWindow, userKeyOf, windowStartMs, writeRows } from './exports';
import { DO, R2 } from './keys';

export interface ErasureJob {
  id: string;
  /** keyed hash of the user */
  userKey: string;
  /** when the user was forgotten (ms) */
  requestedAt: number;
  status: 'pending' | 'running' | 'done';
  phase: 'pending-batches' | 'exports' | 'finished';
  /** the last object key finished in the current phase */
  cursor: string | null;
  objectsScanned: number;
  rowsRemoved: number;
  runs: number;
  /** storage operations the last run spent on this job */
  opsLastRun: number;
  finishedAt: number | null;
}

/** How long finished jobs stay readable. */
const KEEP_FINISHED_MS = 30 * DAY_MS;
/** Objects listed per R2 list call. */
const PAGE = 100;

/** A job not yet started: the first run reads pending batches from the start. */
export function newErasureJob(userKey: string, requestedAt: number, id: string = crypto.randomUUID()): ErasureJob {
  return {
    id,
    userKey,
    requestedAt,
    status: 'pending',
    phase: 'pending-batches',
    cursor: null,
    objectsScanned: 0,
    rowsRemoved: 0,
    runs: 0,
    opsLastRun: 0,
    finishedAt: null,
  };
}

export class ErasureJobs extends DurableObject<Env> {
  async enqueue(userKey: string, requestedAt: number): Promise<ErasureJob> {
    const job = newErasureJob(userKey, requestedAt);
    await this.ctx.storage.put(`job:${job.id}`, job);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
    return job;
  }

  async job(id: string): Promise<ErasureJob | null> {
    return (await this.ctx.storage.get<ErasureJob>(`job:${id}`)) ?? null;
  }

  override async alarm(): Promise<void> {
    const jobs = [...(await this.ctx.storage.list<ErasureJob>({ prefix: 'job:' })).values()].sort((a, b) => a.requestedAt - b.requestedAt);
    // R2 operations this run may spend (ERASURE_OPS_PER_RUN), below the invocation's 1,000
    let budget = configFrom(this.env).erasureOpsPerRun;
    let unfinished = false;
    for (const job of jobs) {
      if (job.status === 'done') {
        if (job.finishedAt !== null && Date.now() - job.finishedAt > KEEP_FINISHED_MS) await this.ctx.storage.delete(`job:${job.id}`);
        continue;
      }
      if (budget <= 2) {
        unfinished = true;
        continue;
      }
      const spent = await eraseStep(this.env.MODELS, job, budget);
      budget -= spent;
      await this.ctx.storage.put(`job:${job.id}`, job);
      if (job.phase !== 'finished') unfinished = true;
    }
    if (unfinished) await this.ctx.storage.setAlarm(Date.now() + 1000);
  }
}

/**
 * Advances a job by at most `budget` R2 operations (lists, reads, writes); returns what it spent.
 * Mutates the job: cursor, counters, phase and status.
 */
export async function eraseStep(bucket: R2Bucket, job: ErasureJob, budget: number): Promise<number> {
  let ops = 0;
  job.status = 'running';
  job.runs++;
  while (job.phase !== 'finished' && ops + 3 <= budget) {
    const prefix = job.phase === 'pending-batches' ? R2.pendingEvents : R2.exports;
    const page = await bucket.list({ prefix, limit: PAGE, ...(job.cursor ? { startAfter: job.cursor } : {}) });
    ops++;
    let stoppedEarly = false;
    for (const { key } of page.objects) {
      if (ops + 2 > budget) {
        stoppedEarly = true;
        break;
      }
      if (mayHoldRows(job, key)) {
        const obj = await bucket.get(key);
        ops++;
        if (obj) {
          const lines = dataLines(await obj.text());
          const kept = lines.filter((l) => userKeyOf(l) !== job.userKey);
          if (kept.length !== lines.length) {
            await writeRows(bucket, key, kept);
            ops++;
            job.rowsRemoved += lines.length - kept.length;
          }
        }
      }
      job.objectsScanned++;
      job.cursor = key;
    }
    if (!stoppedEarly && !page.truncated) {
      job.phase = job.phase === 'pending-batches' ? 'exports' : 'finished';
      job.cursor = null;
    }
  }
  job.opsLastRun = ops;
  if (job.phase === 'finished') {
    job.status = 'done';
    job.finishedAt = Date.now();
  }
  return ops;
}

/** Whether an object can hold rows of the job's user from before the deletion (decided by its key alone). */
function mayHoldRows(job: ErasureJob, key: string): boolean {
  if (job.phase === 'pending-batches') return !(acceptedAt(key) >= job.requestedAt);
  return !(windowStartMs(exportWindow(key)) >= job.requestedAt);
}

/** The erasure jobs as services use them. */
export interface ErasureQueue {
  enqueue(userKey: string, requestedAt: number): Promise<ErasureJob>;
  job(id: string): Promise<ErasureJob | null>;
}

export function erasureQueue(ns: DurableObjectNamespace<ErasureJobs>): ErasureQueue {
  const stub = () => ns.get(ns.idFromName(DO.erasures));
  return {
    enqueue: (userKey, requestedAt) => stub().enqueue(userKey, requestedAt),
    job: (id) => stub().job(id),
  };
}
