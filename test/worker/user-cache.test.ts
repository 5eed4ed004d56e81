/**
 * The isolate's short-lived memory of user records (USER_CACHE_SECONDS, src/storage/user-records.ts):
 * repeat requests skip the KV read, and this isolate's own writes — events, deletes — are served
 * at once, never the stale record.
 */

import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { fromBase64, toBase64 } from '@edge-recs/core/bytes';
import { manifestSchema } from '@edge-recs/core/manifest';
import { beforeEach, describe, expect, it } from 'vitest';
import { files } from '../../build/bundled-model';
import { readCatalog } from '../../model/catalog';
import { createApp } from '../../src/app';
import { ServingModel } from '../../src/models/model';
import { identify } from '../../src/storage/identity';
import { KV } from '../../src/storage/keys';
import { decodeUserRecord, encodeUserRecord, RecentUsers } from '../../src/storage/user-records';
import { buildFixture, clearStorage, getJson, publishFixture } from './fixtures';

const KEY = { authorization: 'Bearer test-api-key', 'content-type': 'application/json' };

/** env whose KV counts reads of user embeddings */
function countingEnv(cacheSeconds: string) {
  const reads: string[] = [];
  const kv = env.RECS_KV;
  const RECS_KV = new Proxy(kv, {
    get(target, prop) {
      if (prop === 'get') {
        return (key: string | string[], ...rest: unknown[]) => {
          // a visitor's record is read alone or in one bulk read with their markers
          const embedding = (typeof key === 'string' ? [key] : key).find((k) => k.startsWith('emb:'));
          if (embedding) reads.push(embedding);
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

describe("where a trained customer's record is kept after their first visit", () => {
  beforeEach(clearStorage);

  /** GET recommendations, with everything the request scheduled after its response finished */
  async function visit(app: ReturnType<typeof createApp>, userId: string) {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`http://x/v1/users/${userId}/recommendations?k=5`), env, ctx);
    await waitOnExecutionContext(ctx);
    return getJson(res);
  }
  const stored = async (version: string, userId: string) =>
    env.RECS_KV.get(KV.embedding(version, (await identify(env.USER_ID_SECRET, userId)).key), 'text');

  it('writes nothing to KV when every user shard of the model fits in an isolate (each isolate keeps them once read)', async () => {
    const manifest = manifestSchema.parse(JSON.parse(new TextDecoder().decode(files['manifest.json'])));
    expect(manifest.userShards).toBeLessThanOrEqual(ServingModel.MAX_CACHED_SHARDS);
    expect((await visit(createApp(), '13047')).source).toBe('personalized');
    expect(await stored(manifest.version, '13047')).toBeNull();
  });

  it('writes the record through to KV, as base64 text in the documented layout, when the model has more shards than an isolate keeps', async () => {
    const app = createApp();
    const built = await buildFixture({ version: 'shards9', usersPerShard: 2 });
    expect(built.manifest.userShards).toBeGreaterThan(ServingModel.MAX_CACHED_SHARDS);
    await publishFixture(built);
    const refresh = await app.request('/admin/refresh', { method: 'POST', headers: { authorization: 'Bearer test-admin-token' } }, env);
    expect((await getJson(refresh)).outcome).toBe('activated');
    const userId = built.data.userIds[3];
    expect((await visit(app, userId)).source).toBe('personalized');
    const value = await stored('shards9', userId);
    expect(value).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const record = decodeUserRecord(value!, built.manifest.dims, built.manifest.itemCount);
    expect(record?.vector).toHaveLength(built.manifest.dims);
    expect(record!.items.length).toBeGreaterThan(0);
    // and a value in any other format (such as an older release's raw bytes) is not a record
    expect(decodeUserRecord('\u0004\u0000\u0000\u0000', built.manifest.dims, built.manifest.itemCount)).toBeNull();
    // the history's new catalogue products ride along after the strengths, and a record without them reads as before
    const withOthers = encodeUserRecord({ ...record!, others: ['NEW-1', 'café/ü'] });
    expect(decodeUserRecord(withOthers, built.manifest.dims, built.manifest.itemCount)).toMatchObject({ others: ['NEW-1', 'café/ü'] });
    expect(decodeUserRecord(withOthers, built.manifest.dims, built.manifest.itemCount)?.items).toEqual(record!.items);
    expect(decodeUserRecord(value!, built.manifest.dims, built.manifest.itemCount)?.others).toBeUndefined();
    // trailing bytes that are not such a list make the value no record
    const junk = fromBase64(value!);
    expect(decodeUserRecord(toBase64(Uint8Array.from([...junk, 1, 2, 3])), built.manifest.dims, built.manifest.itemCount)).toBeNull();
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
