import {
  eventIdFor,
  type RequestSubmitted,
  type SluiceEvent,
  type SluiceEventType,
  type UsageRecorded,
} from '@sluice/events';

/**
 * Pure builders for the facts recorded about a request. Ids are deterministic (request, attempt,
 * type), so recording the same fact twice is a no-op in the store.
 */
type Fields<T extends SluiceEventType> = Omit<
  Extract<SluiceEvent, { type: T }>,
  | 'type'
  | 'version'
  | 'eventId'
  | 'requestId'
  | 'tenantId'
  | 'pool'
  | 'model'
  | 'priority'
  | 'attempt'
  | 'occurredAt'
  | 'endpoint'
>;

function envelope<T extends SluiceEventType>(
  type: T,
  submitted: RequestSubmitted,
  attempt: number,
  at: Date,
) {
  return {
    type,
    eventId: eventIdFor(type, submitted.requestId, attempt),
    requestId: submitted.requestId,
    tenantId: submitted.tenantId,
    pool: submitted.pool,
    model: submitted.model,
    priority: submitted.priority,
    endpoint: submitted.endpoint,
    attempt,
    occurredAt: at.toISOString(),
  };
}

export const outcome = {
  dispatched: (
    s: RequestSubmitted,
    attempt: number,
    at: Date,
    f: Fields<'request.dispatched'>,
  ): SluiceEvent => ({
    ...envelope('request.dispatched', s, attempt, at),
    version: 3,
    ...f,
  }),
  retryScheduled: (
    s: RequestSubmitted,
    attempt: number,
    at: Date,
    f: Fields<'request.retry_scheduled'>,
  ): SluiceEvent => ({ ...envelope('request.retry_scheduled', s, attempt, at), version: 2, ...f }),
  /** An upstream answer; a request that carried a cache directive records it as an eligible miss (its answer fills the cache). */
  completed: (
    s: RequestSubmitted,
    attempt: number,
    at: Date,
    f: Omit<Fields<'request.completed'>, 'cache' | 'response'> & { response: unknown },
  ): SluiceEvent =>
    ({
      ...envelope('request.completed', s, attempt, at),
      version: 3,
      ...f,
      cache: s.cache
        ? {
            hit: false,
            scope: s.cache.scope,
            key: s.cache.key,
            ttlSeconds: s.cache.ttlSeconds,
            sourceRequestId: null,
          }
        : null,
    }) as SluiceEvent,
  failed: (s: RequestSubmitted, attempt: number, at: Date, f: Fields<'request.failed'>): SluiceEvent => ({
    ...envelope('request.failed', s, attempt, at),
    version: 2,
    ...f,
  }),
  cancelled: (
    s: RequestSubmitted,
    attempt: number,
    at: Date,
    f: Fields<'request.cancelled'>,
  ): SluiceEvent => ({
    ...envelope('request.cancelled', s, attempt, at),
    version: 2,
    ...f,
  }),
  usage: (s: RequestSubmitted, attempt: number, at: Date, f: Fields<'usage.recorded'>): UsageRecorded => ({
    ...envelope('usage.recorded', s, attempt, at),
    version: 3,
    ...f,
  }),
};
