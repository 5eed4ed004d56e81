/**
 * Artifact directories on disk: write in publish order, verify (schema, signature, digests).
 * Writing order matters: data files first, then manifest.sig, then manifest.json, so any reader
 * that sees a manifest also sees everything it lists.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileMismatch, type Manifest, manifestSchema, signatureSchema } from '@edge-recs/core/manifest';
import { verifyManifest } from '@edge-recs/core/signing';
import { type ArtifactInput, type BuiltArtifact, buildArtifact } from './artifact';

export async function writeArtifactDir(dir: string, built: BuiltArtifact): Promise<void> {
  for (const [name, bytes] of Object.entries(built.files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), bytes);
  }
  if (built.signature) await writeFile(join(dir, 'manifest.sig'), built.signature);
  await writeFile(join(dir, 'manifest.json'), built.manifestBytes);
}

export async function writeArtifact(dir: string, input: ArtifactInput): Promise<Manifest> {
  const built = await buildArtifact(input);
  await writeArtifactDir(dir, built);
  return built.manifest;
}

export interface VerifyResult {
  manifest: Manifest;
  problems: string[];
}

/** Checks an artifact directory: schema, signature (when keys are given) and every file's size and digest. */
export async function verifyArtifactDir(dir: string, trustedPublicKeys?: string[]): Promise<VerifyResult> {
  const manifestBytes = new Uint8Array(await readFile(join(dir, 'manifest.json')));
  const manifest = manifestSchema.parse(JSON.parse(new TextDecoder().decode(manifestBytes)));
  const problems: string[] = [];
  if (trustedPublicKeys) {
    let sigText: string | undefined;
    try {
      sigText = await readFile(join(dir, 'manifest.sig'), 'utf8');
    } catch {
      problems.push('manifest.sig is missing');
    }
    if (sigText !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(sigText);
      } catch {
        json = undefined; // garbled: reported as malformed below, like a well-formed JSON of the wrong shape
      }
      const sig = signatureSchema.safeParse(json);
      if (!sig.success) problems.push('manifest.sig is malformed');
      else {
        const why = await verifyManifest(manifestBytes, sig.data, trustedPublicKeys);
        if (why) problems.push(why.message);
      }
    }
  }
  for (const name of Object.keys(manifest.files)) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(join(dir, name)));
    } catch {
      problems.push(`${name} is missing`);
      continue;
    }
    const why = await fileMismatch(manifest, name, bytes);
    if (why) problems.push(why.message);
  }
  return { manifest, problems };
}

/** Every file of an artifact directory in publish order: data first, manifest.sig, manifest.json last. */
export async function publishOrder(dir: string): Promise<string[]> {
  const { manifest } = await verifyArtifactDir(dir);
  const names = Object.keys(manifest.files);
  const hasSig = (await readdir(dir)).includes('manifest.sig');
  return [...names, ...(hasSig ? ['manifest.sig'] : []), 'manifest.json'];
}
