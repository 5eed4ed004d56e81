/**
 * FNV-1a (32-bit): the stable, cheap hash behind user-shard assignment (trainer and edge must
 * agree forever, so it never changes) and the item-id hash table.
 */
const encoder = new TextEncoder();

/** FNV-1a over bytes [from, to) of `b`. */
export function fnv1aBytes(b: Uint8Array, from = 0, to = b.length): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

/** FNV-1a of a string's UTF-8 bytes. */
export function fnv1a(s: string): number {
  return fnv1aBytes(encoder.encode(s));
}
