import { makeSubmittedEvent } from '@sluice/events/testing';
import { type Dispatch, type Limiter, parseRateLimitHeaders } from '@sluice/limiter';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger';
import { createMetrics } from '../metrics';
import { type AttemptEnd, reportAttempt } from './attempt-feedback';

const s = makeSubmittedEvent({ requestId: 'req_feedback' });
const d = {
  request: { id: s.requestId },
  reservation: { id: s.requestId, pool: s.pool, model: s.model, tokens: 40 },
} as unknown as Dispatch;
const limitHeaders = new Headers({
  'x-ratelimit-limit-tokens': '60000',
  'x-ratelimit-remaining-tokens': '59000',
  'retry-after-ms': '1500',
});

/** The limiter's feedback calls, in order. */
function reported(end: AttemptEnd) {
  const calls: Array<[string, ...unknown[]]> = [];
  const limiter = {
    onResponse: (_r: unknown, response: unknown) => calls.push(['onResponse', response]),
    onNoResponse: () => calls.push(['onNoResponse']),
  } as unknown as Limiter;
  const metrics = createMetrics();
  reportAttempt({ limiter, metrics }, d, s, end, { dispatchedAt: 0, now: 100 }, createLogger('silent'));
  return { calls, metrics };
}

const usage = {
  type: 'usage.recorded',
  promptTokens: 9,
  cachedTokens: 0,
  completionTokens: 2,
  reasoningTokens: 0,
  totalTokens: 11,
};

describe('reportAttempt: what one attempt tells the limiter, once', () => {
  it('an answer: its headers and its actual usage', () => {
    const { calls } = reported({
      kind: 'answered',
      status: 200,
      headers: limitHeaders,
      events: [usage as never],
    });
    expect(calls).toEqual([
      ['onResponse', expect.objectContaining({ status: 200, actualTokens: 11, headers: expect.any(Object) })],
    ]);
    expect((calls[0]![1] as { headers: { limitTokens: number } }).headers.limitTokens).toBe(60_000);
  });

  it('a 429: its headers and the message naming the limit (a daily one is learned from it); counted as a 429', async () => {
    const { calls, metrics } = reported({
      kind: 'failed',
      status: 429,
      headers: parseRateLimitHeaders(limitHeaders, 100),
      message: 'Rate limit reached for gpt-4o-mini on tokens per day (TPD): Limit 90000',
      flexUnavailable: false,
      events: [],
      next: { kind: 'retry', notBefore: 1_600 } as never,
    });
    expect(calls).toEqual([
      ['onResponse', expect.objectContaining({ status: 429, message: expect.stringMatching(/per day/) })],
    ]);
    expect(calls[0]![1]).not.toHaveProperty('actualTokens');
    expect(await metrics.registry.getSingleMetricAsString('sluice_upstream_429_total')).toMatch(/ 1$/m);
  });

  it('flex without capacity, or a failure with no answer, teaches the limiter nothing about the limits', () => {
    const flex = reported({
      kind: 'failed',
      status: 429,
      headers: parseRateLimitHeaders(limitHeaders, 100),
      message: 'Resource unavailable',
      flexUnavailable: true,
      events: [],
      next: { kind: 'retry', notBefore: 1_600 } as never,
    });
    const dropped = reported({
      kind: 'failed',
      status: undefined,
      headers: undefined,
      message: undefined,
      flexUnavailable: false,
      events: [],
      next: { kind: 'done' } as never,
    });
    expect(flex.calls).toEqual([['onNoResponse']]);
    expect(dropped.calls).toEqual([['onNoResponse']]);
  });
});
