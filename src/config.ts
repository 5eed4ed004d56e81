/** Typed view of the Worker's configuration variables (wrangler.toml [vars] and secrets). */
import { parsePublicKeys } from './core/signing';
export interface Config {
  maxK: number;
  defaultK: number;
  maxBasketItems: number;
  maxCandidates: number;
  activePointerTtlSeconds: number;
  serveBundledModel: boolean;
  modelPublicKeys: string[];
  userEmbeddingTtlSeconds: number;
  /** catalogues with at least this many items are scored by the int8 kernel, smaller by ORT */
  int8ScoringMinItems: number;
  /** how long an isolate reuses a user record it read or wrote; 0 = always read KV */
  userCacheSeconds: number;
}

function int(v: string | undefined, fallback: number, min = 1): number {
  const n = Number(v);
  return Number.isInteger(n) && n >= min ? n : fallback;
}

export function configFrom(env: Env): Config {
  return {
    maxK: int(env.MAX_K, 100),
    defaultK: 20,
    maxBasketItems: int(env.MAX_BASKET_ITEMS, 100),
    maxCandidates: int(env.MAX_CANDIDATES, 1000),
    activePointerTtlSeconds: int(env.ACTIVE_POINTER_TTL_SECONDS, 30, 0),
    serveBundledModel: env.SERVE_BUNDLED_MODEL !== 'false',
    modelPublicKeys: parsePublicKeys(env.MODEL_PUBLIC_KEYS),
    userEmbeddingTtlSeconds: int(env.USER_EMBEDDING_TTL_SECONDS, 60 * 60 * 24 * 30, 60),
    int8ScoringMinItems: int(env.INT8_SCORING_MIN_ITEMS, 50_000, 0),
    userCacheSeconds: int(env.USER_CACHE_SECONDS, 5, 0),
  };
}
