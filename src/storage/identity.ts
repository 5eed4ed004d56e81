/**
 * User identity at rest: raw user ids never become storage keys. KV keys, Durable Object names
 * and exported events use a keyed hash, HMAC-SHA256(USER_ID_SECRET, userId), so storage and
 * exports cannot be joined back to a customer without the secret. Without the secret (a local
 * dev setup) an unkeyed SHA-256 is used, which still keeps raw ids out of storage.
 */
import { toHex } from '@edge-recs/core/bytes';

export interface UserIdentity {
  /** the id the client sent */
  id: string;
  /** keyed hash used for every stored key (32 hex chars) */
  key: string;
}

const keyCache = new Map<string, CryptoKey>();

/**
 * HMAC-SHA256(secret, message) with the key imported once per isolate; without a secret, the
 * unkeyed SHA-256 of `unkeyed` (which defaults to the message). User identities and experiment
 * assignment both rest on it.
 */
export async function keyedHash(secret: string | undefined, message: string, unkeyed = message): Promise<ArrayBuffer> {
  if (!secret) return crypto.subtle.digest('SHA-256', new TextEncoder().encode(unkeyed));
  let key = keyCache.get(secret);
  if (!key) {
    key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    keyCache.set(secret, key);
  }
  return crypto.subtle.sign('HMAC', key, new TextEncoder().encode(message));
}

export async function identify(secret: string | undefined, userId: string): Promise<UserIdentity> {
  const digest = await keyedHash(secret, userId, `user:${userId}`);
  return { id: userId, key: toHex(new Uint8Array(digest)).slice(0, 32) };
}
