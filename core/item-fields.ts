/**
 * What the training data says about each item besides its title — price, category, availability
 * and image — as the artifact carries it (catalog/fields.bin): the edge's starting point for
 * filters and answers until the live catalogue says otherwise (the catalogue's record of an item
 * wins over these fields). Image URLs live in parts like titles (catalog/images/NNNN.bin, the
 * catalogue-part encoding of core/catalog-part.ts).
 *
 * catalog/fields.bin (little-endian, 4-byte aligned sections):
 *   u32 magic "IFD1" | u32 n | u32 nameBytes | f32 price[n] (NaN: none) | u16 category[n] (0: none,
 *   c: names[c − 1]) padded to 4 | u8 available[n] (0 no, 1 yes, 2 unknown) padded to 4
 *   | UTF-8 JSON array of category names (nameBytes)
 */
const MAGIC = 0x31444649; // "IFD1"
const pad4 = (n: number) => (n + 3) & ~3;

export interface ItemFields {
  price: Float32Array;
  /** 0 = none, c = categories[c − 1] */
  category: Uint16Array;
  /** 0 = unavailable, 1 = available, 2 = unknown */
  available: Uint8Array;
  categories: string[];
}

export function encodeItemFields(f: ItemFields): Uint8Array {
  const n = f.price.length;
  if (f.categories.length > 0xffff) throw new Error('more than 65,535 categories');
  const names = new TextEncoder().encode(JSON.stringify(f.categories));
  const bytes = new Uint8Array(12 + 4 * n + pad4(2 * n) + pad4(n) + names.length);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, n, true);
  v.setUint32(8, names.length, true);
  let o = 12;
  for (let i = 0; i < n; i++, o += 4) v.setFloat32(o, f.price[i], true);
  for (let i = 0; i < n; i++) v.setUint16(o + 2 * i, f.category[i], true);
  o += pad4(2 * n);
  bytes.set(f.available, o);
  o += pad4(n);
  bytes.set(names, o);
  return bytes;
}

/** @throws Error when the bytes are not fields of `expected` items */
export function decodeItemFields(buf: ArrayBuffer, expected: number): ItemFields {
  const v = new DataView(buf);
  if (buf.byteLength < 12 || v.getUint32(0, true) !== MAGIC) throw new Error('not an item fields file');
  const n = v.getUint32(4, true);
  const nameBytes = v.getUint32(8, true);
  if (n !== expected || buf.byteLength !== 12 + 4 * n + pad4(2 * n) + pad4(n) + nameBytes)
    throw new Error(`item fields do not describe ${expected} items`);
  let o = 12;
  const price = new Float32Array(buf.slice(o, o + 4 * n));
  o += 4 * n;
  const category = new Uint16Array(buf.slice(o, o + 2 * n));
  o += pad4(2 * n);
  const available = new Uint8Array(buf.slice(o, o + n));
  o += pad4(n);
  const categories = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, o, nameBytes))) as unknown;
  if (!Array.isArray(categories) || !categories.every((c) => typeof c === 'string'))
    throw new Error('item fields have malformed category names');
  for (const c of category) if (c > categories.length) throw new Error('item fields name a category they do not list');
  for (const p of price)
    if (!(Number.isNaN(p) || (Number.isFinite(p) && p >= 0))) throw new Error('item fields have a negative or infinite price');
  return { price, category, available, categories: categories as string[] };
}
