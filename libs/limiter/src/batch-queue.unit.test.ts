import { describe, expect, it } from 'vitest';
import { createBatchQueueBudget, parseBatchQueueLimit, takeWithinAllowance } from './index';

const T0 = 1_700_000_000_000;

describe('parseBatchQueueLimit', () => {
  it.each([
    [
      'Enqueued token limit reached for gpt-4o-mini in organization org-x. Limit: 90,000 enqueued tokens.',
      90_000,
    ],
    ['token_limit_exceeded: limit 2000000', 2_000_000],
    ['Limit:1500', 1_500],
  ])('reads the limit of %s', (message, limit) => {
    expect(parseBatchQueueLimit(message)).toBe(limit);
  });

  it('says nothing when the message names no number', () => {
    expect(parseBatchQueueLimit('Enqueued token limit reached.')).toBeUndefined();
    expect(parseBatchQueueLimit('Limit: 0 tokens')).toBeUndefined();
  });
});

describe('batch queue budget', () => {
  it('given no configured or learned limit, a batch may carry any number of tokens', () => {
    const b = createBatchQueueBudget();
    expect(b.allowance('p', 'gpt-4o-mini', T0)).toEqual({ ok: true, tokens: Number.POSITIVE_INFINITY });
  });

  it('given a configured limit, reserved batches use it up and released ones give it back', () => {
    const b = createBatchQueueBudget({ limits: { p: { '*': 10_000 } } });
    b.reserve('b1', 'p', 'gpt-4o-mini', 6_000);
    expect(b.allowance('p', 'gpt-4o-mini', T0)).toEqual({ ok: true, tokens: 4_000 });
    b.reserve('b2', 'p', 'gpt-4o-mini', 4_000);
    expect(b.allowance('p', 'gpt-4o-mini', T0)).toEqual({ ok: false, reason: 'queue_full' });
    // another model has its own queue
    expect(b.allowance('p', 'gpt-4o', T0)).toEqual({ ok: true, tokens: 10_000 });
    b.release('b1');
    expect(b.allowance('p', 'gpt-4o-mini', T0)).toEqual({ ok: true, tokens: 6_000 });
  });

  it('reserves and releases each batch once, however often it is reported', () => {
    const b = createBatchQueueBudget({ limits: { p: { m: 10_000 } } });
    b.reserve('b1', 'p', 'm', 3_000);
    b.reserve('b1', 'p', 'm', 3_000); // found again by a poller after a restart
    expect(b.allowance('p', 'm', T0)).toEqual({ ok: true, tokens: 7_000 });
    b.release('b1');
    b.release('b1');
    expect(b.allowance('p', 'm', T0)).toEqual({ ok: true, tokens: 10_000 });
  });

  it('when a batch is refused with a limit in the message, then that limit applies', () => {
    const b = createBatchQueueBudget();
    b.onLimitExceeded('p', 'm', 'Enqueued token limit reached for m. Limit: 5,000 enqueued tokens.', T0);
    b.reserve('b1', 'p', 'm', 2_000);
    expect(b.allowance('p', 'm', T0)).toEqual({ ok: true, tokens: 3_000 });
    expect(b.snapshot(T0)).toEqual([
      {
        pool: 'p',
        model: 'm',
        enqueuedTokens: 2_000,
        limitTokens: 5_000,
        limitSource: 'learned',
        batches: 1,
        backoffUntil: null,
      },
    ]);
  });

  it('a learned limit lower than the configured one wins', () => {
    const b = createBatchQueueBudget({ limits: { p: { m: 10_000 } } });
    b.onLimitExceeded('p', 'm', 'Limit: 4000', T0);
    expect(b.allowance('p', 'm', T0)).toEqual({ ok: true, tokens: 4_000 });
  });

  it('when a refusal names no limit, then new batches back off, longer each time', () => {
    const b = createBatchQueueBudget({ backoffMs: 1_000, maxBackoffMs: 3_000 });
    b.onLimitExceeded('p', 'm', 'Enqueued token limit reached.', T0);
    expect(b.allowance('p', 'm', T0 + 999)).toEqual({
      ok: false,
      reason: 'backing_off',
      retryAt: T0 + 1_000,
    });
    expect(b.allowance('p', 'm', T0 + 1_000).ok).toBe(true);
    b.onLimitExceeded('p', 'm', 'again', T0 + 1_000);
    expect(b.allowance('p', 'm', T0 + 2_999)).toMatchObject({ ok: false, retryAt: T0 + 3_000 });
    b.onLimitExceeded('p', 'm', 'and again', T0 + 3_000);
    expect(b.allowance('p', 'm', T0 + 3_000)).toMatchObject({ ok: false, retryAt: T0 + 6_000 }); // capped
  });
});

describe('takeWithinAllowance', () => {
  it('takes the requests, in order, that fit', () => {
    expect(takeWithinAllowance([100, 200, 300, 50], 350, false)).toBe(2);
    expect(takeWithinAllowance([100, 200], Number.POSITIVE_INFINITY, false)).toBe(2);
  });
  it('sends a request larger than the whole limit alone when nothing else is enqueued', () => {
    expect(takeWithinAllowance([500, 10], 100, true)).toBe(1);
    expect(takeWithinAllowance([500, 10], 100, false)).toBe(0);
    expect(takeWithinAllowance([], 100, true)).toBe(0);
  });
});
