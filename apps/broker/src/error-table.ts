import type { SluiceError, SluiceErrorCode } from '@sluice/events';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';

interface ErrorMapping {
  /** HTTP status on `/v1` (tRPC derives its own from `trpc`). */
  status: number;
  /** OpenAI's `error.type`, what every OpenAI SDK reads. */
  openaiType: string;
  trpc: TRPC_ERROR_CODE_KEY;
}

/** The one table from Sluice's error codes to HTTP, OpenAI and tRPC: both front doors read it. */
export const ERROR_TABLE: Record<SluiceErrorCode, ErrorMapping> = {
  invalid_event: { status: 400, openaiType: 'invalid_request_error', trpc: 'BAD_REQUEST' },
  invalid_request: { status: 400, openaiType: 'invalid_request_error', trpc: 'BAD_REQUEST' },
  unauthorized: { status: 401, openaiType: 'invalid_request_error', trpc: 'UNAUTHORIZED' },
  forbidden: { status: 403, openaiType: 'invalid_request_error', trpc: 'FORBIDDEN' },
  not_found: { status: 404, openaiType: 'invalid_request_error', trpc: 'NOT_FOUND' },
  conflict: { status: 409, openaiType: 'invalid_request_error', trpc: 'CONFLICT' },
  idempotency_key_reused: { status: 422, openaiType: 'invalid_request_error', trpc: 'UNPROCESSABLE_CONTENT' },
  payload_too_large: { status: 413, openaiType: 'invalid_request_error', trpc: 'PAYLOAD_TOO_LARGE' },
  request_too_large: { status: 400, openaiType: 'invalid_request_error', trpc: 'BAD_REQUEST' },
  // OpenAI answers an exhausted quota with 429 `insufficient_quota`; Sluice's budget is the same fact.
  budget_exceeded: { status: 429, openaiType: 'insufficient_quota', trpc: 'TOO_MANY_REQUESTS' },
  rate_limited: { status: 429, openaiType: 'requests', trpc: 'TOO_MANY_REQUESTS' },
  log_unavailable: { status: 503, openaiType: 'server_error', trpc: 'SERVICE_UNAVAILABLE' },
  database_unavailable: { status: 503, openaiType: 'server_error', trpc: 'SERVICE_UNAVAILABLE' },
  overloaded: { status: 503, openaiType: 'server_error', trpc: 'SERVICE_UNAVAILABLE' },
  upstream_error: { status: 502, openaiType: 'server_error', trpc: 'BAD_GATEWAY' },
  upstream_refused: { status: 400, openaiType: 'invalid_request_error', trpc: 'BAD_REQUEST' },
  timeout: { status: 504, openaiType: 'server_error', trpc: 'TIMEOUT' },
  cancelled: { status: 499, openaiType: 'invalid_request_error', trpc: 'CLIENT_CLOSED_REQUEST' },
  internal: { status: 500, openaiType: 'server_error', trpc: 'INTERNAL_SERVER_ERROR' },
};

/** tRPC's code for an HTTP status the upstream answered (a relayed refusal keeps its status class). */
const TRPC_BY_STATUS: Record<number, TRPC_ERROR_CODE_KEY> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  422: 'UNPROCESSABLE_CONTENT',
  429: 'TOO_MANY_REQUESTS',
};

/** A relayed upstream error carries the upstream's own status and fields in its details. */
function relayedStatus(error: SluiceError): number | undefined {
  const s = error.details.status;
  return error.code === 'upstream_refused' && typeof s === 'number' ? s : undefined;
}

export function httpStatusOf(error: SluiceError): number {
  return relayedStatus(error) ?? ERROR_TABLE[error.code].status;
}

export function trpcCodeOf(error: SluiceError): TRPC_ERROR_CODE_KEY {
  const status = relayedStatus(error);
  return status !== undefined ? (TRPC_BY_STATUS[status] ?? 'BAD_REQUEST') : ERROR_TABLE[error.code].trpc;
}

export function openaiTypeOf(error: SluiceError): string {
  const t = error.details.openaiType;
  return typeof t === 'string' ? t : ERROR_TABLE[error.code].openaiType;
}
