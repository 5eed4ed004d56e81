/**
 * Forgetting a user: nothing of theirs is served once DELETE returns (trending included); their exported events are
 * erased by a resumable background job within a per-run operation budget, with progress the
 * caller can follow; events they send afterwards (a new consent) are served and exported.
 * And the export compaction this relies on: budgeted, resumable, never losing or doubling a row.
 */
import { env, runDurableObjectAlarm, SELF } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { eraseStep, newErasureJob } from '../../src/storage/erasure-jobs';
import { compactExports, dataLines, EXPORT_HEADER, windowStart } from '../../src/storage/exports';
import { identify } from '../../src/storage/identity';
import { KV, R2 } from '../../src/storage/keys';
import { clearStorage, getJson } from './fixtures';

const KEY = { authorization: 'Bearer test-api-key', 'content-type': 'application/json' };
const postEvents = (body: unknown) => SELF.fetch('http://x/v1/events', { method: 'POST', headers: KEY, body: JSON.stringify(body) });
const recs = async (user: string) => getJson(await SELF.fetch(`http://x/v1/users/${user}/recommendations?k=5`));
const who = (id: string) => identify(env.USER_ID_SECRET, id);
const erasures = () => env.ERASURE_JOBS.get(env.ERASURE_JOBS.idFromName('erasures'));

async function allText(prefix: string): Promise<string> {
  let text = '';
  for (const o of (await env.MODELS.list({ prefix })).objects) text += await (await env.MODELS.get(o.key))!.text();
  return text;
}

async function runErasures(): Promise<void> {
  for (let i = 0; i < 50 && (await runDurableObjectAlarm(erasures())); i++);
}

const compact = (opsBudget = 100) => compactExports(env.MODELS, env.RECS_KV, 3600, Date.now(), { includeOpen: true, opsBudget });

