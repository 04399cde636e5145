import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyUpstreamFailure, decideRetry, defaultRetryPolicy, type UpstreamFailureKind } from './index';

const rateLimitBody = {
  error: {
    message:
      'Rate limit reached for gpt-4o-mini in organization org-x on tokens per min (TPM): Limit 50000, Used 47949, Requested 3006. Please try again in 1.146s.',
    type: 'tokens',
    param: null,
    code: 'rate_limit_exceeded',
  },
};

describe('classifyUpstreamFailure', () => {
  it.each<[string, Parameters<typeof classifyUpstreamFailure>[0], UpstreamFailureKind]>([
    ['a 429 rate limit', { status: 429, body: rateLimitBody }, 'rate_limited'],
    [
      'a 429 insufficient_quota (code)',
      { status: 429, body: { error: { code: 'insufficient_quota', type: 'insufficient_quota' } } },
      'insufficient_quota',
    ],
    [
      'a 429 insufficient_quota (errorCode)',
      { status: 429, errorCode: 'insufficient_quota' },
      'insufficient_quota',
    ],
    [
      'a 429 credit_balance_exhausted',
      { status: 429, body: { error: { code: 'credit_balance_exhausted' } } },
      'insufficient_quota',
    ],
    [
      'a 429 request too large',
      {
        status: 429,
        body: {
          error: {
            message: 'Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 34307.',
            code: 'rate_limit_exceeded',
          },
        },
      },
      'request_too_large',
    ],
    ['a 500', { status: 500 }, 'server_error'],
    ['a 503', { status: 503, body: 'upstream connect error' }, 'server_error'],
    ['a 408', { status: 408 }, 'timeout'],
    ['our own timeout', { timedOut: true }, 'timeout'],
    ['a dropped connection', { connectionError: true }, 'connection'],
    ['a 400', { status: 400, body: { error: { code: 'invalid_request_error' } } }, 'client_error'],
    ['a 401', { status: 401 }, 'client_error'],
    ['a 200 whose body could not be used', { status: 200 }, 'malformed_response'],
  ])('classifies %s', (_name, input, kind) => {
    expect(classifyUpstreamFailure(input)).toBe(kind);
  });
});

describe('decideRetry', () => {
  const policy = { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 8_000 };

  it.each<UpstreamFailureKind>(['insufficient_quota', 'request_too_large', 'client_error'])(
    'never retries %s and does not dead-letter it',
    (kind) => {
      const d = decideRetry({ attempt: 1, kind, policy, random: () => 0.5 });
      expect(d).toMatchObject({ action: 'fail', deadLetter: false, reason: kind });
    },
  );

  it('given the last attempt failed retriably, then it goes to the dead-letter topic', () => {
    const d = decideRetry({ attempt: 5, kind: 'server_error', policy, random: () => 0.5 });
    expect(d).toMatchObject({ action: 'fail', deadLetter: true, reason: 'server_error' });
    if (d.action === 'fail') expect(d.message).toContain('5 attempts');
  });

  it('backs off exponentially with full jitter', () => {
    expect(decideRetry({ attempt: 1, kind: 'server_error', policy, random: () => 0.999 })).toMatchObject({
      action: 'retry',
      delayMs: 499,
    });
    expect(decideRetry({ attempt: 3, kind: 'timeout', policy, random: () => 0.5 })).toMatchObject({
      delayMs: 1_000,
    });
    expect(decideRetry({ attempt: 4, kind: 'connection', policy, random: () => 0 })).toMatchObject({
      delayMs: 0,
    });
  });

  it('honours retry-after as the least wait', () => {
    const d = decideRetry({ attempt: 1, kind: 'rate_limited', retryAfterMs: 1_146, policy, random: () => 0 });
    expect(d).toEqual({ action: 'retry', delayMs: 1_146, reason: 'rate_limited' });
  });

  it('property: every retry waits at least retry-after and at most max(cap, retry-after)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: defaultRetryPolicy.maxAttempts - 1 }),
        fc.constantFrom<UpstreamFailureKind>('rate_limited', 'server_error', 'timeout', 'connection'),
        fc.option(fc.integer({ min: 0, max: 120_000 }), { nil: undefined }),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        (attempt, kind, retryAfterMs, r) => {
          const d = decideRetry({
            attempt,
            kind,
            random: () => r,
            ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
          });
          if (d.action !== 'retry') return false;
          const cap = Math.min(
            defaultRetryPolicy.maxDelayMs,
            defaultRetryPolicy.baseDelayMs * 2 ** (attempt - 1),
          );
          return d.delayMs >= (retryAfterMs ?? 0) && d.delayMs <= Math.max(cap, retryAfterMs ?? 0);
        },
      ),
    );
  });
});
