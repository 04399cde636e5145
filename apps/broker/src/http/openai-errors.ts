import { isSluiceError, type SluiceError, type SluiceErrorCode } from '@sluice/events';
import { databaseUnavailable, isDatabaseUnavailable } from '../db/database';

/** OpenAI's error body: what every OpenAI SDK knows how to read. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const STATUS: Record<SluiceErrorCode, number> = {
  invalid_event: 400,
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  request_too_large: 400,
  budget_exceeded: 429,
  rate_limited: 429,
  log_unavailable: 503,
  database_unavailable: 503,
  upstream_error: 502,
  timeout: 504,
  cancelled: 499,
  internal: 500,
};

export function openAIError(
  status: number,
  message: string,
  opts: { type?: string; param?: string | null; code?: string | null } = {},
): { status: number; body: OpenAIErrorBody } {
  const type = opts.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
  return { status, body: { error: { message, type, param: opts.param ?? null, code: opts.code ?? null } } };
}

export function sluiceErrorToOpenAI(error: SluiceError): { status: number; body: OpenAIErrorBody } {
  const param = typeof error.details.param === 'string' ? error.details.param : null;
  const code = typeof error.details.openaiCode === 'string' ? error.details.openaiCode : error.code;
  const type =
    error.code === 'rate_limited'
      ? 'requests'
      : error.code === 'budget_exceeded'
        ? 'insufficient_quota'
        : undefined;
  return openAIError(STATUS[error.code], error.message, { param, code, ...(type ? { type } : {}) });
}

/** Anything thrown at the edge becomes an OpenAI-shaped error; unknown errors never leak their text. */
export function toOpenAIError(error: unknown): {
  status: number;
  body: OpenAIErrorBody;
  retryAfterMs?: number;
} {
  if (isDatabaseUnavailable(error)) return toOpenAIError(databaseUnavailable(error));
  if (isSluiceError(error)) {
    const retryAfterMs =
      typeof error.details.retryAfterMs === 'number' ? error.details.retryAfterMs : undefined;
    return { ...sluiceErrorToOpenAI(error), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
  return openAIError(
    500,
    'Internal error; it has been logged. Retry, or contact the operator if it persists.',
  );
}
