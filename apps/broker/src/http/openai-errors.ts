import { isSluiceError, type SluiceError } from '@sluice/events';
import { databaseUnavailable, isDatabaseUnavailable } from '../db/database';
import { httpStatusOf, openaiTypeOf } from '../error-table';

/** OpenAI's error body: what every OpenAI SDK knows how to read. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

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
  const openaiCode = error.details.openaiCode;
  // A relayed upstream error keeps the upstream's own code (null included).
  const code =
    typeof openaiCode === 'string' || openaiCode === null
      ? (openaiCode as string | null)
      : error.code === 'upstream_refused'
        ? null
        : error.code;
  return openAIError(httpStatusOf(error), error.message, { param, code, type: openaiTypeOf(error) });
}

/** Headers an error answer carries: when to retry, and which request (Sluice's and the upstream's). */
export interface ErrorHeaders {
  retryAfterMs?: number;
  requestId?: string;
  upstreamRequestId?: string;
}

/** Anything thrown at the edge becomes an OpenAI-shaped error; unknown errors never leak their text. */
export function toOpenAIError(error: unknown): { status: number; body: OpenAIErrorBody } & ErrorHeaders {
  if (isDatabaseUnavailable(error)) return toOpenAIError(databaseUnavailable(error));
  if (isSluiceError(error)) {
    const d = error.details;
    return {
      ...sluiceErrorToOpenAI(error),
      ...(typeof d.retryAfterMs === 'number' ? { retryAfterMs: d.retryAfterMs } : {}),
      ...(typeof d.requestId === 'string' ? { requestId: d.requestId } : {}),
      ...(typeof d.upstreamRequestId === 'string' ? { upstreamRequestId: d.upstreamRequestId } : {}),
    };
  }
  return openAIError(
    500,
    'Internal error; it has been logged. Retry, or contact the operator if it persists.',
  );
}
