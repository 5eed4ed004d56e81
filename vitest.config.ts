/**
 * Three test projects:
 * - `worker`: runs inside workerd (vitest-pool-workers) with the real local KV, R2 and Durable
 *   Object bindings from wrangler.toml; only the origin's HTTP would ever be stubbed.
 * - `node`: the offline trainer and CLIs, the bench's kernels and the shopper simulator, in Node (where they run).
 * The shared package's tests (test/core) run in both, since both runtimes use it.
 * - `e2e`: the pages in headless Chromium, and the whole loop, against `wrangler dev`.
 * A fresh Ed25519 key pair is generated per run for signing test models; it is never stored.
 * The Worker's build step runs first (wrangler's [build] does the same for `wrangler dev` and
 * deploys), since the worker project imports what it writes to build/.
 */

import { webcrypto } from 'node:crypto';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';
import { build } from './scripts/build.ts';

await build();

async function keyPair() {
  const pair = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const b64 = (k: ArrayBuffer) => Buffer.from(k).toString('base64');
  return {
    privateKeyPkcs8: b64(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey)),
    publicKeyRaw: b64(await webcrypto.subtle.exportKey('raw', pair.publicKey)),
  };
}

const key = await keyPair();
const other = await keyPair();

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                MODEL_PUBLIC_KEYS: key.publicKeyRaw,
                ACTIVE_POINTER_TTL_SECONDS: '0',
                ADMIN_TOKEN: 'test-admin-token',
                API_KEY: 'test-api-key',
                USER_ID_SECRET: 'test-user-id-secret',
                TEST_SIGNING_KEY: key.privateKeyPkcs8,
                TEST_OTHER_SIGNING_KEY: other.privateKeyPkcs8,
              },
            },
          }),
        ],
        test: { name: 'worker', include: ['test/worker/**/*.test.ts', 'test/core/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 },
      },
      {
        test: {
          name: 'node',
          include: ['test/trainer/**/*.test.ts', 'test/tools/**/*.test.ts', 'test/core/**/*.test.ts', 'test/contract/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
        },
      },
      {
        // the demo and dashboard pages in Chromium against `wrangler dev`, and the whole loop (see each file's header)
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], environment: 'node', testTimeout: 120_000, hookTimeout: 120_000 },
      },
    ],
  },
});
