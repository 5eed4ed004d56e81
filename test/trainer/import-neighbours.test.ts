/**
 * Neighbour lists imported from a distributed job (model/import-neighbours.ts): weights of any
 * finite size store as finite weights > 0 in either type, with one power-of-two factor per
 * import so rankings and the blend stay as the job's weights give them; a weight that is not a
 * finite number is refused with its file and line; one that would store as 0 is dropped.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { neighbourScores } from '@edge-recs/core/blend';
import { encodeNeighbourPart, NeighbourPart } from '@edge-recs/core/neighbours';
import { describe, expect, it } from 'vitest';
import {
  importNeighbourLists,
  type NeighbourRow,
  readNeighbourLists,
  times2,
  WEIGHT_RANGE,
  weightScaleExponent,
} from '../../model/import-neighbours';
import type { NeighbourLists } from '../../model/item-model';

const IDS = ['10', '11', '12', '13', '14'];
const itemIndex = new Map(IDS.map((id, i) => [id, i]));
/** one item's line; `list` is "id:weight id:weight …" */
const row = (item: string, list: string, where = `line of ${item}`): NeighbourRow => ({
  where,
  item,
  neighbours: list.split(' ').map((e) => ({ id: e.split(':')[0], weight: Number(e.split(':')[1]) })),
});
const listOf = (l: NeighbourLists, id: string) => {
  const j = itemIndex.get(id) ?? -1;
  return Array.from(l.index.subarray(l.rowPtr[j], l.rowPtr[j + 1]), (k, t) => ({ id: IDS[k], w: l.weight[l.rowPtr[j] + t] }));
};
/** the lists as the edge decodes them from the part the artifact stores */
const served = (l: NeighbourLists) => {
  const part = new NeighbourPart(encodeNeighbourPart(l, 0, l.itemCount).slice().buffer as ArrayBuffer, {
    first: 0,
    count: l.itemCount,
    itemCount: l.itemCount,
  });
  return (item: number) => part.row(item);
};

describe('importing neighbour weights of any finite size', () => {
  it('the reviewer case: 1e6 beside 1e-9 in float16 stores finite (not Infinity), the order kept, the 1e-9 dropped', async () => {
    const rows = [row('10', '11:1e6 12:1e-9'), row('11', '10:5e5 12:2 13:1'), row('12', '10:3e5 11:3e5')];
    const { lists, counts } = await importNeighbourLists(rows, itemIndex, { top: 30, weightType: 'float16' });
    for (const w of lists.weight) expect(w).toSatisfy((x: number) => Number.isFinite(x) && x > 0);
    expect(counts).toMatchObject({ largest: 1e6, scaleExponent: -20, storedAsZero: 1, kept: 6 });
    expect(listOf(lists, '10').map((e) => e.id)).toEqual(['11']);
    expect(listOf(lists, '10')[0].w).toBeCloseTo(1e6 * 2 ** -20, 3);
    expect(listOf(lists, '11').map((e) => e.id)).toEqual(['10', '12', '13']);
    // one factor for every list: weights keep their ratios across lists (what the blend reads)
    expect(listOf(lists, '11')[0].w / listOf(lists, '10')[0].w).toBeCloseTo(0.5, 3);
    expect(listOf(lists, '11')[1].w / listOf(lists, '11')[2].w).toBeCloseTo(2, 2);
    // the part the edge reads decodes to the same finite weights
    const read = served(lists);
    expect(Array.from(read(0).weight)).toEqual(Array.from(lists.weight.subarray(lists.rowPtr[0], lists.rowPtr[1])));
  });

  it('int8: 1e300 stores finite (not NaN); 1e-30 beside 1e6 is dropped, not stored as 0', async () => {
    const big = await importNeighbourLists([row('10', '11:1e300 12:5e299'), row('11', '10:1e299')], itemIndex, {
      top: 30,
      weightType: 'int8',
    });
    for (const w of big.lists.weight) expect(w).toSatisfy((x: number) => Number.isFinite(x) && x > 0);
    expect(big.counts.scaleExponent).toBeLessThan(-900);
    expect(listOf(big.lists, '10').map((e) => e.id)).toEqual(['11', '12']);
    expect(listOf(big.lists, '10')[1].w / listOf(big.lists, '10')[0].w).toBeCloseTo(0.5, 2);
    expect(listOf(big.lists, '11')[0].w / listOf(big.lists, '10')[0].w).toBeCloseTo(0.1, 2);

    const tiny = await importNeighbourLists([row('10', '11:1e6 12:1e-30 13:0')], itemIndex, { top: 30, weightType: 'int8' });
    expect(listOf(tiny.lists, '10').map((e) => e.id)).toEqual(['11']);
    expect(tiny.counts).toMatchObject({ nonPositive: 1, storedAsZero: 1, kept: 1 });
    expect(tiny.lists.int8?.q.length).toBe(1);
  });

  it('keeps every list of tiny weights when the whole import is tiny: they are scaled up, not lost', async () => {
    const { lists, counts } = await importNeighbourLists([row('10', '11:3e-9 12:1e-9'), row('12', '13:2e-9')], itemIndex, {
      top: 30,
      weightType: 'float16',
    });
    for (const w of lists.weight) expect(w).toBeGreaterThan(0); // float16 has nothing between 0 and 6e-8
    expect(counts).toMatchObject({ storedAsZero: 0, kept: 3 });
    expect(counts.scaleExponent).toBeGreaterThan(0);
    expect(listOf(lists, '10').map((e) => e.w / listOf(lists, '10')[0].w)).toEqual([1, expect.closeTo(1 / 3, 3)]);
  });

  it('stores weights inside float16 normal range as given, in both types (no factor)', async () => {
    for (const weightType of ['float16', 'int8'] as const) {
      const { lists, counts } = await importNeighbourLists([row('10', '11:0.9 12:0.3'), row('11', '10:65504')], itemIndex, {
        top: 30,
        weightType,
      });
      expect(counts.scaleExponent).toBe(0);
      expect(listOf(lists, '11')[0].w).toBeCloseTo(65504, -2);
      expect(listOf(lists, '10')[0].w).toBeCloseTo(0.9, 2);
    }
  });

  it('serves the same blend, to float16 precision, whatever the scale of the job', async () => {
    const job = [row('10', '11:0.9 12:0.3 13:0.05'), row('11', '10:0.7 14:0.6'), row('12', '13:0.2 10:0.1')];
    const times = (k: number) => job.map((r) => ({ ...r, neighbours: r.neighbours.map((e) => ({ ...e, weight: e.weight * k })) }));
    const blend = async (rows: NeighbourRow[]) => {
      const { lists } = await importNeighbourLists(rows, itemIndex, { top: 30, weightType: 'float16' });
      const { scores, rms } = neighbourScores(
        served(lists),
        [0, 1, 2].map((index) => ({ index, strength: 1 })),
        {
          factorWeight: 0.25,
          neighbourInput: 'binary',
        },
        IDS.length,
      );
      return new Map([...scores].map(([i, n]) => [i, n / rms]));
    };
    const asGiven = await blend(job);
    // a power of two: the very same stored bits; any other factor: the same ñ to float16 precision
    expect(await blend(times(2 ** 30))).toEqual(asGiven);
    for (const k of [1e6, 1e-12, 1e200]) {
      const got = await blend(times(k));
      expect([...got.keys()]).toEqual([...asGiven.keys()]);
      for (const [i, v] of asGiven) expect(got.get(i)).toBeCloseTo(v, 2);
    }
  });

  it('picks a power of two that puts the largest in [0.5, 1) only outside 2^-14 … 65504', () => {
    expect(weightScaleExponent(WEIGHT_RANGE.max)).toBe(0);
    expect(weightScaleExponent(WEIGHT_RANGE.min)).toBe(0);
    expect(weightScaleExponent(1)).toBe(0);
    for (const x of [65505, 1e6, 2 ** 40, 2 ** 40 - 1, 2 ** -15, 1e-9, Number.MAX_VALUE, Number.MIN_VALUE, 1e-320]) {
      const y = times2(x, weightScaleExponent(x));
      expect(y).toBeGreaterThanOrEqual(0.5);
      expect(y).toBeLessThan(1);
    }
  });
});