describe('forgetting a user', () => {
  beforeEach(clearStorage);

  it('stops serving them at once, and erases their exported events in the background with visible progress', async () => {
    // 17850 is in the bundled model's training data
    await postEvents({ userId: '17850', itemId: '22423', type: 'purchase' });
    await compact();
    await postEvents({ userId: '17850', itemId: '85123A', type: 'view' });
    await postEvents({ userId: 'someone-else', itemId: '85123A', type: 'view' });
    const me = await who('17850');
    expect((await recs('17850')).source).toBe('personalized');

    const res = await SELF.fetch('http://x/v1/users/17850', { method: 'DELETE', headers: KEY });
    expect(res.status).toBe(202);
    const body = await getJson(res);
    expect(body).toMatchObject({ userId: '17850', forgotten: true, erasure: { status: 'pending', rowsRemoved: 0 } });
    expect(res.headers.get('location')).toBe(`/v1/erasures/${body.erasure.id}`);

    // nothing of theirs is served, before the erasure has even run
    expect((await recs('17850')).source).toBe('popular');
    const keys = (await env.RECS_KV.list()).keys.map((k) => k.name).filter((k) => k.includes(me.key));
    expect(keys).toEqual([KV.forgotten(me.key)]); // only the keyed-hash marker that blocks the trained vector
    expect(await env.USER_HISTORY.get(env.USER_HISTORY.idFromName(me.key)).history()).toBeNull();

    await runErasures();
    const job = await getJson(await SELF.fetch(`http://x${res.headers.get('location')}`, { headers: KEY }));
    expect(job).toMatchObject({ id: body.erasure.id, status: 'done', phase: 'finished', rowsRemoved: 2 });
    expect(job.finishedAt).not.toBeNull();
    expect(await allText(R2.pendingEvents)).not.toContain(me.key);
    expect(await allText(R2.exports)).not.toContain(me.key);
    expect(await allText(R2.pendingEvents)).toContain((await who('someone-else')).key);
  });

  it('takes their share out of trending: an item only they and two others viewed is no longer listed', async () => {
    const trending = async () => (await getJson(await SELF.fetch('http://x/v1/trending?k=20'))).items as { id: string; score: number }[];
    const quiet = await trending();
    // three shoppers (TRENDING_MIN_SHOPPERS) make 22423 trend; one of them is then forgotten
    await postEvents({ events: ['a-fan', 'b-fan', 'leaver'].map((userId) => ({ userId, itemId: '22423', type: 'view' })) });
    const trend = await trending();
    expect(trend[0]).toMatchObject({ id: '22423' });
    expect(trend[0].score).toBeGreaterThan(0);
    expect((await SELF.fetch('http://x/v1/users/leaver', { method: 'DELETE', headers: KEY })).status).toBe(202);
    // two shoppers are below the gate: the list is the model's popularity again, as before any event
    expect((await trending()).map((i) => [i.id, i.score])).toEqual(quiet.map((i) => [i.id, i.score]));
  });

  it('exports events sent after the deletion (a new consent), and drops those accepted before it', async () => {
    const me = await who('returning');
    await postEvents({ userId: 'returning', itemId: '22423', type: 'purchase' }); // before: pending, not yet compacted
    expect((await SELF.fetch('http://x/v1/users/returning', { method: 'DELETE', headers: KEY })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 5)); // a later millisecond than the deletion
    await postEvents({ events: ['85123A', '71053', '84029E'].map((itemId) => ({ userId: 'returning', itemId, type: 'purchase' })) });
    expect((await recs('returning')).source).toBe('personalized');

    // the row accepted before the deletion is gone (erased by the job, or dropped at compaction,
    // whichever comes first); the three after it are exported
    expect((await compact()).rows).toBe(3);
    const rows = dataLines(await allText(R2.exports)).filter((l) => l.startsWith(`${me.key},`));
    expect(rows.map((l) => l.split(',')[1]).sort()).toEqual(['71053', '84029E', '85123A']);
    await runErasures();
    expect(dataLines(await allText(R2.exports)).filter((l) => l.startsWith(`${me.key},`))).toHaveLength(3);
  });

  it('never brings the training history back through an event racing the DELETE, whichever lands first', async () => {
    // 12347 is a customer of the bundled model's training data
    const me = await who('12347');
    const stub = env.USER_HISTORY.get(env.USER_HISTORY.idFromName(me.key));
    const version = (await getJson(await SELF.fetch('http://x/v1/model'))).version as string;
    const seed = [{ itemId: '85123A', strength: 1 }];
    const view = (itemId: string) => [{ itemId, strength: 0.1, at: Date.now(), type: 'view' }];

    // the event's append (seeded with the training history) lands before the erasure, its embedding write after it
    const before = await stub.append(view('22423'), seed);
    expect(before.items.map((i) => i.itemId).sort()).toEqual(['22423', '85123A']);
    expect((await SELF.fetch('http://x/v1/users/12347', { method: 'DELETE', headers: KEY })).status).toBe(202);
    expect(await stub.storeEmbedding(KV.embedding(version, me.key), before.revision, 'stale', 3600)).toBe(false);
    expect(await env.RECS_KV.get(KV.embedding(version, me.key))).toBeNull();
    expect(await stub.history()).toBeNull();

    // an append that lands after the erasure still offers the training history as the seed: it is not taken
    const after = await stub.append(view('71053'), seed);
    expect(after.items.map((i) => i.itemId)).toEqual(['71053']);
    expect(await stub.storeEmbedding(KV.embedding(version, me.key), after.revision, 'fresh', 3600)).toBe(true);

    // through the API: a new event is served on its own, with nothing of the training history
    expect((await postEvents({ userId: '12347', itemId: '84029E', type: 'view' })).status).toBe(200);
    const body = await getJson(await SELF.fetch('http://x/v1/users/12347/recommendations?k=5&explain=true'));
    expect(body.source).toBe('personalized');
    const reasons = new Set(body.items.flatMap((i: { because?: { id: string }[] }) => (i.because ?? []).map((b) => b.id)));
    for (const id of reasons) expect(['71053', '84029E']).toContain(id);
  });

  it('answers 404 for an unknown job and 401 without the API key', async () => {
    const missing = await SELF.fetch(`http://x/v1/erasures/${crypto.randomUUID()}`, { headers: KEY });
    expect(missing.status).toBe(404);
    expect((await SELF.fetch(`http://x/v1/erasures/${crypto.randomUUID()}`)).status).toBe(401);
  });
});

