/**
 * The answers a route documents besides its success: every error a client can provoke gets its
 * status listed in the OpenAPI document with the one error shape, so the document lists exactly
 * what the server answers (the contract test checks every response against it).
 */
import { ErrorResponse } from '../schemas';

export const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } });

const err = (description: string) => ({ description, ...json(ErrorResponse) });

export interface ErrorOptions {
  /** the route takes a JSON body: malformed JSON (400), too large (413), not JSON (415); a string says what "too large" is */
  body?: boolean | string;
  /** 404 and what it means here */
  notFound?: string;
  /** the route needs a model: 503 no_model when none is active */
  model?: boolean;
  /** 409 and what it means here */
  conflict?: string;
}

/** Error answers of a route under /v1 or /admin (both may answer 401: /v1 reads when REQUIRE_API_KEY_FOR_READS is on). */
export function errors(opts: ErrorOptions = {}) {
  return {
    400: err('invalid request: unknown fields or query parameters, wrong types, values out of range'),
    401: err('missing or wrong credentials'),
    ...(opts.notFound ? { 404: err(opts.notFound) } : {}),
    ...(opts.conflict ? { 409: err(opts.conflict) } : {}),
    ...(opts.body
      ? { 413: err(typeof opts.body === 'string' ? opts.body : 'body larger than 64 KiB'), 415: err('body is not application/json') }
      : {}),
    ...(opts.model ? { 503: err('no model is available yet') } : {}),
  };
}