describe('weights that are not finite numbers', () => {
  it('are refused with the file and line (a literal like 1e999 reads as Infinity)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nb-'));
    const ok = '{"item":"10","neighbours":[{"id":"11","weight":1}]}';
    for (const bad of ['1e999', '-1e999', 'null', '"NaN"', '"1"']) {
      await writeFile(
        join(dir, 'part-00000.json'),
        `${ok}\n\n{"item":"11","neighbours":[{"id":"10","weight":2},{"id":"12","weight":${bad}}]}\n`,
      );
      await expect(readNeighbourLists(dir, itemIndex, { top: 30, weightType: 'float16' })).rejects.toThrow(
        /^part-00000\.json line 3: expected .*"weight": <finite number>/,
      );
    }
  });
});

describe('part files that cannot be read', () => {
  it('are refused with the file name: a damaged .json.gz, a .gz that is not gzip, a line that is not JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nb-gz-'));
    // many lines, each a different item's, so the cut falls deep inside the stream
    const ids = Array.from({ length: 3000 }, (_, i) => String(100 + i));
    const index = new Map(ids.map((id, i) => [id, i]));
    const gz = gzipSync(
      ids.map((id, i) => JSON.stringify({ item: id, neighbours: [{ id: ids[(i + 1) % ids.length], weight: 1 }] })).join('\n'),
    );
    await writeFile(join(dir, 'part-00000.json.gz'), gz.subarray(0, gz.length >> 1));
    const read = (path: string) => readNeighbourLists(path, index, { top: 30, weightType: 'float16' });
    await expect(read(dir)).rejects.toThrow(/^part-00000\.json\.gz( after line \d+)?: unexpected end of file/);
    await writeFile(join(dir, 'part-00000.json.gz'), 'plain text, not gzip');
    await expect(read(dir)).rejects.toThrow(/^part-00000\.json\.gz: incorrect header check/);
    await writeFile(join(dir, 'part-00000.json.gz'), gzipSync('{"item":"100",\n'));
    await expect(read(dir)).rejects.toThrow(/^part-00000\.json\.gz line 1: not JSON/);
    // a part that cannot be read at all (here a directory with a part's name) fails, naming it, rather than hanging
    const odd = await mkdtemp(join(tmpdir(), 'nb-dir-'));
    await mkdir(join(odd, 'part-00000.json.gz'));
    await expect(read(odd)).rejects.toThrow(/^part-00000\.json\.gz: EISDIR/);
  });
});
