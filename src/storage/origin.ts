/**
 * Origin storage as the refresh sees it: where published models come from.
 *
 * - R2 (default): the bucket bound as MODELS, which `npm run publish` writes to. The edge serves
 *   straight from it, so staging a version there means verifying it in place.
 * - HTTPS: ORIGIN_URL, e.g. a CDN or object store in front of the trainer's output. Files are
 *   fetched with a timeout and retried with exponential backoff on network errors, timeouts and
 *   5xx; models/latest.json is fetched conditionally (If-None-Match with the last ETag), and
 *   verified files are copied into MODELS under their versioned keys.
 */
import { KV } from './keys';

export class OriginError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OriginError';
  }
}

export interface Origin {
  readonly name: string;
  /** true when files must be copied into the MODELS bucket to be servable */
  readonly needsCopy: boolean;
  /** a file's bytes, null when the origin says it does not exist; throws OriginError when unreachable */
  get(key: string): Promise<ArrayBuffer | null>;
  /** operations spent so far (subrequests / R2 calls), for the per-run budget */
  readonly ops: number;
}

export function r2Origin(bucket: R2Bucket): Origin {
  let ops = 0;
  return {
    name: 'R2 bucket MODELS',
    needsCopy: false,
    get ops() {
      return ops;
    },
    async get(key) {
      ops++;
      try {
        const obj = await bucket.get(key);
        return obj ? await obj.arrayBuffer() : null;
      } catch (err) {
        throw new OriginError(`R2 get ${key} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
  };
}

export interface HttpOriginOptions {
  fetch?: typeof fetch;
  timeoutMs?: number;
  /** attempts per file, including the first */
  attempts?: number;
  /** first backoff delay; doubles per retry */
  backoffMs?: number;
  token?: string;
  /** remembers ETags and bodies of conditional GETs (KV in production) */
  etags?: {
    get(key: string): Promise<{ etag: string; body: string } | null>;
    put(key: string, v: { etag: string; body: string }): Promise<void>;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function httpOrigin(baseUrl: string, opts: HttpOriginOptions = {}): Origin {
  const doFetch = opts.fetch ?? fetch;
  const attempts = Math.max(1, opts.attempts ?? 3);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const backoffMs = opts.backoffMs ?? 500;
  let ops = 0;
  const base = baseUrl.replace(/\/+$/, '');
  return {
    name: `HTTPS origin ${base}`,
    needsCopy: true,
    get ops() {
      return ops;
    },
    async get(key) {
      const conditional = key.endsWith('latest.json') ? await opts.etags?.get(key) : null;
      let lastError = '';
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (attempt > 1) await sleep(backoffMs * 2 ** (attempt - 2));
        ops++;
        const headers: Record<string, string> = {};
        if (opts.token) headers.authorization = `Bearer ${opts.token}`;
        if (conditional) headers['if-none-match'] = conditional.etag;
        let res: Response;
        try {
          res = await doFetch(`${base}/${key}`, { headers, signal: AbortSignal.timeout(timeoutMs) });
        } catch (err) {
          lastError =
            err instanceof Error && err.name === 'TimeoutError'
              ? `timed out after ${timeoutMs} ms`
              : `unreachable (${err instanceof Error ? err.message : String(err)})`;
          continue;
        }
        if (res.status === 304 && conditional) return new TextEncoder().encode(conditional.body).buffer as ArrayBuffer;
        if (res.status === 404) return null;
        if (res.status >= 500 || res.status === 429) {
          lastError = `HTTP ${res.status}`;
          continue;
        }
        if (!res.ok) throw new OriginError(`GET ${key}: HTTP ${res.status}`);
        // the body is part of the attempt: a connection dropped mid-body, or a body shorter than
        // its declared length, is retried like any other transport fault
        let body: ArrayBuffer;
        try {
          body = await res.arrayBuffer();
        } catch (err) {
          lastError = `connection lost while reading the body (${err instanceof Error ? err.message : String(err)})`;
          continue;
        }
        const declared = Number(res.headers.get('content-length') ?? Number.NaN);
        if (Number.isInteger(declared) && declared !== body.byteLength) {
          lastError = `short read: ${body.byteLength} of ${declared} bytes`;
          continue;
        }
        const etag = res.headers.get('etag');
        if (etag && opts.etags && key.endsWith('latest.json')) await opts.etags.put(key, { etag, body: new TextDecoder().decode(body) });
        return body;
      }
      throw new OriginError(`GET ${key}: ${lastError} after ${attempts} attempts`);
    },
  };
}

/**
 * The origin the configuration names: the HTTPS origin of ORIGIN_URL (ETags remembered in KV),
 * or the MODELS bucket itself.
 */
export function originFrom(
  origin: { url: string | undefined; timeoutMs: number; attempts: number; backoffMs: number; token: string | undefined },
  storage: { kv: KVNamespace; bucket: R2Bucket },
  fetchImpl?: typeof fetch,
): Origin {
  if (!origin.url) return r2Origin(storage.bucket);
  return httpOrigin(origin.url, {
    fetch: fetchImpl,
    timeoutMs: origin.timeoutMs,
    attempts: origin.attempts,
    backoffMs: origin.backoffMs,
    token: origin.token,
    etags: {
      get: (key) => storage.kv.get(KV.originEtag(key), 'json'),
      put: (key, v) => storage.kv.put(KV.originEtag(key), JSON.stringify(v)),
    },
  });
}
