import { SluiceError } from '@sluice/events';
import type { AnyOperation } from '../operations/operation';
import type { RequestView } from './request-view';

/**
 * What a caller waiting on a request gets once it ended: its result, or an error. An upstream
 * refusal (its 4xx) is relayed as the upstream sent it — status, message, type, param, code —
 * with Sluice's request id added; everything else becomes Sluice's own error.
 */
export function answerOf(view: RequestView): unknown {
  if (view.status === 'completed' && view.result) return view.result;
  throw outcomeError(view);
}

/** The answer as the caller of `operation` sees it: a deferred request's keeps the id its placeholder gave. */
export function callerAnswerOf(operation: AnyOperation, view: RequestView, requestId: string): unknown {
  const result = answerOf(view);
  return operation.deferred ? operation.deferred.present(result, requestId) : result;
}

export function outcomeError(view: RequestView): SluiceError {
  const requestId = view.id;
  if (view.status === 'cancelled')
    return new SluiceError('cancelled', `Request ${requestId} was cancelled.`, { details: { requestId } });
  const e = view.error;
  const upstream = e?.upstream;
  if (e && upstream && !e.deadLettered && e.status !== null && e.status >= 400 && e.status < 500) {
    return new SluiceError('upstream_refused', upstream.message, {
      details: {
        requestId,
        status: e.status,
        openaiType: upstream.type ?? 'invalid_request_error',
        param: upstream.param,
        openaiCode: upstream.code,
        upstreamRequestId: view.upstreamRequestId,
      },
    });
  }
  if (e && !upstream && e.status !== null && e.status >= 400 && e.status < 500 && e.status !== 429) {
    // Refused by Sluice at dispatch (e.g. larger than the learned limit): the caller's to change.
    return new SluiceError('request_too_large', `Request ${requestId} failed: ${e.message}`, {
      details: { requestId, openaiCode: e.reason },
    });
  }
  return new SluiceError(
    'upstream_error',
    `Request ${requestId} failed upstream (${e?.reason ?? 'unknown'}${e?.deadLettered ? ', retries exhausted' : ''}): ${upstream?.message ?? e?.message ?? ''}`,
    { details: { requestId, openaiCode: e?.reason ?? 'upstream_error' } },
  );
}
