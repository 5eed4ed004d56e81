/** The compact id ↔ index lookup the Worker builds from item_ids.txt (core/item-ids.ts). */

import { ItemIds } from '@edge-recs/core/item-ids';
import { describe, expect, it } from 'vitest';

describe('ItemIds', () => {
  it('finds every id at its index and nothing for ids it does not hold', () => {
    const list = Array.from({ length: 5000 }, (_, i) => `sku-${(i * 7919) % 100_003}`);
    const ids = new ItemIds(ItemIds.encode(list), list.length);
    list.forEach((id, i) => {
      expect(ids.indexOf(id)).toBe(i);
    });
    list.forEach((id, i) => {
      expect(ids.id(i)).toBe(id);
    });
    for (const unknown of ['sku-1', 'sku-', 'SKU-0', '', 'sku-00']) expect(ids.indexOf(unknown)).toBeUndefined();
    expect(ids.has(list[42])).toBe(true);
  });

  it('round-trips ids with spaces, punctuation and non-ASCII characters', () => {
    const list = ['85123A', 'POST', 'café crème', '日本', 'a,b;"c"', 'x'.repeat(300)];
    const ids = new ItemIds(ItemIds.encode(list), list.length);
    list.forEach((id, i) => {
      expect(ids.indexOf(id)).toBe(i);
      expect(ids.id(i)).toBe(id);
    });
  });

  it("refuses a file that does not hold exactly the manifest's number of distinct, non-empty ids", () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(() => new ItemIds(enc('a\nb\n'), 3)).toThrow(/2 complete ids/);
    expect(() => new ItemIds(enc('a\nb\nc\n'), 2)).toThrow(/more than 2/);
    expect(() => new ItemIds(enc('a\nb'), 2)).toThrow(/1 complete ids/);
    expect(() => new ItemIds(enc('a\n\nb\n'), 3)).toThrow(/empty id at line 2/);
    expect(() => new ItemIds(enc('a\nb\na\n'), 3)).toThrow(/repeats the id a/);
    expect(() => ItemIds.encode(['ok', 'bad\nid'])).toThrow(/newline/);
  });

  it('rejects indices outside the catalogue', () => {
    const ids = new ItemIds(ItemIds.encode(['a', 'b']), 2);
    expect(() => ids.id(2)).toThrow(RangeError);
    expect(() => ids.id(-1)).toThrow(RangeError);
  });
});
