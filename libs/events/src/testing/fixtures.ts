import { eventIdFor, type RequestSubmitted, type SluiceEvent, type UsageRecorded } from '../events';

let counter = 0;

/** A valid `request.submitted`, with overrides. */
export function makeSubmittedEvent(overrides: Partial<RequestSubmitted> = {}): RequestSubmitted {
  const requestId = overrides.requestId ?? `req_fixture${Date.now().toString(36)}${(counter++).toString(36)}`;
  return {
    type: 'request.submitted',
    version: 1,
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
    ...overrides,
  };
}

/** A valid `usage.recorded` for a submitted request. */
export function makeUsageEvent(
  submitted: RequestSubmitted,
  attempt = 1,
  overrides: Partial<UsageRecorded> = {},
): UsageRecorded {
  return {
    type: 'usage.recorded',
    version: 2,
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
    ...overrides,
  };
}

export type { SluiceEvent };
