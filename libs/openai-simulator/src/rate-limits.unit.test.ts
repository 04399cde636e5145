import { describe, expect, it } from 'vitest';
import { chargedTokens, createRateLimitEngine, formatGoDuration } from './rate-limits';

describe('rate-limit engine', () => {
  it('continuous: a burst of RPM+1 requests gets exactly one 429, and capacity refills continuously', () => {
    const engine = createRateLimitEngine({ enforcement: 'continuous' });
    const limits = { rpm: 60, tpm: 1_000_000 };
    const verdicts = Array.from({ length: 61 }, () => engine.check('k', limits, 10, 0));
    expect(verdicts.filter((v) => v.ok)).toHaveLength(60);
    const denied = verdicts[60]!;
    expect(denied.ok).toBe(false);
    if (!denied.ok) {
      expect(denied.reason).toBe('requests');
      expect(denied.retryAfterMs).toBe(1_000);
    }
    expect(engine.check('k', limits, 10, 999).ok).toBe(false);
    expect(engine.check('k', limits, 10, 1_000).ok).toBe(true);
  });

  it('continuous: tokens bind on TPM, and a request larger than the whole limit is "too large"', () => {
    const engine = createRateLimitEngine({ enforcement: 'continuous' });
    const limits = { rpm: 1_000, tpm: 1_000 };
    expect(engine.check('k', limits, 600, 0).ok).toBe(true);
    const v = engine.check('k', limits, 600, 0);
    expect(!v.ok && v.reason).toBe('tokens');
    const big = engine.check('k2', limits, 1_001, 0);
    expect(!big.ok && big.reason).toBe('too_large');
  });

  it('quantized: one-second windows of limit/60, no carry-over', () => {
    const engine = createRateLimitEngine({ enforcement: 'quantized' });
    const limits = { rpm: 600, tpm: 1_000_000 };
    const first = Array.from({ length: 11 }, () => engine.check('k', limits, 1, 100));
    expect(first.filter((v) => v.ok)).toHaveLength(10);
    // The per-minute headers still show plenty left: a client trusting them alone gets 429s.
    expect(first[10]!.headers.remainingRequests).toBeGreaterThan(500);
    expect(engine.check('k', limits, 1, 1_000).ok).toBe(true);
  });

  it('keeps keys and models apart', () => {
    const engine = createRateLimitEngine({ enforcement: 'continuous' });
    const limits = { rpm: 1, tpm: 1_000 };
    expect(engine.check('a', limits, 1, 0).ok).toBe(true);
    expect(engine.check('b', limits, 1, 0).ok).toBe(true);
    expect(engine.check('a', limits, 1, 0).ok).toBe(false);
  });

  it('writes reset times as Go durations and charges ~chars/4 plus max_tokens', () => {
    expect(formatGoDuration(20)).toBe('20ms');
    expect(formatGoDuration(1_000)).toBe('1s');
    expect(formatGoDuration(90_500)).toBe('1m30.5s');
    expect(formatGoDuration(360_000)).toBe('6m0s');
    const messages = [{ role: 'user', content: 'x'.repeat(100) }];
    expect(chargedTokens({ messages, max_tokens: 50 }, 4096)).toBe(
      Math.ceil(JSON.stringify(messages).length / 4) + 50,
    );
    expect(chargedTokens({ messages, n: 2 }, 100)).toBe(Math.ceil(JSON.stringify(messages).length / 4) + 200);
  });
});
