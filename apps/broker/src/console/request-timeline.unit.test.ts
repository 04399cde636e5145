import { type SluiceEvent, upcastEvent } from '@sluice/events';
import { describe, expect, it } from 'vitest';
import { parsePriceTable } from '../billing/prices';
import { buildTimeline } from './request-timeline';

const prices = parsePriceTable({
  models: {
    'gpt-4o-mini': [
      { effectiveFrom: '2024-01-01T00:00:00Z', input: '0.15', cachedInput: '0.075', output: '0.60' },
    ],
  },
});
const base = {
  requestId: 'req_t',
  tenantId: 'ten_a',
  pool: 'default',
  model: 'gpt-4o-mini',
  priority: 'standard' as const,
};
const at = (ms: number) => new Date(Date.UTC(2025, 6, 1, 12, 0, 0) + ms).toISOString();

/** A request's events as the chat-only versions wrote them, read as the store reads them (upcast). */
function story(): SluiceEvent[] {
  return (
    [
      {
        ...base,
        type: 'request.submitted',
        version: 2,
        eventId: 'e0',
        attempt: 0,
        occurredAt: at(0),
        body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'secret prompt' }] },
        stream: false,
        source: 'openai',
        estimate: { promptTokens: 10, maxOutputTokens: 16, tpmCost: 26 },
        idempotencyKey: 'order-42',
        deadline: null,
        cache: null,
        route: 'sync',
      },
      {
        ...base,
        type: 'request.dispatched',
        version: 2,
        eventId: 'e1',
        attempt: 1,
        occurredAt: at(40),
        dispatcherId: 'd1',
        queueWaitMs: 40,
        reservedTokens: 26,
        batch: null,
      },
      {
        ...base,
        type: 'request.retry_scheduled',
        version: 1,
        eventId: 'e2',
        attempt: 1,
        occurredAt: at(140),
        reason: 'rate_limited',
        status: 429,
        message: 'Rate limit reached',
        delayMs: 500,
        retryAt: at(640),
      },
      {
        ...base,
        type: 'request.dispatched',
        version: 2,
        eventId: 'e3',
        attempt: 2,
        occurredAt: at(700),
        dispatcherId: 'd1',
        queueWaitMs: 700,
        reservedTokens: 26,
        batch: null,
      },
      {
        ...base,
        type: 'request.completed',
        version: 2,
        eventId: 'e4',
        attempt: 2,
        occurredAt: at(950),
        response: { id: 'chatcmpl-1', choices: [{ message: { content: 'secret answer' } }] },
        upstreamLatencyMs: 250,
        queueWaitMs: 700,
        upstreamRequestId: 'up_1',
        cache: null,
      },
      {
        ...base,
        type: 'usage.recorded',
        version: 2,
        eventId: 'e5',
        attempt: 2,
        occurredAt: at(950),
        promptTokens: 1_000_000,
        cachedTokens: 0,
        completionTokens: 1_000_000,
        reasoningTokens: 0,
        totalTokens: 2_000_000,
        estimated: false,
        channel: 'sync',
      },
    ] as unknown[]
  ).map(upcastEvent);
}

describe('request timeline', () => {
  it('orders the events with offsets, and says how long each attempt waited and took, and why it was retried', () => {
    // Out of order as given (only events of the same millisecond keep the store's order).
    const events = story();
    const t = buildTimeline([...events.slice(0, 4).reverse(), ...events.slice(4)], prices);
    expect(t.entries.map((e) => [e.type, e.offsetMs])).toEqual([
      ['request.submitted', 0],
      ['request.dispatched', 40],
      ['request.retry_scheduled', 140],
      ['request.dispatched', 700],
      ['request.completed', 950],
      ['usage.recorded', 950],
    ]);
    expect(t.entries[3]?.gapMs).toBe(560);
    expect(t.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        queueWaitMs: 40,
        upstreamLatencyMs: 100,
        outcome: 'retry',
        reason: 'rate_limited',
        status: 429,
        delayMs: 500,
      }),
      expect.objectContaining({ attempt: 2, queueWaitMs: 700, upstreamLatencyMs: 250, outcome: 'completed' }),
    ]);
    expect(t).toMatchObject({ queueWaitMs: 40, upstreamLatencyMs: 250, totalMs: 950, cancellation: null });
  });

  it('prices usage with the price table in force when it was used', () => {
    const t = buildTimeline(story(), prices);
    // 1M prompt tokens at $0.15 and 1M completion tokens at $0.60.
    expect(t.usage).toEqual([
      expect.objectContaining({ attempt: 2, costMicros: 750_000, costUsd: '0.750000' }),
    ]);
    expect(t).toMatchObject({ costMicros: 750_000, fullyPriced: true });
    const unpriced = buildTimeline(
      story().map((e) => ({ ...e, model: 'unknown-model' }) as SluiceEvent),
      prices,
    );
    expect(unpriced).toMatchObject({ costMicros: 0, fullyPriced: false });
    expect(unpriced.usage[0]?.costUsd).toBeNull();
  });

  it('never carries the bodies: prompts and answers are a separate read', () => {
    const text = JSON.stringify(buildTimeline(story(), prices));
    expect(text).not.toContain('secret prompt');
    expect(text).not.toContain('secret answer');
  });

  it('records a cancellation: who, why, and when the request ended', () => {
    const events = story().slice(0, 2);
    events.push(
      upcastEvent({
        ...base,
        type: 'request.cancelled',
        version: 1,
        eventId: 'e9',
        attempt: 0,
        occurredAt: at(90),
        reason: 'cancelled by the tenant',
        cancelledBy: 'tenant',
      }),
    );
    const t = buildTimeline(events, prices);
    expect(t.cancellation).toEqual({ at: at(90), by: 'tenant', reason: 'cancelled by the tenant' });
    expect(t.totalMs).toBe(90);
    expect(t.attempts[0]?.outcome).toBe('in flight');
  });
});
