import { eventIdFor, type RequestCompleted, type RequestSubmitted, type UsageRecorded } from '@sluice/events';
import { serviceTierOf } from '../operations/operation';
import type { CachedAnswer } from './redis-front';

/**
 * The facts of a request answered from the cache, after its `request.submitted`: a completion
 * marked `cache.hit` with the stored answer (its completion id is the stored answer's: it is that
 * answer; the request id is the new request's), and usage on the `cache` channel with the original
 * token counts (priced at the operator's cache fraction, 0 by default). Attempt 0: no upstream
 * attempt was made. Deterministic ids, so writing them twice stores them once.
 */
export function cacheHitEvents(
  submitted: RequestSubmitted,
  answer: CachedAnswer,
  at: Date,
): [RequestCompleted, UsageRecorded] {
  const directive = submitted.cache;
  if (!directive) throw new Error('cacheHitEvents: the submission carries no cache directive');
  const envelope = {
    requestId: submitted.requestId,
    tenantId: submitted.tenantId,
    pool: submitted.pool,
    model: submitted.model,
    priority: submitted.priority,
    endpoint: submitted.endpoint,
    attempt: 0,
    occurredAt: at.toISOString(),
  };
  return [
    {
      type: 'request.completed',
      version: 3,
      eventId: eventIdFor('request.completed', submitted.requestId, 0),
      ...envelope,
      response: answer.response,
      upstreamLatencyMs: 0,
      queueWaitMs: 0,
      upstreamRequestId: null,
      upstreamProcessingMs: null,
      cache: {
        hit: true,
        scope: directive.scope,
        key: directive.key,
        ttlSeconds: directive.ttlSeconds,
        sourceRequestId: answer.sourceRequestId,
      },
    } as RequestCompleted,
    {
      type: 'usage.recorded',
      version: 3,
      eventId: eventIdFor('usage.recorded', submitted.requestId, 0),
      ...envelope,
      promptTokens: answer.promptTokens,
      cachedTokens: answer.cachedTokens,
      completionTokens: answer.completionTokens,
      reasoningTokens: answer.reasoningTokens,
      totalTokens: answer.promptTokens + answer.completionTokens,
      estimated: false,
      channel: 'cache',
      serviceTier: serviceTierOf(answer.response),
      units: {},
    },
  ];
}
