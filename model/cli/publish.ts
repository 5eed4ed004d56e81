/**
 * `npm run publish -- --from <artifact dir> [--target local|s3|http] …`
 *
 * Uploads a signed artifact to origin storage in safe order (data, manifest.sig, manifest.json,
 * then models/latest.json), so a half-finished upload is never visible as a model.
 * - local (default): the R2 bucket `wrangler dev` simulates (.wrangler/state), via wrangler's
 *   platform proxy — the same storage the local Worker reads.
 * - s3: any S3-compatible bucket, including Cloudflare R2's S3 API (--endpoint, --bucket,
 *   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
 * - http: PUT each object to <url>/<key> (ORIGIN_TOKEN as a bearer token when set).
 *
 * Before anything is uploaded (or wrangler started) the artifact is checked as the Worker will
 * check it: signed, its signature valid for one of the public keys the deployment trusts, every
 * file's size and digest as the manifest says. The keys: --public-key, else $MODEL_PUBLIC_KEYS,
 * else for --target local the MODEL_PUBLIC_KEYS of .dev.vars (what `wrangler dev` reads; `npm run
 * keygen -- --dev-vars` writes it). With none, publish refuses rather than upload what it could not
 * check: an edited manifest would be rejected only later, at the edge's refresh.
 * --no-verify-signature skips the signature check (never the unsigned check or the digests).
 */

import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { plainBytes } from '@edge-recs/core/bytes';
import { parsePublicKeys } from '@edge-recs/core/signing';
import { AwsClient } from 'aws4fetch';
import cliProgress from 'cli-progress';
import { Command, Option } from 'commander';
import { verifyArtifactDir } from '../artifact-fs';
import { type PublishableArtifact, type PublishTarget, publishArtifact, r2Target } from '../publish';
import { run } from './common';

const program = new Command('publish')
  .description('Upload a signed model artifact to origin storage')
  .requiredOption('--from <dir>', 'artifact directory written by npm run train')
  .addOption(new Option('--target <kind>', 'where to upload').choices(['local', 's3', 'http']).default('local'))
  .option('--persist-to <dir>', 'local: wrangler state directory', '.wrangler/state')
  .option('--endpoint <url>', 's3: endpoint, e.g. https://<account>.r2.cloudflarestorage.com')
  .option('--bucket <name>', 's3: bucket name', 'recs-models')
  .option('--url <url>', 'http: base URL objects are PUT under')
  .option('--no-latest', 'upload the version without moving models/latest.json')
  .option(
    '--public-key <keys>',
    'trusted Ed25519 public keys (base64, comma-separated, as MODEL_PUBLIC_KEYS); default $MODEL_PUBLIC_KEYS, then .dev.vars for --target local',
  )
  .option('--no-verify-signature', 'publish without checking the signature against the trusted keys (the edge still will)');

/** The public keys a publish verifies against, and where they came from (for the log). */
export interface TrustedKeys {
  keys: string[];
  source: string;
}

