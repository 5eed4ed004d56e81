/**
 * The whole personalisation loop as an operator runs it, against `wrangler dev`:
 * events → export to origin (cron compaction) → npm run train on the exports → npm run publish →
 * refresh → recommendations that changed accordingly.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateSigningKey } from '@edge-recs/core/signing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startWrangler, stopWrangler } from '../../scripts/wrangler-dev';

const exec = promisify(execFile);

describe('events → export → train → publish → refresh → recommendations', () => {
  let dir: string, state: string, base: string, wrangler: ChildProcess | undefined;
  let key: Awaited<ReturnType<typeof generateSigningKey>>;
  const vars = () => ({
    API_KEY: 'loop-key',
    ADMIN_TOKEN: 'loop-admin',
    USER_ID_SECRET: 'loop-secret',
    MODEL_PUBLIC_KEYS: key.publicKeyRaw,
    EXPORT_WINDOW_SECONDS: '1',
    ACTIVE_POINTER_TTL_SECONDS: '0',
  });

  beforeAll(async () => {
    key = await generateSigningKey();
    dir = await mkdtemp(join(tmpdir(), 'loop-'));
    state = join(dir, 'state');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    wrangler = await startWrangler(port, state, vars());
  }, 90_000);

  afterAll(() => stopWrangler(wrangler));

  it('learns a new buying pattern from edge events and serves it after the refresh', async () => {
    // 60 new shoppers: half buy a cake stand with paper straws, half a lunch bag with a doormat
    const A = ['22423', '21212'],
      B = ['20725', '48187'];
    const events = [];
    for (let u = 0; u < 60; u++) for (const itemId of u % 2 ? A : B) events.push({ userId: `shopper-${u}`, itemId, type: 'purchase' });
    for (let i = 0; i < events.length; i += 50) {
      const res = await fetch(`${base}/v1/events`, {
        method: 'POST',
        headers: { authorization: 'Bearer loop-key', 'content-type': 'application/json' },
        body: JSON.stringify({ events: events.slice(i, i + 50) }),
      });
      expect(res.status).toBe(200);
    }
    const before = (await (
      await fetch(`${base}/v1/recommendations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ items: ['22423'], k: 3 }),
      })
    ).json()) as { items: { id: string }[] };
    expect(before.items.map((i: { id: string }) => i.id)).not.toContain('21212');

    // the export window (1 s) closes, and its grace period (as long as the window) passes; the
    // cron compacts it into export parts events/export/<window>--<batch>.csv
    await new Promise((r) => setTimeout(r, 2500));
    expect((await fetch(`${base}/cdn-cgi/handler/scheduled?cron=*/15+*+*+*+*`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));

    // an offline job pulls the exports from origin storage and trains on them
    stopWrangler(wrangler);
    wrangler = undefined;
    await new Promise((r) => setTimeout(r, 1000));
    const { getPlatformProxy } = await import('wrangler');
    const proxy = await getPlatformProxy<{ MODELS: R2Bucket }>({ persist: { path: join(state, 'v3') } });
    const exportsDir = join(dir, 'exports');
    await mkdir(exportsDir);
    try {
      const listed = await proxy.env.MODELS.list({ prefix: 'events/export/' });
      expect(listed.objects.length).toBeGreaterThan(0);
      for (const o of listed.objects)
        await writeFile(join(exportsDir, o.key.split('/').pop()!), await (await proxy.env.MODELS.get(o.key))!.text());
    } finally {
      await proxy.dispose();
    }
    const tsx = 'node_modules/.bin/tsx';
    // the trainer signs with the private key; publish checks the signature against the public one
    const env = { ...process.env, MODEL_SIGNING_KEY: key.privateKeyPkcs8, MODEL_PUBLIC_KEYS: key.publicKeyRaw };
    await exec(
      tsx,
      [
        'model/cli/train.ts',
        '--input',
        exportsDir,
        '--out',
        join(dir, 'model'),
        '--user-ids',
        'hashed',
        '--factors',
        '8',
        '--iterations',
        '8',
        '--version',
        'from-events',
        '--no-progress',
      ],
      { env },
    );
    await exec(tsx, ['model/cli/publish.ts', '--from', join(dir, 'model'), '--persist-to', state], { env });

    const port = Number(new URL(base).port);
    wrangler = await startWrangler(port, state, vars());
    const refresh = await (
      await fetch(`${base}/admin/refresh`, { method: 'POST', headers: { authorization: 'Bearer loop-admin' } })
    ).json();
    expect(refresh).toMatchObject({ outcome: 'activated', version: 'from-events' });

    const after = (await (
      await fetch(`${base}/v1/recommendations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ items: ['22423'], k: 1 }),
      })
    ).json()) as { items: { id: string }[] };
    expect(after).toMatchObject({ model: 'from-events', source: 'session' });
    expect(after.items[0].id).toBe('21212');
    // a shopper is known by their raw id: the model's shards are keyed by the same keyed hash
    const shopper = (await (await fetch(`${base}/v1/users/shopper-2/recommendations?k=2&excludePurchased=false`)).json()) as {
      items: { id: string }[];
    };
    expect(shopper).toMatchObject({ model: 'from-events', source: 'personalized' });
    expect(shopper.items.map((i: { id: string }) => i.id).sort()).toEqual([...B].sort());
  }, 180_000);
});