describe('the erasure job', () => {
  beforeEach(clearStorage);

  it('spends at most its operation budget per run and resumes from its cursor until done', async () => {
    const requestedAt = Date.now();
    const window = windowStart(requestedAt - 7200_000, 3600);
    // 60 export parts, every third holding the user's row, plus rows of others everywhere
    for (let p = 0; p < 60; p++) {
      const lines = [`other-${p},22423,1,2026-01-01T00:00:00.000Z,purchase`];
      if (p % 3 === 0) lines.push(`gone,85123A,1,2026-01-01T00:00:00.000Z,purchase`);
      await env.MODELS.put(`${R2.exports}${window}--part-${String(p).padStart(2, '0')}.csv`, `${EXPORT_HEADER}\n${lines.join('\n')}\n`);
    }
    // and a part of a window that started after the deletion: never touched
    const later = `${R2.exports}${windowStart(requestedAt + 3600_000, 3600)}--late.csv`;
    await env.MODELS.put(later, `${EXPORT_HEADER}\ngone,71053,1,2026-01-01T00:00:00.000Z,purchase\n`);

    const job = newErasureJob('gone', requestedAt, 'j');
    const progress: number[] = [];
    while (job.status !== 'done' && job.runs < 50) {
      const spent = await eraseStep(env.MODELS, job, 20);
      expect(spent).toBeLessThanOrEqual(20);
      expect(job.opsLastRun).toBe(spent);
      progress.push(job.objectsScanned);
    }
    expect(job.status).toBe('done');
    expect(progress.length).toBeGreaterThan(3);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(job.rowsRemoved).toBe(20);
    const text = await allText(R2.exports);
    expect(text.match(/^gone,/gm)).toHaveLength(1); // the later window's row stays
    expect(text.match(/^other-/gm)).toHaveLength(60);
    expect(await (await env.MODELS.get(later))!.text()).toContain('gone,71053');
  });
});

describe('export compaction', () => {
  beforeEach(clearStorage);

  it("drops a forgotten user's rows accepted before the deletion and keeps those accepted after it", async () => {
    const forgottenAt = Date.now();
    await env.RECS_KV.put(KV.forgotten('gone'), String(forgottenAt));
    const window = windowStart(forgottenAt, 3600);
    const batch = (at: number, user: string, item: string) =>
      env.MODELS.put(
        `${R2.pendingWindow(window)}${at}-${crypto.randomUUID()}.csv`,
        `${EXPORT_HEADER}\n${user},${item},1,2026-01-01T00:00:00.000Z,purchase\n`,
      );
    await batch(forgottenAt - 1000, 'gone', 'before');
    await batch(forgottenAt + 1000, 'gone', 'after');
    await batch(forgottenAt - 1000, 'kept', 'other');
    expect(await compact()).toMatchObject({ rows: 2, dropped: 1 });
    const rows = dataLines(await allText(R2.exports)).map((l) => l.split(',').slice(0, 2).join(','));
    expect(rows.sort()).toEqual(['gone,after', 'kept,other']);
  });

  it('compacts a busy window over several runs within the budget, and loses or doubles nothing when a run is repeated', async () => {
    for (let b = 0; b < 30; b++) await postEvents({ userId: `shopper-${b}`, itemId: '22423', type: 'purchase' });
    const pending = (await env.MODELS.list({ prefix: R2.pendingEvents })).objects.map((o) => o.key);
    expect(pending).toHaveLength(30);
    // a run that wrote its part but was cut off before deleting its batches: repeat it
    const copies = new Map<string, string>();
    for (const key of pending.slice(0, 6)) copies.set(key, await (await env.MODELS.get(key))!.text());
    const first = await compact(10);
    expect(first.ops).toBeLessThanOrEqual(10);
    expect(first.remaining).toBe(true);
    for (const [key, text] of copies) if (!(await env.MODELS.head(key))) await env.MODELS.put(key, text);
    let runs = 1;
    for (let r = await compact(10); r.remaining || r.windows.length; r = await compact(10)) {
      expect(r.ops).toBeLessThanOrEqual(10);
      if (++runs > 20) break;
    }
    expect(runs).toBeGreaterThan(3);
    const rows = dataLines(await allText(R2.exports));
    expect(rows).toHaveLength(30);
    expect(new Set(rows.map((l) => l.split(',')[0])).size).toBe(30);
    expect((await env.MODELS.list({ prefix: R2.pendingEvents })).objects).toHaveLength(0);
  });

  it('waits for a window to close and a grace period before compacting it', async () => {
    await postEvents({ userId: 'late', itemId: '22423', type: 'purchase' });
    const now = Date.now();
    expect((await compactExports(env.MODELS, env.RECS_KV, 3600, now, { opsBudget: 100 })).windows).toEqual([]);
    const after = (await compactExports(env.MODELS, env.RECS_KV, 3600, now + 3600_000 + 6 * 60_000, { opsBudget: 100 })).windows;
    expect(after).toEqual([windowStart(now, 3600)]);
  });
});