/** MODEL_PUBLIC_KEYS from a .dev.vars file (`NAME=value` lines, the value optionally quoted), or [] without one. */
async function devVarsKeys(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  const line = text.split(/\r?\n/).find((l) => /^\s*MODEL_PUBLIC_KEYS\s*=/.test(l));
  return parsePublicKeys(
    line
      ?.slice(line.indexOf('=') + 1)
      .trim()
      .replace(/^(["'])(.*)\1$/, '$2'),
  );
}

/**
 * The keys the deployment trusts, first found of: --public-key, $MODEL_PUBLIC_KEYS, and (given
 * `devVars`, for the local bucket) that file's MODEL_PUBLIC_KEYS. Null when none has a key.
 */
export async function trustedKeys(opts: { flag?: string; env?: string; devVars?: string }): Promise<TrustedKeys | null> {
  const flag = parsePublicKeys(opts.flag);
  if (flag.length) return { keys: flag, source: '--public-key' };
  const env = parsePublicKeys(opts.env);
  if (env.length) return { keys: env, source: '$MODEL_PUBLIC_KEYS' };
  if (opts.devVars) {
    const vars = await devVarsKeys(opts.devVars);
    if (vars.length) return { keys: vars, source: `MODEL_PUBLIC_KEYS in ${opts.devVars}` };
  }
  return null;
}

/**
 * Reads an artifact directory for upload, refusing what the edge would refuse: no manifest.sig, a
 * signature that `trusted` keys do not verify (null: not checked), a file that differs from the
 * manifest.
 */
export async function readArtifactDir(dir: string, trusted: string[] | null): Promise<PublishableArtifact> {
  try {
    await access(join(dir, 'manifest.sig'));
  } catch {
    throw new Error(
      `the artifact in ${dir} is unsigned (no manifest.sig): set MODEL_SIGNING_KEY (or --key-file) when training, the edge rejects unsigned models`,
    );
  }
  const { manifest, problems } = await verifyArtifactDir(dir, trusted ?? undefined);
  if (problems.length) throw new Error(`artifact in ${dir} fails verification:\n  ${problems.join('\n  ')}`);
  const files: Record<string, Uint8Array> = {};
  for (const name of Object.keys(manifest.files)) files[name] = new Uint8Array(await readFile(join(dir, name)));
  let signature: Uint8Array | null = null;
  try {
    signature = new Uint8Array(await readFile(join(dir, 'manifest.sig')));
  } catch {
    signature = null;
  }
  return { version: manifest.version, files, signature, manifestBytes: new Uint8Array(await readFile(join(dir, 'manifest.json'))) };
}

export function s3Target(endpoint: string, bucket: string): PublishTarget {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw new Error('--target s3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  const client = new AwsClient({ accessKeyId, secretAccessKey, service: 's3', region: process.env.AWS_REGION ?? 'auto' });
  return {
    name: `s3 ${endpoint}/${bucket}`,
    async put(key, body, contentType) {
      const res = await client.fetch(`${endpoint.replace(/\/$/, '')}/${bucket}/${key}`, {
        method: 'PUT',
        body: plainBytes(body),
        headers: { 'content-type': contentType },
      });
      if (!res.ok) throw new Error(`PUT ${key}: ${res.status} ${await res.text()}`);
    },
  };
}

export function httpTarget(base: string, token = process.env.ORIGIN_TOKEN): PublishTarget {
  return {
    name: `http ${base}`,
    async put(key, body, contentType) {
      const headers: Record<string, string> = { 'content-type': contentType };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`${base.replace(/\/$/, '')}/${key}`, { method: 'PUT', body: plainBytes(body), headers });
      if (!res.ok) throw new Error(`PUT ${key}: ${res.status} ${await res.text()}`);
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run(async () => {
    program.parse();
    const o = program.opts();
    let trusted: TrustedKeys | null = null;
    if (o.verifySignature) {
      trusted = await trustedKeys({
        flag: o.publicKey,
        env: process.env.MODEL_PUBLIC_KEYS,
        devVars: o.target === 'local' ? '.dev.vars' : undefined,
      });
      if (!trusted)
        throw new Error(
          `cannot verify the signature: no trusted public key. Pass --public-key <base64> or set MODEL_PUBLIC_KEYS to the keys the Worker trusts${o.target === 'local' ? ' (or run npm run keygen -- --dev-vars, which puts one in .dev.vars)' : ''}; --no-verify-signature publishes without checking`,
        );
    }
    const artifact = await readArtifactDir(o.from, trusted?.keys ?? null);
    console.log(
      trusted
        ? `${artifact.version}: signature verified against ${trusted.source}`
        : `${artifact.version}: signature NOT verified (--no-verify-signature): the edge will reject it unless MODEL_PUBLIC_KEYS trusts its key`,
    );
    let target: PublishTarget;
    let dispose = async () => {};
    if (o.target === 'local') {
      const { getPlatformProxy } = await import('wrangler');
      const proxy = await getPlatformProxy<{ MODELS: Parameters<typeof r2Target>[0] }>({ persist: { path: join(o.persistTo, 'v3') } });
      target = r2Target(proxy.env.MODELS, 'local R2 bucket (wrangler dev)');
      dispose = proxy.dispose;
    } else if (o.target === 's3') {
      if (!o.endpoint) throw new Error('--target s3 needs --endpoint');
      target = s3Target(o.endpoint, o.bucket);
    } else {
      if (!o.url) throw new Error('--target http needs --url');
      target = httpTarget(o.url);
    }
    const total = Object.keys(artifact.files).length + 2 + (o.latest ? 1 : 0);
    const bar = new cliProgress.SingleBar(
      { format: `publish [{bar}] {value}/{total} {key}`, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { key: '' });
    try {
      await publishArtifact(target, artifact, { updateLatest: o.latest, onFile: (key) => bar.increment(1, { key }) });
    } finally {
      bar.stop();
      await dispose();
    }
    console.log(`published ${artifact.version} to ${target.name}${o.latest ? ' and moved models/latest.json' : ''}`);
    console.log(
      'the Worker picks it up on its next cron run, or now with: curl -X POST -H "authorization: Bearer $ADMIN_TOKEN" http://localhost:8787/admin/refresh',
    );
  });
}
