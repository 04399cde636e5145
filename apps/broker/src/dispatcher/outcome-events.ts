import {
  eventIdFor,
  type RequestSubmitted,
  type SluiceEvent,
  type SluiceEventType,
  type UsageRecorded,
} from '@sluice/events';
import type { ChatCompletion } from 'openai/resources/chat/completions';

/**
 * Pure builders for the facts the dispatcher records about a request. Ids are deterministic
 * (request, attempt, type), so recording the same fact twice is a no-op in the store.
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
    version: 2,
    ...f,
  }),
  retryScheduled: (
    s: RequestSubmitted,
    attempt: number,
    at: Date,
    f: Fields<'request.retry_scheduled'>,
  ): SluiceEvent => ({ ...envelope('request.retry_scheduled', s, attempt, at), version: 1, ...f }),
  /** An upstream answer; a request that carried a cache directive records it as an eligible miss (its answer fills the cache). */
  completed: (
    s: RequestSubmitted,
    attempt: number,
    at: Date,
    f: Omit<Fields<'request.completed'>, 'cache'>,
  ): SluiceEvent => ({
    ...envelope('request.completed', s, attempt, at),
    version: 2,
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
  }),
  failed: (s: RequestSubmitted, attempt: number, at: Date, f: Fields<'request.failed'>): SluiceEvent => ({
    ...envelope('request.failed', s, attempt, at),
    version: 1,
    ...f,
  }),
  cancelled: (
    s: RequestSubmitted,
    attempt: number,
    at: Date,
    f: Fields<'request.cancelled'>,
  ): SluiceEvent => ({
    ...envelope('request.cancelled', s, attempt, at),
    version: 1,
    ...f,
  }),
  usage: (s: RequestSubmitted, attempt: number, at: Date, f: Fields<'usage.recorded'>): UsageRecorded => ({
    ...envelope('usage.recorded', s, attempt, at),
    version: 2,
    ...f,
  }),
};

/** Usage as the upstream reported it; when it reported none, the estimate, marked as such. */
export function usageFromCompletion(
  completion: Pick<ChatCompletion, 'usage'>,
  estimate: RequestSubmitted['estimate'],
): Fields<'usage.recorded'> {
  const reported = reportedUsage(completion.usage);
  if (!reported) {
    return {
      promptTokens: estimate.promptTokens,
      cachedTokens: 0,
      completionTokens: estimate.maxOutputTokens,
      reasoningTokens: 0,
      totalTokens: estimate.promptTokens + estimate.maxOutputTokens,
      estimated: true,
      channel: 'sync',
    };
  }
  return { ...reported, estimated: false, channel: 'sync' };
}

/** The token counts an upstream completion reports (cached part of prompt, reasoning part of completion). */
export function reportedUsage(u: ChatCompletion['usage'] | null | undefined) {
  if (!u) return undefined;
  return {
    promptTokens: u.prompt_tokens,
    cachedTokens: u.prompt_tokens_details?.cached_tokens ?? 0,
    completionTokens: u.completion_tokens,
    reasoningTokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
    totalTokens: u.total_tokens,
  };
}
