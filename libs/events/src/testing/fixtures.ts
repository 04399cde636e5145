import { validateEvent } from '../codec';
import { eventIdFor, type RequestSubmitted, type SluiceEvent, type UsageRecorded } from '../events';

let counter = 0;

/** A valid `request.submitted`, with overrides. */
export function makeSubmittedEvent(overrides: Partial<RequestSubmitted> = {}): RequestSubmitted {
  const requestId = overrides.requestId ?? `req_fixture${Date.now().toString(36)}${(counter++).toString(36)}`;
  return {
    type: 'request.submitted',
    version: 3,
    endpoint: '/v1/chat/completions',
    eventId: eventIdFor('request.submitted', requestId, 0),
    requestId,
    tenantId: 'ten_fixture',
    pool: 'default',
    model: 'gpt-4o-mini',
    priority: 'standard',
    attempt: 0,
    occurredAt: new Date().toISOString(),
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }], max_tokens: 16 },
    stream: false,
    source: 'trpc',
    estimate: { promptTokens: 9, maxOutputTokens: 16, tpmCost: 25 },
    idempotencyKey: null,
    deadline: null,
    cache: null,
    route: 'sync',
    replyTo: null,
    tier: null,
    ...overrides,
  } as RequestSubmitted;
}

/** A valid `usage.recorded` for a submitted request. */
export function makeUsageEvent(
  submitted: RequestSubmitted,
  attempt = 1,
  overrides: Partial<UsageRecorded> = {},
): UsageRecorded {
  return {
    type: 'usage.recorded',
    version: 3,
    endpoint: submitted.endpoint,
    eventId: eventIdFor('usage.recorded', submitted.requestId, attempt),
    requestId: submitted.requestId,
    tenantId: submitted.tenantId,
    pool: submitted.pool,
    model: submitted.model,
    priority: submitted.priority,
    attempt,
    occurredAt: new Date().toISOString(),
    promptTokens: 9,
    cachedTokens: 0,
    completionTokens: 7,
    reasoningTokens: 0,
    totalTokens: 16,
    estimated: false,
    channel: 'sync',
    serviceTier: 'default',
    units: {},
    ...overrides,
  };
}

export type { SluiceEvent };

/**
 * A valid event of any type about one request, with overrides: the envelope comes from
 * `makeSubmittedEvent` (or `overrides`), the type-specific fields are plausible defaults.
 */
export function makeEvent<T extends SluiceEvent['type']>(
  type: T,
  overrides: Partial<Extract<SluiceEvent, { type: T }>> = {},
): Extract<SluiceEvent, { type: T }> {
  const s = makeSubmittedEvent(overrides as Partial<RequestSubmitted>);
  const attempt = overrides.attempt ?? (type === 'request.submitted' ? 0 : 1);
  const envelope = {
    requestId: s.requestId,
    tenantId: s.tenantId,
    pool: s.pool,
    model: s.model,
    priority: s.priority,
    endpoint: s.endpoint,
    attempt,
    occurredAt: s.occurredAt,
    eventId: eventIdFor(type, s.requestId, attempt),
  };
  const bodies: {
    [K in SluiceEvent['type']]: Omit<Extract<SluiceEvent, { type: K }>, keyof typeof envelope>;
  } = {
    'request.submitted': { ...s, type: 'request.submitted' },
    'request.dispatched': {
      type: 'request.dispatched',
      version: 3,
      dispatcherId: 'dsp_fixture',
      serviceTier: null,
      tierFallback: null,
      queueWaitMs: 3,
      reservedTokens: 25,
      batch: null,
    },
    'request.retry_scheduled': {
      type: 'request.retry_scheduled',
      version: 2,
      reason: 'rate_limited',
      status: 429,
      message: 'Rate limit reached',
      delayMs: 1_000,
      retryAt: new Date(Date.now() + 1_000).toISOString(),
    },
    'request.completed': {
      type: 'request.completed',
      version: 3,
      response: {
        id: 'chatcmpl-fixture',
        choices: [{ index: 0, message: { role: 'assistant', content: 'hi' } }],
      },
      upstreamLatencyMs: 120,
      queueWaitMs: 3,
      upstreamRequestId: 'req_upstream_fixture',
      upstreamProcessingMs: 95,
      cache: null,
    },
    'request.failed': {
      type: 'request.failed',
      version: 2,
      reason: 'server_error',
      status: 500,
      message: 'upstream failed',
      deadLettered: false,
      upstreamError: {
        message: 'The server had an error while processing your request.',
        type: 'server_error',
        param: null,
        code: null,
      },
      upstreamRequestId: 'req_upstream_fixture',
    },
    'request.cancelled': {
      type: 'request.cancelled',
      version: 2,
      reason: 'no longer needed',
      cancelledBy: 'tenant',
    },
    'usage.recorded': {
      type: 'usage.recorded',
      version: 3,
      promptTokens: 9,
      cachedTokens: 0,
      completionTokens: 7,
      reasoningTokens: 0,
      totalTokens: 16,
      estimated: false,
      channel: 'sync',
      serviceTier: 'default',
      units: {},
    },
  };
  // Validated, so a fixture that drifts from the schema fails loudly where it is made.
  return validateEvent({ ...bodies[type], ...envelope, ...overrides }) as Extract<SluiceEvent, { type: T }>;
}
