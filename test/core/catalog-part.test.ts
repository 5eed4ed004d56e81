/** Binary catalogue parts (core/catalog-part.ts): any title read alone, bad bytes refused. */

import { CatalogPartView, encodeCatalogPart } from '@edge-recs/core/catalog-part';
import { describe, expect, it } from 'vitest';

const buf = (b: Uint8Array) => b.slice().buffer as ArrayBuffer;

describe('catalogue parts', () => {
  it('reads back every title and count, including empty and non-ASCII titles', () => {
    const titles = ['WHITE HANGING HEART T-LIGHT HOLDER', '', 'crème brûlée dish', '日本の箱', 'x'.repeat(1000)];
    const counts = [856, 0, 3, 1, 16_777_216];
    const part = new CatalogPartView(buf(encodeCatalogPart(titles, counts)), titles.length);
    expect(part.length).toBe(5);
    titles.forEach((t, k) => {
      expect(part.title(k)).toBe(t);
    });
    counts.forEach((c, k) => {
      expect(part.count(k)).toBe(c);
    });
    expect(part.title(3)).toBe('日本の箱'); // out of order, alone
  });

  it('refuses a part of another size, truncated bytes and scrambled offsets', () => {
    const good = encodeCatalogPart(['a', 'bb', 'ccc'], [1, 2, 3]);
    expect(() => new CatalogPartView(buf(good), 4)).toThrow(/4 items/);
    expect(() => new CatalogPartView(buf(good.subarray(0, good.length - 1)), 3)).toThrow(/title bytes/);
    expect(() => new CatalogPartView(buf(good.subarray(0, 6)), 3)).toThrow(/3 items/);
    const scrambled = good.slice();
    new DataView(scrambled.buffer).setUint32(8, 5, true); // offset of title 1 beyond title 2's
    expect(() => new CatalogPartView(buf(scrambled), 3)).toThrow(/unordered/);
    expect(() => new CatalogPartView(new ArrayBuffer(0), 0)).toThrow();
  });
});
