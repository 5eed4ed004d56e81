/** Reading interaction CSVs: both layouts, real CSV quoting, and malformed rows that never abort. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadInteractions, normaliseId, parseInteractionsText } from '../../model/data';

const RETAIL_HEADER = 'InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country';

describe('generic interactions CSV', () => {
  it('reads user_id,item_id with optional weight and timestamp, summing repeated pairs', async () => {
    const ds = await parseInteractionsText('user_id,item_id,weight,timestamp\nu1,a,2,2024-01-01T00:00:00Z\nu1,a,1,1700000000\nu2,b,,\n');
    expect(ds.layout).toBe('generic');
    expect(ds.userIds).toEqual(['u1', 'u2']);
    expect(ds.itemIds).toEqual(['a', 'b']);
    expect(Array.from(ds.matrix.values)).toEqual([3, 1]);
    expect(ds.stats).toMatchObject({ rows: 3, used: 3, malformed: 0 });
  });

  it('accepts columns in any order and ignores extra ones', async () => {
    const ds = await parseInteractionsText('note,item_id,user_id\nhello,x,9\n');
    expect(ds.userIds).toEqual(['9']);
    expect(ds.itemIds).toEqual(['x']);
  });

  it('counts malformed rows with their line numbers and keeps going', async () => {
    const csv = [
      'user_id,item_id,weight,timestamp',
      'u1,a,1,',
      ',a,1,',
      'u2,,1,',
      'u3,b,abc,',
      'u4,b,-1,',
      'u5,c,1,not-a-date',
      'u6',
      'u7,d,1,',
    ].join('\n');
    const ds = await parseInteractionsText(csv);
    expect(ds.userIds).toEqual(['u1', 'u7']);
    expect(ds.stats.malformed).toBe(6);
    expect(ds.stats.malformedExamples.map((e) => e.line)).toEqual([3, 4, 5, 6, 7, 8]);
    expect(ds.stats.malformedExamples[0].reason).toMatch(/blank user_id/);
    expect(ds.stats.malformedExamples[2].reason).toMatch(/weight "abc"/);
  });

  it('counts a row with more fields than the header as malformed: an unquoted comma shifts every later column', async () => {
    const ds = await parseInteractionsText(['user_id,item_id,weight', 'u1,a,1', 'u2,b,tea, cup,2', 'u3,c,1'].join('\n'));
    expect(ds.userIds).toEqual(['u1', 'u3']);
    expect(ds.stats.malformedExamples).toEqual([{ line: 3, reason: 'expected 3 fields, got 5' }]);
  });

  it('names every column it understands when it does not recognise a header', async () => {
    await expect(parseInteractionsText('customer,product\n1,a\n')).rejects.toThrow(
      /unrecognised header "customer,product".*user_id,item_id\[,weight\]\[,timestamp\]\[,session_id\]\[,event_id\]/,
    );
  });

  it('skips rows whose item id the API would refuse, and keeps users it cannot address but counts them', async () => {
    const long = 'x'.repeat(257);
    const csv = ['user_id,item_id', 'u1,a', `u1,${long}`, 'u2,..', 'u2,b', '"jane doe",a', '"jane doe",b', '..,a', 'u3,"tab\there"'].join(
      '\n',
    );
    const ds = await parseInteractionsText(csv);
    expect(ds.itemIds).toEqual(['a', 'b']);
    expect(ds.stats.malformed).toBe(3);
    expect(ds.stats.malformedExamples.map((e) => [e.line, e.reason])).toEqual([
      [3, expect.stringMatching(/is not an id the API accepts: it is longer than 256 bytes/)],
      [4, expect.stringMatching(/"\.\." is not an id the API accepts: a URL path cannot carry it/)],
      [9, expect.stringMatching(/"tab\\there" is not an id the API accepts: it has a control character/)],
    ]);
    expect(ds.userIds).toEqual(['u1', 'u2', 'jane doe', '..']);
    expect(ds.stats.unaddressableUsers).toEqual({
      count: 2,
      examples: [
        '"jane doe": it is not printable ASCII without spaces',
        '"..": a URL path cannot carry it ("." and ".." are path segments)',
      ],
    });
  });

  it('counts a broken quote within one line as one malformed row, and reads quoted line breaks in a title', async () => {
    const csv = ['user_id,item_id,title', 'u1,a,"two', 'lines"', 'u2,b"c,x', 'u3,c,ok', 'u4,"d'].join('\n');
    const ds = await parseInteractionsText(csv);
    expect(ds.userIds).toEqual(['u1', 'u3']);
    expect(ds.titles[0]).toBe('two\nlines');
    expect(ds.stats.malformed).toBe(2);
    expect(ds.stats.malformedExamples.map((e) => e.line)).toEqual([4, 6]);
  });

  it('stops at a quote left open to the end of the file, naming the line where it opened, not the last line', async () => {
    const rows = Array.from({ length: 300 }, (_, k) => `${17000 + (k % 40)},${20000 + (k % 25)}`);
    rows[100] = '17850,"85123A'; // line 102, after the header
    for (const eol of ['\n', '\r\n']) {
      await expect(parseInteractionsText(['user_id,item_id', ...rows].join(eol) + eol)).rejects.toThrow(
        /^line 102: a quoted field opens on this line and is never closed: 200 lines would be skipped as one malformed row\. Fix the quoting of: 17850,"85123A$/,
      );
    }
  });

  it('stops at a quote that closes lines later, as a broken field or inside an id', async () => {
    await expect(parseInteractionsText('user_id,item_id\nu1,a\nu2,"b\nu3,c\nu4,"d"x\nu5,e\n')).rejects.toThrow(
      /^line 3: a quoted field opens on this line and runs on to line 5 \(Invalid Closing Quote: got "d"\): 3 lines/,
    );
    await expect(parseInteractionsText('user_id,item_id\r\nu1,a\r\nu2,"b\r\nu3,"\r\nu5,e\r\n')).rejects.toThrow(
      /^line 3: a quoted field opens on this line and closes only at line 4, so an id would hold 2 lines/,
    );
  });

  it('names the file of a directory input the broken quote is in', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quote-'));
    await writeFile(join(dir, 'a.csv'), 'user_id,item_id\nu1,a\n');
    await writeFile(join(dir, 'b.csv'), 'user_id,item_id\nu2,b\nu3,"c\nu4,d\n');
    await expect(loadInteractions(dir)).rejects.toThrow(/^b\.csv line 3: a quoted field opens on this line and is never closed/);
  });

  it('rejects a header it does not understand with a clear message', async () => {
    await expect(parseInteractionsText('a,b\n1,2\n')).rejects.toThrow(/user_id,item_id/);
  });

  it('groups rows by session_id into baskets when present', async () => {
    const ds = await parseInteractionsText('user_id,item_id,session_id\nu1,a,s1\nu1,b,s1\nu1,c,s2\nu2,a,s1\n');
    expect(ds.baskets.matrix.rows).toBe(3); // (u1,s1), (u1,s2), (u2,s1)
    expect(Array.from(ds.baskets.user)).toEqual([0, 0, 1]);
  });

  it("reads the edge's event exports, using a retried event (same user and event_id) once", async () => {
    const csv = [
      'user_id,item_id,weight,timestamp,type,event_id,session_id',
      'k1,a,1,2026-01-01T00:00:00.000Z,purchase,order-1:1,b1-k1',
      'k1,b,0.5,2026-01-01T00:00:00.000Z,add_to_cart,order-1:2,b1-k1',
      'k1,a,1,2026-01-01T00:00:00.000Z,purchase,order-1:1,b2-k1', // the retry, exported again
      'k2,a,1,2026-01-01T00:00:00.000Z,purchase,order-1:1,b1-k2', // another user's own id space
      'k1,c,0.1,2026-01-01T00:00:00.000Z,view,,', // no event id: always used
      'k1,c,0.1,2026-01-01T00:00:00.000Z,view,,',
    ].join('\n');
    const ds = await parseInteractionsText(csv);
    expect(ds.stats).toMatchObject({ rows: 6, used: 5, filtered: { 'repeated event_id': 1 } });
    const k1 = ds.userIds.indexOf('k1');
    const row = (u: number) =>
      Object.fromEntries(
        Array.from(ds.matrix.colIdx.subarray(ds.matrix.rowPtr[u], ds.matrix.rowPtr[u + 1]), (c, j) => [
          ds.itemIds[c],
          ds.matrix.values[ds.matrix.rowPtr[u] + j],
        ]),
      );
    expect(row(k1)).toEqual({ a: 1, b: 0.5, c: expect.closeTo(0.2, 6) });
    expect(row(ds.userIds.indexOf('k2'))).toEqual({ a: 1 });
  });
});

describe('UCI Online Retail layout', () => {
  const rows = [
    RETAIL_HEADER,
    '536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom',
    '536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom',
    '536366,22633,"HAND WARMER UNION JACK, RED",6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom',
    'C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom',
    'C536383,35004C,SET OF 3 COLOURED  FLYING DUCKS,-1,2010-12-01 09:49:00,4.65,15311.0,United Kingdom',
    '536370,POST,POSTAGE,3,2010-12-01 08:45:00,18,12583.0,France',
    '536414,22139,,56,2010-12-01 11:52:00,0,,United Kingdom',
    '536544,21773,DECORATIVE ROSE BATHROOM BOTTLE,1,2010-12-01 14:32:00,2.51,,United Kingdom',
    '536380,22961,JAM MAKING SET PRINTED,0,2010-12-01 09:41:00,1.45,17809.0,United Kingdom',
    '536381,22139,RETROSPOT TEA SET CERAMIC 11 PC,abc,2010-12-01 09:41:00,4.95,15311.0,United Kingdom',
    '536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,2010-12-01 08:34:00,1.69,13047.0,United Kingdom',
    '536368,85123A,CREAM HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:34:00,2.55,13047.0,United Kingdom',
    '536369,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:35:00,2.55,13047.0,United Kingdom',
  ];

  it('is detected from the header and keeps only customers buying products', async () => {
    const ds = await parseInteractionsText(rows.join('\n'));
    expect(ds.layout).toBe('online-retail');
    expect(ds.userIds).toEqual(['17850', '13047']);
    expect(ds.itemIds).toEqual(['85123A', '71053', '22633', '84879']);
    expect(ds.stats.filtered).toEqual({ cancellation: 2, 'non-product stock code': 1, 'no customer': 2, 'non-positive quantity': 1 });
    expect(ds.stats.malformed).toBe(1);
    expect(ds.stats.malformedExamples[0]).toEqual({ line: 11, reason: 'Quantity "abc" is not a number' });
  });

  it('keeps quoted descriptions with commas and picks the most frequent title per product', async () => {
    const ds = await parseInteractionsText(rows.join('\n'));
    expect(ds.titles[ds.itemIds.indexOf('22633')]).toBe('HAND WARMER UNION JACK, RED');
    expect(ds.titles[ds.itemIds.indexOf('85123A')]).toBe('WHITE HANGING HEART T-LIGHT HOLDER');
  });

  it('treats each invoice of a customer as a basket', async () => {
    const ds = await parseInteractionsText(rows.join('\n'));
    expect(ds.baskets.matrix.rows).toBe(5);
  });

  it('reads gzip files and records the input digest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'retail-'));
    const file = join(dir, 'retail.csv.gz');
    const gz = gzipSync(rows.join('\n'));
    await writeFile(file, gz);
    const ds = await loadInteractions(file);
    expect(ds.userIds).toHaveLength(2);
    const { createHash } = await import('node:crypto');
    expect(ds.digest).toBe(createHash('sha256').update(gz).digest('hex'));
  });

  it('normalises numeric ids written as floats', () => {
    expect(normaliseId('17850.0')).toBe('17850');
    expect(normaliseId(' 12583.00 ')).toBe('12583');
    expect(normaliseId('A17')).toBe('A17');
    expect(normaliseId('')).toBeUndefined();
  });
});

describe('items file (--items)', () => {
  const interactions = 'user_id,item_id\nu1,a\nu1,b\nu2,c\nu2,d\nu3,e\n';
  async function load(items: string) {
    const dir = await mkdtemp(join(tmpdir(), 'items-'));
    await writeFile(join(dir, 'events.csv'), interactions);
    await writeFile(join(dir, 'items.csv'), items);
    return loadInteractions(join(dir, 'events.csv'), { itemsFile: join(dir, 'items.csv') });
  }
  const at = (ds: Awaited<ReturnType<typeof load>>, id: string) => ds.itemIds.indexOf(id);

  it('applies titles, categories, prices, availability and images, matching header names in any case', async () => {
    const ds = await load(
      [
        'Item_ID,Title,Category,Price,Available,Image_URL',
        'a,Lamp,home,12.5,yes,https://cdn.example/a.png',
        'b,Mug,,0,out of stock,',
        'c,,,1e3,UNAVAILABLE,',
        'd,Fork,,.5,in_stock,',
      ].join('\n'),
    );
    expect(ds.titles[at(ds, 'a')]).toBe('Lamp');
    expect(ds.fields.category[at(ds, 'a')]).toBe('home');
    expect(Array.from(['a', 'b', 'c', 'd'], (id) => ds.fields.price[at(ds, id)])).toEqual([12.5, 0, 1000, 0.5]);
    expect(Array.from(['a', 'b', 'c', 'd', 'e'], (id) => ds.fields.available[at(ds, id)])).toEqual([true, false, false, true, undefined]);
    expect(ds.fields.imageUrl[at(ds, 'a')]).toBe('https://cdn.example/a.png');
    expect(ds.items).toMatchObject({ rows: 4, applied: 4, unknownIds: 0, badValues: 0, malformed: 0, duplicates: 0, warnings: [] });
  });

  it('reports each value it cannot read with its line, leaves it unknown, and still applies the rest of the row', async () => {
    const ds = await load(
      [
        'item_id,title,price,available,image_url',
        'a,Lamp,"1,5",maybe,/img/a.png',
        'b,Mug,-2,,',
        'c,Cup,€3,,',
        'd,Fork,1e400,,',
        'zz,Unknown,abc,maybe,',
        'e,Plate,,,',
      ].join('\n'),
    );
    expect(ds.titles[at(ds, 'a')]).toBe('Lamp');
    expect(Array.from(['a', 'b', 'c', 'd'], (id) => ds.fields.price[at(ds, id)])).toEqual([NaN, NaN, NaN, NaN]);
    expect(ds.fields.available[at(ds, 'a')]).toBeUndefined();
    expect(ds.fields.imageUrl[at(ds, 'a')]).toBe('');
    expect(ds.items).toMatchObject({ rows: 6, applied: 5, unknownIds: 1, badValues: 6 });
    expect(ds.items?.warnings).toEqual([
      { line: 2, reason: expect.stringMatching(/^price "1,5" is not a plain non-negative number/) },
      { line: 2, reason: expect.stringMatching(/^available "maybe" is none of true\/false, yes\/no/) },
      { line: 2, reason: 'image_url "/img/a.png" is not an absolute http(s) URL' },
      { line: 3, reason: expect.stringMatching(/^price "-2"/) },
      { line: 4, reason: expect.stringMatching(/^price "€3"/) },
    ]);
  });

  it('skips an item row wider or narrower than the header with its line, instead of reading shifted columns', async () => {
    const ds = await load(['item_id,title,price', 'a,Lamp,12.5', 'b,Mug, large,3', 'c,Cup', 'd,Fork,1'].join('\n'));
    expect(ds.titles[at(ds, 'b')]).not.toBe('Mug');
    expect(ds.fields.price[at(ds, 'b')]).toBeNaN();
    expect(ds.fields.price[at(ds, 'd')]).toBe(1);
    expect(ds.items).toMatchObject({ rows: 4, applied: 2, malformed: 2 });
    expect(ds.items?.warnings).toEqual([
      { line: 3, reason: 'expected 3 fields, got 4' },
      { line: 4, reason: 'expected 3 fields, got 2' },
    ]);
  });

  it('applies a repeated item row over the earlier one field by field, and counts and names the repeat', async () => {
    const ds = await load(['item_id,title,price,category', 'a,Lamp,12.5,home', 'b,Mug,3,', 'a,,9,garden', 'a,Lamp XL,,'].join('\n'));
    expect(ds.titles[at(ds, 'a')]).toBe('Lamp XL');
    expect(ds.fields.price[at(ds, 'a')]).toBe(9);
    expect(ds.fields.category[at(ds, 'a')]).toBe('garden');
    expect(ds.items).toMatchObject({ rows: 4, applied: 4, duplicates: 2 });
    expect(ds.items?.warnings).toEqual([
      { line: 4, reason: "item a was already given on line 2: this row's values replace those it repeats" },
      { line: 5, reason: "item a was already given on line 2: this row's values replace those it repeats" },
    ]);
  });

  it('refuses a header it would apply nothing from: no item_id column, or no field besides it', async () => {
    await expect(load('id,title,price\na,Lamp,1\n')).rejects.toThrow(
      /items file .*items\.csv: no item_id column in the header "id,title,price"/,
    );
    await expect(load('item_id,name\na,Lamp\n')).rejects.toThrow(
      /the header "item_id,name" has nothing to apply \(expected item_id and any of title/,
    );
  });

  it('stops at a quote left open across lines in the items file too', async () => {
    await expect(load('item_id,title\na,"Lamp\nb,Mug\nc,Cup\n')).rejects.toThrow(
      /^items\.csv line 2: a quoted field opens on this line and is never closed/,
    );
  });

  it('names a missing items file in one line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'items-'));
    await writeFile(join(dir, 'events.csv'), interactions);
    await expect(loadInteractions(join(dir, 'events.csv'), { itemsFile: join(dir, 'nope.csv') })).rejects.toThrow(
      /^cannot read items file .*nope\.csv: ENOENT$/,
    );
  });
});
