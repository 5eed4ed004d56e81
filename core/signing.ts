/**
 * Ed25519 signatures over manifest bytes, via WebCrypto (identical in Node and workerd).
 *
 * Ed25519 rather than HMAC: the edge only ever holds public keys, so a leaked Worker secret cannot
 * be used to forge a model. Keys are configuration, never in the repository:
 * - trainer/publisher: MODEL_SIGNING_KEY = base64 PKCS#8 private key (`npm run keygen` prints one);
 * - Worker: MODEL_PUBLIC_KEYS = comma-separated base64 raw public keys. Rotation = add the new
 *   public key, sign new models with the new private key, then remove the old public key.
 */
import { type Bytes, fromBase64, plainBytes, sha256Hex, toBase64 } from './bytes';
import type { ManifestSignature } from './manifest';

const ALG = { name: 'Ed25519' } as const;

export async function keyIdOf(rawPublicKey: Bytes): Promise<string> {
  return (await sha256Hex(rawPublicKey)).slice(0, 16);
}

export async function generateSigningKey(): Promise<{ privateKeyPkcs8: string; publicKeyRaw: string; keyId: string }> {
  const pair = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array((await crypto.subtle.exportKey('pkcs8', pair.privateKey)) as ArrayBuffer);
  const raw = new Uint8Array((await crypto.subtle.exportKey('raw', pair.publicKey)) as ArrayBuffer);
  return { privateKeyPkcs8: toBase64(pkcs8), publicKeyRaw: toBase64(raw), keyId: await keyIdOf(raw) };
}

/** Public key (raw, base64) of a PKCS#8 Ed25519 private key: the last 32 bytes are the seed, so we
 * derive via JWK export, which carries `x`. */
export async function publicKeyOf(privateKeyPkcs8: string): Promise<string> {
  const key = await crypto.subtle.importKey('pkcs8', fromBase64(privateKeyPkcs8), ALG, true, ['sign']);
  const jwk = (await crypto.subtle.exportKey('jwk', key)) as JsonWebKey;
  if (!jwk.x) throw new Error('not an Ed25519 private key');
  return toBase64(fromBase64(jwk.x.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (jwk.x.length % 4)) % 4)));
}

export async function signManifest(manifestBytes: Uint8Array, privateKeyPkcs8: string): Promise<ManifestSignature> {
  const key = await crypto.subtle.importKey('pkcs8', fromBase64(privateKeyPkcs8), ALG, false, ['sign']);
  const sig = new Uint8Array(await crypto.subtle.sign(ALG, key, plainBytes(manifestBytes)));
  const keyId = await keyIdOf(fromBase64(await publicKeyOf(privateKeyPkcs8)));
  return { algorithm: 'Ed25519', keyId, signature: toBase64(sig) };
}

/** Why a signature does not verify: the signature itself is bad, or no trusted key could check it. */
export interface SignatureProblem {
  /** `bad-signature`: a trusted key says the bytes were not signed by it (or the signature is garbled); `untrusted`: no configured key matches */
  kind: 'bad-signature' | 'untrusted';
  message: string;
}

/**
 * Verifies a detached signature against any of the trusted public keys (base64 raw).
 * Returns why it does not verify, or null when it does.
 */
export async function verifyManifest(
  manifestBytes: Uint8Array,
  sig: ManifestSignature,
  trustedPublicKeys: readonly string[],
): Promise<SignatureProblem | null> {
  if (trustedPublicKeys.length === 0) return { kind: 'untrusted', message: 'no trusted public keys are configured (MODEL_PUBLIC_KEYS)' };
  for (const pk of trustedPublicKeys) {
    let raw: Bytes;
    try {
      raw = fromBase64(pk.trim());
    } catch {
      continue;
    }
    if ((await keyIdOf(raw)) !== sig.keyId) continue;
    const key = await crypto.subtle.importKey('raw', raw, ALG, false, ['verify']);
    let sigBytes: Bytes;
    try {
      sigBytes = fromBase64(sig.signature);
    } catch {
      return { kind: 'bad-signature', message: 'signature is not base64' };
    }
    const ok = await crypto.subtle.verify(ALG, key, sigBytes, plainBytes(manifestBytes));
    return ok ? null : { kind: 'bad-signature', message: `signature does not match (key ${sig.keyId})` };
  }
  return { kind: 'untrusted', message: `signed with unknown key ${sig.keyId}` };
}

export function parsePublicKeys(config: string | undefined): string[] {
  return (config ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
