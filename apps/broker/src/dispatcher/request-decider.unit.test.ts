import type { SluiceEvent } from '@sluice/events';
import { makeSubmittedEvent } from '@sluice/events/testing';
import { describe, expect, it } from 'vitest';
import { type DispatchFact, type DispatchState, decide, evolveAll, initialState } from './request-decider';

// Given / when / then: the state a request is in, a fact, and the events and next step decided.
const T0 = Date.parse('2026-12-01T10:00:00Z');
const ok = { ok: true as const };
const submitted = makeSubmittedEvent({ requestId: 'req_decider', occurredAt: new Date(T0).toISOString() });
const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
  usage: {
    prompt_tokens: 9,
    completion_tokens: 2,
    total_tokens: 11,
    prompt_tokens_details: { cached_tokens: 4 },
  },
  service_tier: 'default',
};

function given(events: SluiceEvent[] = [], s = submitted): DispatchState {
  return evolveAll(initialState(s, undefined), events);
}

const delivered = (over: Partial<Extract<DispatchFact, { type: 'delivered' }>> = {}): DispatchFact => ({
  type: 'delivered',
  recorded: undefined,
  carriedByBatch: false,
  admission: ok,
  at: T0,
  ...over,
});

const sent = (at = T0 + 10): DispatchFact => ({
  type: 'sent',
  at,
  dispatcherId: 'd1',
  queueWaitMs: 10,
  reservedTokens: 25,
  batch: null,
});

const failed = (
  status: number | undefined,
  over: Partial<Extract<DispatchFact, { type: 'attempt_failed' }>> = {},
) =>
  ({
    type: 'attempt_failed',
    at: T0 + 100,
    failure: status === undefined ? { connectionError: true } : { status },
    message: `status ${status}`,
    upstreamError: status
      ? { message: 'nope', type: 'invalid_request_error', param: 'x', code: 'bad' }
      : null,
    upstreamRequestId: 'req_up',
    channel: 'sync',
    jitter: 0.5,
    policy: { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 30_000 },
    ...over,
  }) as DispatchFact;

describe('request decider: delivery', () => {
  it('queues a new request as attempt 1, recording nothing yet', () => {
    const state = given();
    expect(state.attempt).toBe(1);
    expect(decide(state, delivered())).toEqual({ events: [], next: { kind: 'queue' } });
  });

  it('ignores a redelivery whose outcome is recorded, or whose attempt a stored batch carries', () => {
    const recorded = { status: 'completed', attempts: 1 };
    expect(decide(initialState(submitted, recorded), delivered({ recorded })).next).toEqual({
      kind: 'ignore',
    });
    const inBatch = { status: 'dispatched', attempts: 2 };
    expect(
      decide(initialState(submitted, inBatch), delivered({ recorded: inBatch, carriedByBatch: true })).next,
    ).toEqual({ kind: 'ignore' });
  });

  it('retries an attempt lost with a dead dispatcher as the next attempt, never the same one', () => {
    const recorded = { status: 'dispatched', attempts: 2 };
    const state = initialState(submitted, recorded);
    const { events, next } = decide(state, delivered({ recorded }));
    expect(events).toMatchObject([
      { type: 'request.retry_scheduled', attempt: 2, reason: 'dispatcher_lost' },
    ]);
    expect(next).toEqual({ kind: 'queue' });
    expect(evolveAll(state, events).attempt).toBe(3);
  });

  it('ends a streamed request whose relaying dispatcher died: its caller was told, nobody waits for a new attempt', () => {
    const recorded = { status: 'dispatched', attempts: 1 };
    const streamed = makeSubmittedEvent({
      requestId: 'req_streamed',
      stream: true,
      replyTo: { url: 'http://127.0.0.1:8080' },
    });
    const { events, next } = decide(initialState(streamed, recorded), delivered({ recorded }));
    expect(events).toMatchObject([{ type: 'request.failed', attempt: 1, reason: 'stream_interrupted' }]);
    expect(next).toEqual({ kind: 'done', deadLetter: null });
  });

  it('cancels a request whose deadline passed before dispatch', () => {
    const late = makeSubmittedEvent({ deadline: new Date(T0 - 1).toISOString() });
    const { events, next } = decide(given([], late), delivered());
    expect(events).toMatchObject([{ type: 'request.cancelled', cancelledBy: 'deadline', attempt: 0 }]);
    expect(next).toEqual({ kind: 'done', deadLetter: null });
  });

  it('fails a request the limiter can never fit, and sends Batch API requests to the batch path', () => {
    const refused = decide(
      given(),
      delivered({ admission: { ok: false, reason: 'exceeds_bucket', message: 'too big' } }),
    );
    expect(refused.events).toMatchObject([{ type: 'request.failed', reason: 'exceeds_bucket', status: 400 }]);
    const batch = makeSubmittedEvent({ route: 'batch_api' });
    expect(decide(given([], batch), delivered()).next).toEqual({ kind: 'batch' });
  });
});

