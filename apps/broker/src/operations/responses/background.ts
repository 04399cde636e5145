import type { UpstreamError } from '@sluice/events';
import type { Response } from 'openai/resources/responses/responses';
import type { DeferredPolicy, SettlePolicy } from '../operation';
import type { ResponsesRequest } from './request';

/**
 * A background response's id before the upstream has one: Sluice names it after its own request
 * (`resp_sluice_…` for `req_…`), so every API process can resolve it without a lookup table, and
 * the caller keeps that id for good — GET, cancel, DELETE, input items and `previous_response_id`
 * all take it, and Sluice maps it to the upstream's id once the upstream has the response.
 */
const ALIAS_PREFIX = 'resp_sluice_';

export function backgroundResponseId(requestId: string): string {
  return `${ALIAS_PREFIX}${requestId.replace(/^req_/, '')}`;
}

/** The Sluice request a background response id names, or undefined for an upstream id. */
export function requestIdOfBackgroundResponse(responseId: string): string | undefined {
  return responseId.startsWith(ALIAS_PREFIX) ? `req_${responseId.slice(ALIAS_PREFIX.length)}` : undefined;
}

/** Where a background response is while Sluice holds it: queued in Sluice, or sent and in progress upstream. */
export type BackgroundStatus = 'queued' | 'in_progress' | 'failed' | 'cancelled';

/**
 * A background response as Sluice shows it before (or instead of) the upstream's answer: the
 * request's own fields echoed, as OpenAI's response object echoes them, with no output yet.
 */
export function pendingResponse(
  body: ResponsesRequest,
  requestId: string,
  createdAtMs: number,
  status: BackgroundStatus,
  error: { code: string; message: string } | null = null,
): Response {
  return {
    id: backgroundResponseId(requestId),
    object: 'response',
    created_at: Math.floor(createdAtMs / 1000),
    status,
    background: true,
    error,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    metadata: body.metadata ?? {},
    model: body.model,
    output: [],
    output_text: '',
    parallel_tool_calls: (body.parallel_tool_calls as boolean | undefined) ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: (body.reasoning as Response['reasoning']) ?? null,
    store: body.store ?? true,
    temperature: body.temperature ?? null,
    text: (body.text as Response['text']) ?? { format: { type: 'text' } },
    tool_choice: (body.tool_choice as Response['tool_choice']) ?? 'auto',
    tools: (body.tools as Response['tools']) ?? [],
    top_p: (body.top_p as number | undefined) ?? null,
    usage: undefined,
  } as Response;
}

export const backgroundPolicy: DeferredPolicy<ResponsesRequest, Response> = {
  requested: (body) => body.background === true,
  placeholder: (body, requestId, at) => pendingResponse(body, requestId, at, 'queued'),
  // The caller was given Sluice's id; the answer keeps it (the upstream's id is Sluice's to map).
  present: (result, requestId) =>
    result.background === true ? { ...result, id: backgroundResponseId(requestId) } : result,
};

const RUNNING: ReadonlySet<unknown> = new Set(['queued', 'in_progress']);

/** A failed response's error code and the status an HTTP answer of the same failure would have. */
function statusOfFailure(code: unknown): number {
  if (code === 'rate_limit_exceeded') return 429;
  // The model or the platform failed: worth another attempt.
  if (code === 'server_error' || code === 'vector_store_timeout') return 500;
  return 400;
}

/** Background work is polled until final; a `failed` response is an upstream failure, not an answer. */
export const settlePolicy: SettlePolicy<Response> = {
  pending: (r) =>
    r.background === true && RUNNING.has(r.status)
      ? { poll: `/v1/responses/${r.id}`, cancel: `/v1/responses/${r.id}/cancel` }
      : null,
  failure(r) {
    if (r.status !== 'failed') return null;
    const e = (r.error ?? {}) as { code?: unknown; message?: unknown };
    const error: UpstreamError = {
      message: typeof e.message === 'string' ? e.message.slice(0, 4_000) : 'The response failed upstream.',
      type: statusOfFailure(e.code) === 400 ? 'invalid_request_error' : 'server_error',
      param: null,
      code: typeof e.code === 'string' ? e.code.slice(0, 128) : null,
    };
    return { status: statusOfFailure(e.code), error };
  },
};
