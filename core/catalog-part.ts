/**
 * Binary catalogue part (catalog/NNNN.bin): titles and counts of up to CATALOG_PART_ITEMS items,
 * laid out so one title is read without decoding the others (little-endian):
 *   u32 n | u32 offsets[n + 1] (into the title bytes) | f32 counts[n] | UTF-8 title bytes
 * Why not JSON: in a 1M-item catalogue a response's 20 items can fall into 20 different parts;
 * parsing 20 × 4,096 titles took ~35 ms per request (measured with `npm run bench`), reading 20
 * titles out of cached bytes takes microseconds.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCatalogPart(titles: readonly string[], counts: ArrayLike<number>): Uint8Array {
  const n = titles.length;
  const encoded = titles.map((t) => encoder.encode(t));
  const head = 4 + 4 * (n + 1) + 4 * n;
  const out = new Uint8Array(head + encoded.reduce((s, b) => s + b.length, 0));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, n, true);
  let at = 0;
  encoded.forEach((b, k) => {
    dv.setUint32(4 + 4 * k, at, true);
    dv.setFloat32(4 + 4 * (n + 1) + 4 * k, counts[k], true);
    out.set(b, head + at);
    at += b.length;
  });
  dv.setUint32(4 + 4 * n, at, true);
  return out;
}

export class CatalogPartView {
  readonly length: number;
  private readonly dv: DataView;
  private readonly head: number;

  /** @throws Error when the bytes are not a part of `expected` items */
  constructor(
    private readonly bytes: ArrayBuffer,
    expected: number,
  ) {
    this.dv = new DataView(bytes);
    const n = bytes.byteLength >= 4 ? this.dv.getUint32(0, true) : -1;
    this.head = 4 + 4 * (n + 1) + 4 * n;
    if (n !== expected || bytes.byteLength < this.head) throw new Error(`catalogue part does not describe ${expected} items`);
    let prev = 0;
    for (let k = 0; k <= n; k++) {
      const off = this.dv.getUint32(4 + 4 * k, true);
      if (off < prev || (k === 0 && off !== 0)) throw new Error('catalogue part has unordered title offsets');
      prev = off;
    }
    if (this.head + prev !== bytes.byteLength) throw new Error('catalogue part has trailing or missing title bytes');
    this.length = n;
  }

  title(k: number): string {
    const from = this.dv.getUint32(4 + 4 * k, true),
      to = this.dv.getUint32(8 + 4 * k, true);
    return decoder.decode(new Uint8Array(this.bytes, this.head + from, to - from));
  }

  count(k: number): number {
    return this.dv.getFloat32(4 + 4 * (this.length + 1) + 4 * k, true);
  }
}
