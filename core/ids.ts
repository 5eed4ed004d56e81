/**
 * What a user or item id must be for the API to address it — one rule for the Worker's request
 * schemas (src/schemas.ts) and the trainer's loader (model/data.ts). An id the API refuses could
 * still be learned from a data file, and then never be asked about: a user who cannot get their
 * recommendations, a product that cannot be taken out of stock or put in a basket.
 */

/** User (and session) ids: 1–128 printable ASCII characters, no spaces, not "." or "..". */
export const USER_ID_MAX_CHARS = 128;
export const USER_ID_PATTERN = /^[\x21-\x7e]+$/;

/** Item ids: 1–256 bytes of UTF-8. */
export const ITEM_ID_MAX_BYTES = 256;
/**
 * No control characters, no lone surrogates, no leading or trailing space. `\S` alone would let a
 * control character (not whitespace) through at either end; a lone surrogate (\p{Cs}) is no
 * character at all and has no UTF-8 form.
 */
export const ITEM_ID_PATTERN = /^[^\s\p{Cc}\p{Cs}](?:[^\p{Cc}\p{Cs}]*[^\s\p{Cc}\p{Cs}])?$/u;
/** The same pattern as the OpenAPI document states it (no JavaScript flag suffix). */
export const ITEM_ID_PATTERN_SOURCE = ITEM_ID_PATTERN.source;
/** Ids a URL path cannot carry: `/v1/items/..` is normalised to `/v1/` before any route sees it. */
export const DOT_SEGMENTS: readonly string[] = ['.', '..'];

const encoder = new TextEncoder();

/** Why the API would refuse this user id, or undefined when it accepts it. */
export function userIdProblem(id: string): string | undefined {
  if (id.length === 0) return 'it is empty';
  if (id.length > USER_ID_MAX_CHARS) return `it is longer than ${USER_ID_MAX_CHARS} characters`;
  if (!USER_ID_PATTERN.test(id)) return 'it is not printable ASCII without spaces';
  // /v1/users/../history is /v1/history: such a user could send events but never be read or forgotten
  if (DOT_SEGMENTS.includes(id)) return 'a URL path cannot carry it ("." and ".." are path segments)';
  return undefined;
}

/** Why the API would refuse this item id, or undefined when it accepts it. */
export function itemIdProblem(id: string): string | undefined {
  if (id.length === 0) return 'it is empty';
  if (!ITEM_ID_PATTERN.test(id)) return 'it has a control character, a lone surrogate, or a leading or trailing space';
  if (encoder.encode(id).length > ITEM_ID_MAX_BYTES) return `it is longer than ${ITEM_ID_MAX_BYTES} bytes of UTF-8`;
  if (DOT_SEGMENTS.includes(id)) return 'a URL path cannot carry it ("." and ".." are path segments)';
  return undefined;
}
