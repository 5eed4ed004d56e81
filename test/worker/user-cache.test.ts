/**
 * The isolate's short-lived memory of user records (USER_CACHE_SECONDS, src/storage/user-records.ts):
 * repeat requests skip the KV read, and this isolate's own writes — events, deletes — are served
 * at once, never the stale record.
 */
import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { files } from '../../build/bundled-model';
import { readCatalog } from '../../model/catalog';
import { createApp } from '../../src/app';
import { RecentUsers } from '../../src/storage/user-records';
import { clearStorage, getJson } from './fixtures';

const KEY = { authorization: 'Bearer test-api-key', 'content-type': 'application/json' };

/** env whose KV counts reads of user embeddings */
function countingEnv(cacheSeconds: string) {
  const reads: string[] = [];
  const kv = env.RECS_KV;
  const RECS_KV = new Proxy(kv, {
    get(target, prop) {
      if (prop === 'get') {
        return (key: string | string[], ...rest: unknown[]) => {
          if (typeof key === 'string' && key.startsWith('emb:')) reads.push(key);
          return (target.get as (...a: unknown[]) => unknown)(key, ...rest);
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { env: { ...env, RECS_KV, USER_CACHE_SECONDS: cacheSeconds }, reads };
}

describe('per-isolate user record cache', () => {
  beforeEach(clearStorage);

  it('serves a returning shopper without reading KV again, and reads KV every time when disabled', async () => {
    const app = createApp();
    const on = countingEnv('60');
    expect((await getJson(await app.request('/v1/users/13047/recommendations', undefined, on.env))).source).toBe('personalized');
    const afterFirst = on.reads.length;
    expect(afterFirst).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++)
      expect((await getJson(await app.request('/v1/users/13047/recommendations', undefined, on.env))).source).toBe('personalized');
    expect(on.reads.length).toBe(afterFirst);

    const off = countingEnv('0');
    await app.request('/v1/users/12583/recommendations', undefined, off.env);
    await app.request('/v1/users/12583/recommendations', undefined, off.env);
    await app.request('/v1/users/12583/recommendations', undefined, off.env);
    expect(off.reads.length).toBeGreaterThanOrEqual(3);
  });

  it('shows a purchase this isolate accepted on the very next read', async () => {
    const app = createApp();
    const { env: e } = countingEnv('60');
    const before = await getJson(await app.request('/v1/users/12748/history', undefined, e));
    expect(before.known).toBe(true);
    const bought = new Set(before.items.map((i: { id: string }) => i.id));
    const item = readCatalog(files).ids.find((id) => !bought.has(id))!; // a product this customer never bought
    const res = await app.request(
      '/v1/events',
      { method: 'POST', headers: KEY, body: JSON.stringify({ events: [{ userId: '12748', itemId: item, type: 'purchase' }] }) },
      e,
    );
    expect(res.status).toBe(200);
    const after = await getJson(await app.request('/v1/users/12748/history', undefined, e));
    expect(after.items.map((i: { id: string }) => i.id)).toContain(item);
  });

  it('stops personalising a deleted user at once, even with their record cached', async () => {
    const app = createApp();
    const { env: e } = countingEnv('60');
    expect((await getJson(await app.request('/v1/users/17841/recommendations', undefined, e))).source).toBe('personalized');
    expect((await app.request('/v1/users/17841', { method: 'DELETE', headers: KEY }, e)).status).toBe(202);
    expect((await getJson(await app.request('/v1/users/17841/recommendations', undefined, e))).source).toBe('popular');
  });
});

describe('RecentUsers', () => {
  const rec = (x: number) => ({ vector: new Float32Array([x]), items: new Uint32Array(), strengths: new Float32Array() });

  it('keeps the newer event revision when an older one arrives late', () => {
    const r = new RecentUsers();
    r.set('v1', 'k', rec(2), 2);
    r.set('v1', 'k', rec(1), 1);
    expect(r.get('v1', 'k', 60)?.vector[0]).toBe(2);
    r.set('v1', 'k', rec(3), 3);
    expect(r.get('v1', 'k', 60)?.vector[0]).toBe(3);
  });

  it('answers only for the same model version, within the age limit, and forgets on request', async () => {
    const r = new RecentUsers();
    r.set('v1', 'k', rec(1));
    expect(r.get('v2', 'k', 60)).toBeNull();
    expect(r.get('v1', 'k', 60)).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(r.get('v1', 'k', 0.001)).toBeNull(); // older than 1 ms
    expect(r.get('v1', 'k', 60)).not.toBeNull();
    r.forget('k');
    expect(r.get('v1', 'k', 60)).toBeNull();
  });

  it('holds at most MAX users, dropping the least recently written', () => {
    const r = new RecentUsers();
    for (let i = 0; i <= RecentUsers.MAX; i++) r.set('v', `u${i}`, rec(i));
    expect(r.get('v', 'u0', 60)).toBeNull();
    expect(r.get('v', `u${RecentUsers.MAX}`, 60)).not.toBeNull();
  });
});