describe('request decider: an attempt', () => {
  it('records the dispatch, then completion and usage from the answer (cached and tier included)', () => {
    const d = decide(given(), sent());
    expect(d.events).toMatchObject([
      { type: 'request.dispatched', attempt: 1, dispatcherId: 'd1', endpoint: '/v1/chat/completions' },
    ]);
    const inFlight = given(d.events);
    expect(inFlight.phase).toBe('in_flight');
    const answered = decide(inFlight, {
      type: 'answered',
      at: T0 + 200,
      result: completion,
      upstreamLatencyMs: 190,
      queueWaitMs: 10,
      upstreamRequestId: 'req_up',
      upstreamProcessingMs: 150,
      channel: 'sync',
    });
    expect(answered.next).toEqual({ kind: 'done', deadLetter: null });
    expect(answered.events).toMatchObject([
      { type: 'request.completed', attempt: 1, upstreamRequestId: 'req_up', upstreamProcessingMs: 150 },
      {
        type: 'usage.recorded',
        promptTokens: 9,
        cachedTokens: 4,
        completionTokens: 2,
        serviceTier: 'default',
        estimated: false,
        channel: 'sync',
      },
    ]);
  });

  it('bills the estimate, marked so, when the upstream reported no usage', () => {
    const { usage: _usage, ...noUsage } = completion;
    const { events } = decide(given(), {
      type: 'answered',
      at: T0,
      result: noUsage,
      upstreamLatencyMs: 1,
      queueWaitMs: 0,
      upstreamRequestId: null,
      upstreamProcessingMs: null,
      channel: 'batch',
    });
    expect(events[1]).toMatchObject({
      promptTokens: submitted.estimate.promptTokens,
      completionTokens: submitted.estimate.maxOutputTokens,
      estimated: true,
      channel: 'batch',
    });
  });

  it("treats an answer that is not the endpoint's result as malformed, and retries it", () => {
    const { events, next } = decide(given(), {
      type: 'answered',
      at: T0,
      result: { object: 'list', data: [] },
      upstreamLatencyMs: 1,
      queueWaitMs: 0,
      upstreamRequestId: null,
      upstreamProcessingMs: null,
      channel: 'sync',
    });
    expect(events).toMatchObject([{ type: 'request.retry_scheduled', reason: 'malformed_response' }]);
    expect(next.kind).toBe('retry');
  });

  it('retries a 429 with backoff never shorter than retry-after, as the next attempt', () => {
    const state = given();
    const { events, next } = decide(state, failed(429, { retryAfterMs: 20_000 }));
    expect(events).toMatchObject([
      { type: 'request.retry_scheduled', attempt: 1, reason: 'rate_limited', delayMs: 20_000 },
    ]);
    expect(next).toEqual({ kind: 'retry', notBefore: T0 + 100 + 20_000 });
    expect(evolveAll(state, events).attempt).toBe(2);
  });

  it('retries a failed batch line at once: the next batch is the backoff', () => {
    expect(decide(given(), failed(500, { channel: 'batch' })).next).toEqual({
      kind: 'retry',
      notBefore: T0 + 100,
    });
  });

  it("fails an upstream 4xx at once, keeping the upstream's own error for the caller", () => {
    const { events, next } = decide(given(), failed(400));
    expect(events).toMatchObject([
      {
        type: 'request.failed',
        status: 400,
        reason: 'client_error',
        deadLettered: false,
        upstreamError: { message: 'nope', param: 'x', code: 'bad' },
        upstreamRequestId: 'req_up',
      },
    ]);
    expect(next).toMatchObject({ kind: 'done', deadLetter: null, failure: 'client_error' });
  });

  it('dead-letters the last failed attempt', () => {
    const third = given([
      { type: 'request.retry_scheduled', attempt: 1 } as SluiceEvent,
      { type: 'request.retry_scheduled', attempt: 2 } as SluiceEvent,
    ]);
    expect(third.attempt).toBe(3);
    const { events, next } = decide(third, failed(undefined));
    expect(events).toMatchObject([{ type: 'request.failed', deadLettered: true, attempt: 3 }]);
    expect(next).toMatchObject({
      kind: 'done',
      deadLetter: { reason: expect.stringMatching(/^connection: gave up after 3/) },
    });
  });
});

describe('request decider: a stream broken after its first chunk', () => {
  const inFlight = () => given(decide(given(), sent()).events);
  const broken = (cause: 'caller' | 'upstream'): Extract<DispatchFact, { type: 'stream_broken' }> => ({
    type: 'stream_broken',
    at: T0 + 500,
    cause,
    message: 'connection reset',
    completionTokens: 7,
    upstreamRequestId: 'req_up',
  });

  it('cancels when the caller left, billing the prompt and what was streamed, estimated', () => {
    const { events, next } = decide(inFlight(), broken('caller'));
    expect(events).toMatchObject([
      { type: 'request.cancelled', attempt: 1, cancelledBy: 'tenant' },
      {
        type: 'usage.recorded',
        attempt: 1,
        promptTokens: 9,
        completionTokens: 7,
        totalTokens: 16,
        estimated: true,
      },
    ]);
    expect(next).toEqual({ kind: 'done', deadLetter: null });
  });

  it("fails with the upstream's error and billed usage when the stream ended in a failed answer", () => {
    const result = {
      status: 'failed',
      usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
      error: { code: 'server_error', message: 'The model failed' },
    };
    const error = { message: 'The model failed', type: 'server_error', param: null, code: 'server_error' };
    const { events, next } = decide(inFlight(), {
      ...broken('upstream'),
      message: 'The model failed',
      final: { result, status: 500, error },
    });
    expect(events).toMatchObject([
      {
        type: 'request.failed',
        reason: 'server_error',
        status: 500,
        upstreamError: error,
        deadLettered: false,
      },
      { type: 'usage.recorded', attempt: 1, promptTokens: 12, completionTokens: 5, estimated: false },
    ]);
    expect(next).toEqual({ kind: 'done', deadLetter: null });
  });

  it('fails without a retry when the upstream broke it: the caller already had chunks', () => {
    const { events, next } = decide(inFlight(), broken('upstream'));
    expect(events).toMatchObject([
      { type: 'request.failed', attempt: 1, reason: 'stream_interrupted', upstreamRequestId: 'req_up' },
      { type: 'usage.recorded', attempt: 1, completionTokens: 7, estimated: true },
    ]);
    expect(next).toEqual({ kind: 'done', deadLetter: null });
  });
});
