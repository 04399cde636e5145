import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseGoDuration, parseRateLimitHeaders } from './index';
import { formatGoDuration } from './testing/index';

describe('parseGoDuration', () => {
  it.each([
    ['1s', 1_000],
    ['6m0s', 360_000],
    ['20ms', 20],
    ['1m30.5s', 90_500],
    ['2h3m', 7_380_000],
    ['1.5s', 1_500],
    ['0s', 0],
    ['1h0m0s', 3_600_000],
    ['500us', 0.5],
    ['250µs', 0.25],
    ['1000000ns', 1],
    [' 7s ', 7_000],
    ['3', 3_000],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each(['', 'abc', '1x', 's1', '1s garbage', '-1s', '1..5s'])('refuses %j', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });

  it('property: reads back every duration the upstream model writes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7_200_000 }), (ms) => {
        const back = parseGoDuration(formatGoDuration(ms));
        return back !== undefined && Math.abs(back - ms) <= 1;
      }),
    );
  });
});

describe('parseRateLimitHeaders', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);

  it('given all OpenAI headers (any case), then every field is read', () => {
    const h = parseRateLimitHeaders(
      {
        'X-RateLimit-Limit-Requests': '500',
        'x-ratelimit-limit-tokens': '200000',
        'x-ratelimit-remaining-requests': '499',
        'x-ratelimit-remaining-tokens': '199000',
        'x-ratelimit-reset-requests': '120ms',
        'x-ratelimit-reset-tokens': '1m30.5s',
      },
      now,
    );
    expect(h).toEqual({
      limitRequests: 500,
      limitTokens: 200_000,
      remainingRequests: 499,
      remainingTokens: 199_000,
      resetRequestsMs: 120,
      resetTokensMs: 90_500,
    });
  });

  it('reads a fetch Headers object too', () => {
    const headers = new Headers({ 'x-ratelimit-limit-tokens': '1000', 'retry-after': '2' });
    expect(parseRateLimitHeaders(headers, now)).toEqual({ limitTokens: 1_000, retryAfterMs: 2_000 });
  });

  it('prefers retry-after-ms over retry-after', () => {
    expect(parseRateLimitHeaders({ 'retry-after-ms': '1146', 'retry-after': '2' }, now).retryAfterMs).toBe(
      1_146,
    );
  });

  it('reads retry-after as fractional seconds', () => {
    expect(parseRateLimitHeaders({ 'retry-after': '0.5' }, now).retryAfterMs).toBe(500);
  });

  it('reads retry-after as an HTTP date relative to now, never negative', () => {
    const later = new Date(now + 30_000).toUTCString();
    expect(parseRateLimitHeaders({ 'retry-after': later }, now).retryAfterMs).toBe(30_000);
    const past = new Date(now - 30_000).toUTCString();
    expect(parseRateLimitHeaders({ 'retry-after': past }, now).retryAfterMs).toBe(0);
  });

  it('given missing or malformed values, then those fields are absent (never NaN)', () => {
    const h = parseRateLimitHeaders(
      {
        'x-ratelimit-limit-requests': 'lots',
        'x-ratelimit-remaining-tokens': '-5',
        'x-ratelimit-reset-tokens': 'soon',
        'retry-after': 'whenever',
        'x-ratelimit-limit-tokens': undefined,
      },
      now,
    );
    expect(h).toEqual({});
  });
});
