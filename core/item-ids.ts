/**
 * Item id ↔ index lookup over the artifact's item_ids.txt, kept as its UTF-8 bytes.
 *
 * Why not a Map<string, number>: a million ids as JavaScript strings plus a Map cost ~90 MB of
 * the isolate's 128 MB. The raw bytes (~13 MB for 12-character ids), their offsets and an
 * open-addressing hash table of indices (4–8 bytes per item) cost ~25 MB and build in one pass.
 */
import { fnv1aBytes } from './hash';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class ItemIds {
  readonly count: number;
  /** line n spans bytes [offsets[n], offsets[n + 1] - 1) (the -1 drops its '\n') */
  private readonly offsets: Uint32Array;
  /** index + 1 per slot, 0 = empty; power-of-two size, at most half full */
  private readonly table: Uint32Array;

  /**
   * @param bytes  item_ids.txt: N ids, each followed by '\n'
   * @param expected  N from the manifest
   * @throws Error when the file does not hold exactly N non-empty, distinct ids
   */
  constructor(
    private readonly bytes: Uint8Array,
    expected: number,
  ) {
    const offsets = new Uint32Array(expected + 1);
    let n = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== 10) continue;
      if (n === expected) throw new Error(`item_ids.txt has more than ${expected} ids`);
      if (i === offsets[n]) throw new Error(`item_ids.txt has an empty id at line ${n + 1}`);
      offsets[++n] = i + 1;
    }
    if (n !== expected || offsets[n] !== bytes.length) throw new Error(`item_ids.txt has ${n} complete ids, the manifest says ${expected}`);
    this.count = n;
    this.offsets = offsets;
    let size = 1;
    while (size < 2 * n) size *= 2;
    this.table = new Uint32Array(size);
    for (let index = 0; index < n; index++) {
      const from = offsets[index],
        to = offsets[index + 1] - 1;
      let slot = fnv1aBytes(bytes, from, to) & (size - 1);
      for (;;) {
        const other = this.table[slot];
        if (other === 0) break;
        if (this.equals(other - 1, bytes, from, to))
          throw new Error(`item_ids.txt repeats the id ${this.id(index)} (lines ${other} and ${index + 1})`);
        slot = (slot + 1) & (size - 1);
      }
      this.table[slot] = index + 1;
    }
  }

  /** Bytes this lookup holds. */
  get byteLength(): number {
    return this.bytes.byteLength + this.offsets.byteLength + this.table.byteLength;
  }

  private equals(index: number, b: Uint8Array, from: number, to: number): boolean {
    const start = this.offsets[index],
      end = this.offsets[index + 1] - 1;
    if (end - start !== to - from) return false;
    for (let i = 0; i < to - from; i++) if (this.bytes[start + i] !== b[from + i]) return false;
    return true;
  }

  /** The index of `id`, or undefined for an id the model does not know. */
  indexOf(id: string): number | undefined {
    const b = encoder.encode(id);
    const mask = this.table.length - 1;
    for (let slot = fnv1aBytes(b) & mask; ; slot = (slot + 1) & mask) {
      const entry = this.table[slot];
      if (entry === 0) return undefined;
      if (this.equals(entry - 1, b, 0, b.length)) return entry - 1;
    }
  }

  has(id: string): boolean {
    return this.indexOf(id) !== undefined;
  }

  id(index: number): string {
    if (!(index >= 0 && index < this.count)) throw new RangeError(`no item at index ${index}`);
    return decoder.decode(this.bytes.subarray(this.offsets[index], this.offsets[index + 1] - 1));
  }

  /**
   * item_ids.txt for the given ids (the trainer's side).
   * @throws Error when the file would not load: an empty id, one with a newline, or a repeated
   *   id — checked by building this very lookup over the bytes, so whatever encode accepts the
   *   Worker's decoder accepts too (two ids the UTF-8 encoding makes equal count as a repeat)
   */
  static encode(ids: readonly string[]): Uint8Array {
    for (const id of ids)
      if (id === '' || id.includes('\n')) throw new Error(`item id ${JSON.stringify(id)} is empty or contains a newline`);
    const bytes = encoder.encode(ids.map((id) => `${id}\n`).join(''));
    new ItemIds(bytes, ids.length);
    return bytes;
  }
}
