/**
 * The service's one error type. Everything a client can do wrong ends as an ApiError with a
 * stable machine-readable code; `app.onError` renders it as {"error":{"code","message"}}.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export type ErrorCode =
  | 'invalid_request'
  | 'malformed_json'
  | 'payload_too_large'
  | 'too_many_items'
  | 'empty_basket'
  | 'k_out_of_range'
  | 'item_not_found'
  | 'not_found'
  | 'method_not_allowed'
  | 'unsupported_media_type'
  | 'unauthorized'
  | 'no_model'
  | 'refresh_in_progress'
  | 'internal';

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function errorBody(code: ErrorCode, message: string) {
  return { error: { code, message } };
}
