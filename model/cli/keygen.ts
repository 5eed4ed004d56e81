/**
 * `npm run keygen [-- --out <file>] [--dev-vars]`: a new Ed25519 model-signing key pair.
 * The private key signs artifacts (MODEL_SIGNING_KEY or --key-file for train/publish); the public
 * key goes into the Worker's MODEL_PUBLIC_KEYS. With --dev-vars the public key (and local admin/API
 * tokens, if missing) are written to .dev.vars for `wrangler dev`.
 */

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateSigningKey } from '@edge-recs/core/signing';
import { Command } from 'commander';
import { run } from './common';

const program = new Command('keygen')
  .description('Create an Ed25519 key pair for signing model artifacts')
  .option('--out <file>', 'write the private key here (mode 600)', '.keys/model-signing.key')
  .option('--dev-vars', 'add the public key to .dev.vars for local wrangler dev');

await run(async () => {
  program.parse();
  const o = program.opts();
  const key = await generateSigningKey();
  await mkdir(dirname(o.out), { recursive: true });
  await writeFile(o.out, `${key.privateKeyPkcs8}\n`, { mode: 0o600 });
  console.log(`private key written to ${o.out} (keep it out of the repository)`);
  console.log(`key id:     ${key.keyId}`);
  console.log(`public key: ${key.publicKeyRaw}`);
  if (o.devVars) {
    const existing = existsSync('.dev.vars') ? await readFile('.dev.vars', 'utf8') : '';
    const vars = new Map(
      existing
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const keys = (vars.get('MODEL_PUBLIC_KEYS') ?? '').replace(/"/g, '').split(',').filter(Boolean);
    vars.set('MODEL_PUBLIC_KEYS', `"${[key.publicKeyRaw, ...keys].join(',')}"`);
    if (!vars.has('ADMIN_TOKEN')) vars.set('ADMIN_TOKEN', `"${randomBytes(24).toString('base64url')}"`);
    if (!vars.has('API_KEY')) vars.set('API_KEY', `"${randomBytes(24).toString('base64url')}"`);
    if (!vars.has('USER_ID_SECRET')) vars.set('USER_ID_SECRET', `"${randomBytes(32).toString('base64url')}"`);
    await writeFile('.dev.vars', `${[...vars].map(([k, v]) => `${k}=${v}`).join('\n')}\n`, { mode: 0o600 });
    console.log('.dev.vars updated: MODEL_PUBLIC_KEYS (new key first), ADMIN_TOKEN, API_KEY, USER_ID_SECRET');
  }
});
