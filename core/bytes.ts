/** Byte helpers that work the same in Node and workerd (WebCrypto, no Buffer). */

/** A byte view over a plain (not shared) ArrayBuffer, as WebCrypto takes it. */
export type Bytes = Uint8Array<ArrayBuffer>;

/**
 * A byte view as the plain-buffer BufferSource that WebCrypto and fetch bodies take. TypeScript
 * types every Uint8Array's buffer as possibly shared; ours never are (WebCrypto would refuse
 * one that is), so this only restates the type.
 */
export function plainBytes(u: Uint8Array): Bytes {
  return u as Bytes;
}

export async function sha256Hex(data: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', data instanceof ArrayBuffer ? data : plainBytes(data));
  return toHex(new Uint8Array(digest));
}

export function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export function toBase64(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

export function fromBase64(s: string): Bytes {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Copies a byte range into a fresh ArrayBuffer so typed-array views are aligned. */
export function aligned(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
