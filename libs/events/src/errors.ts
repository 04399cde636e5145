/** Every error code Sluice raises, and whether retrying the same call can help. */
export const SLUICE_ERROR_CODES = {
  invalid_event: { retriable: false },
  invalid_request: { retriable: false },
  unauthorized: { retriable: false },
  forbidden: { retriable: false },
  not_found: { retriable: false },
  conflict: { retriable: false },
  /** The same idempotency key with a different request body. */
  idempotency_key_reused: { retriable: false },
  payload_too_large: { retriable: false },
  request_too_large: { retriable: false },
  budget_exceeded: { retriable: false },
  rate_limited: { retriable: true },
  log_unavailable: { retriable: true },
  database_unavailable: { retriable: true },
  /** Sluice itself is at capacity for this kind of work (e.g. measuring large requests): retry shortly. */
  overloaded: { retriable: true },
  upstream_error: { retriable: true },
  /** The upstream refused the request (its 4xx, relayed as it sent it): the same request cannot succeed. */
  upstream_refused: { retriable: false },
  timeout: { retriable: true },
  cancelled: { retriable: false },
  internal: { retriable: false },
} as const satisfies Record<string, { retriable: boolean }>;

export type SluiceErrorCode = keyof typeof SLUICE_ERROR_CODES;

export class SluiceError extends Error {
  override readonly name = 'SluiceError';
  readonly code: SluiceErrorCode;
  readonly retriable: boolean;
  /** Extra facts for the edge (e.g. `field`, `retryAfterMs`); never secrets. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: SluiceErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown>; retriable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? SLUICE_ERROR_CODES[code].retriable;
    this.details = options.details ?? {};
  }
}

export function isSluiceError(error: unknown): error is SluiceError {
  return error instanceof SluiceError;
}

/** Normalises anything thrown into a SluiceError, keeping the original as `cause`. */
export function toSluiceError(error: unknown): SluiceError {
  if (isSluiceError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SluiceError('internal', message, { cause: error });
}
