/** The bounded promise cache behind per-isolate model versions and user shards. */
import { describe, expect, it } from 'vitest';
import { PromiseLru } from '../../src/models/lru';

describe('PromiseLru', () => {
  it('shares one in-flight load between callers and keeps at most `max` entries, least recent out', async () => {
    const lru = new PromiseLru<string, number>(2);
    let loads = 0;
    const make = (v: number) => async () => {
      loads++;
      return v;
    };
    const [a, b] = await Promise.all([lru.get('a', make(1)), lru.get('a', make(99))]);
    expect([a, b, loads]).toEqual([1, 1, 1]);
    await lru.get('b', make(2));
    await lru.get('a', make(99)); // touch a: b is now least recent
    await lru.get('c', make(3));
    expect(lru.size).toBe(2);
    expect(await lru.get('a', make(99))).toBe(1);
    expect(await lru.get('b', make(20))).toBe(20); // b was evicted and reloaded
  });

  it('forgets a failed load so the next caller retries', async () => {
    const lru = new PromiseLru<string, number>(2);
    await expect(lru.get('x', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lru.get('x', async () => 7)).toBe(7);
  });
});
