/**
 * Publishing an artifact to origin storage, in an order that never exposes a partial model:
 * every data file, then manifest.sig, then manifest.json, and only then models/latest.json,
 * the pointer the edge's refresh reads. Targets are small put-only adapters, so the same
 * ordering code serves the local R2 bucket, an S3-compatible bucket and an HTTPS endpoint
 * (and the tests, which publish into the real local R2 binding).
 */
import { LATEST_KEY, ORIGIN_PREFIX as MODEL_PREFIX } from '@edge-recs/core/manifest';

export interface PublishTarget {
  readonly name: string;
  put(key: string, body: Uint8Array, contentType: string): Promise<void>;
}

export interface PublishableArtifact {
  version: string;
  files: Record<string, Uint8Array>;
  signature: Uint8Array | null;
  manifestBytes: Uint8Array;
}

function contentType(name: string): string {
  return name.endsWith('.json') || name.endsWith('.sig') ? 'application/json' : 'application/octet-stream';
}

export interface PublishOptions {
  /** also move models/latest.json (default true) */
  updateLatest?: boolean;
  onFile?: (key: string, bytes: number) => void;
}

/** Uploads in safe order; returns the keys written, in order. */
export async function publishArtifact(target: PublishTarget, a: PublishableArtifact, opts: PublishOptions = {}): Promise<string[]> {
  if (!a.signature)
    throw new Error('the artifact is unsigned: set MODEL_SIGNING_KEY (or --key-file) when training, the edge rejects unsigned models');
  const base = `${MODEL_PREFIX}${a.version}/`;
  const written: string[] = [];
  const put = async (key: string, body: Uint8Array) => {
    await target.put(key, body, contentType(key));
    written.push(key);
    opts.onFile?.(key, body.byteLength);
  };
  for (const [name, bytes] of Object.entries(a.files)) await put(base + name, bytes);
  await put(`${base}manifest.sig`, a.signature);
  await put(`${base}manifest.json`, a.manifestBytes);
  if (opts.updateLatest ?? true) {
    await put(LATEST_KEY, new TextEncoder().encode(`${JSON.stringify({ version: a.version, publishedAt: new Date().toISOString() })}\n`));
  }
  return written;
}

/** An R2 binding (Worker tests, or wrangler's platform proxy for the local bucket). */
export function r2Target(bucket: { put(key: string, body: ArrayBuffer, opts?: unknown): Promise<unknown> }, name = 'r2'): PublishTarget {
  return {
    name,
    async put(key, body, type) {
      // A view into a larger buffer (protobuf writers return Node Buffers into a pool) would send the
      // whole buffer through wrangler's platform proxy: hand over exactly the bytes.
      const exact = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body : new Uint8Array(body);
      await bucket.put(key, exact.buffer as ArrayBuffer, { httpMetadata: { contentType: type } });
    },
  };
}
