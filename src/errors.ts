/**
 * The service's one error type. Everything that can go wrong for a client ends as an AppError
 * with a stable machine-readable code; services throw it without knowing about HTTP, and the
 * one `app.onError` renders it as {"error":{"code","message"}} with the status this table gives.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  malformed_json: 400,
  too_many_items: 400,
  empty_basket: 400,
  k_out_of_range: 400,
  unauthorized: 401,
  item_not_found: 404,
  not_found: 404,
  placement_not_found: 404,
  experiment_not_found: 404,
  method_not_allowed: 405,
  nothing_to_roll_back: 409,
  experiment_conflict: 409,
  placement_in_use: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  misconfigured: 500,
  no_model: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get status(): ErrorStatus {
    return ERROR_STATUS[this.code];
  }
}

export function errorBody(code: ErrorCode, message: string) {
  return { error: { code, message } };
}

/** The words for an item id that neither the serving model nor the live catalogue knows. */
export function unknownItemMessage(id: string, modelVersion: string): string {
  return `item ${id} is in neither model ${modelVersion} nor the catalogue`;
}
