/**
 * Bought-together for items the basket lists do not cover: the training data (or an imported
 * job) gave bought-together lists for some items only — here every basket lies inside block 0 —
 * and an item of another block answers with its item-model neighbours, not an empty list.
 */
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { csrFromTriples } from '../../model/sparse';
import { type BlockData, blockData, buildFixture, clearStorage, getJson, publishFixture } from './fixtures';

const ADMIN = { authorization: 'Bearer test-admin-token' };
type Rec = { source: string; items: { id: string; score: number }[] };

const ITEMS_PER_BLOCK = 8;
const data: BlockData = blockData({ blocks: 3, itemsPerBlock: ITEMS_PER_BLOCK, usersPerBlock: 30, itemsPerUser: 4 });
const blockOf = (id: string) => data.itemBlock[data.itemIds.indexOf(id)];

/** Baskets pairing items (2t, 2t+1) of block 0 only. */
function block0Baskets() {
  const rows: number[] = [];
  const cols: number[] = [];
  let basket = 0;
  for (let t = 0; t < ITEMS_PER_BLOCK / 2; t++)
    for (let r = 0; r < 6; r++) {
      rows.push(basket, basket);
      cols.push(2 * t, 2 * t + 1);
      basket++;
    }
  return csrFromTriples(basket, data.itemIds.length, Int32Array.from(rows), Int32Array.from(cols), new Float32Array(rows.length).fill(1));
}

beforeAll(async () => {
  await clearStorage();
  const built = await buildFixture({ version: 'bt-part', data, itemModel: { baskets: block0Baskets() }, params: { factors: 4 } });
  await publishFixture(built);
  const res = await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: ADMIN });
  expect((await getJson(res)).outcome).toBe('activated');
});

describe('GET /v1/items/{id}/bought-together where the basket lists cover only some items', () => {
  it('answers a covered item from its basket list: its pair first', async () => {
    const body = await getJson<Rec>(await SELF.fetch('http://x/v1/items/B0-I2/bought-together?k=3'));
    expect(body.source).toBe('bought-together');
    expect(body.items[0].id).toBe('B0-I3');
  });

  it('answers an item no basket holds from its item-model neighbours (its own block), not with an empty list', async () => {
    for (const id of ['B1-I0', 'B2-I5']) {
      const body = await getJson<Rec>(await SELF.fetch(`http://x/v1/items/${id}/bought-together?k=4`));
      expect(body.source).toBe('bought-together');
      expect(body.items.length).toBe(4);
      for (const it of body.items) {
        expect(it.id).not.toBe(id);
        expect(blockOf(it.id)).toBe(blockOf(id));
      }
    }
  });
});
