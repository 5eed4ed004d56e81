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

export async function identify(secret: string | undefined, userId: string): Promise<UserIdentity> {
  const data = new TextEncoder().encode(userId);
  let digest: ArrayBuffer;
  if (secret) {
    let key = keyCache.get(secret);
    if (!key) {
      key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      keyCache.set(secret, key);
    }
    digest = await crypto.subtle.sign('HMAC', key, data);
  } else {
    digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`user:${userId}`));
  }
  return { id: userId, key: toHex(new Uint8Array(digest)).slice(0, 32) };
}
