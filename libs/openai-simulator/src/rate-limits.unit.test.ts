import { describe, expect, it } from 'vitest';
import {
  chargedTokens,
  createRateLimitEngine,
  enforcementFamily,
  formatGoDuration,
  parseEnforcement,
} from './rate-limits';

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
    expect(first[10]!.headers?.remainingRequests).toBeGreaterThan(500);
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

  it('bucket of one second: a burst gets limit/60, then it refills at limit/minute, never more than its capacity', () => {
    const engine = createRateLimitEngine({ enforcement: { kind: 'bucket', capacityMs: 1_000 } });
    const limits = { rpm: 100_000, tpm: 60_000 };
    // 1,000 tokens of capacity: ten 100-token requests, the eleventh waits 100 ms.
    const burst = Array.from({ length: 11 }, () => engine.check('k', limits, 100, 0));
    expect(burst.filter((v) => v.ok)).toHaveLength(10);
    const denied = burst[10]!;
    expect(!denied.ok && denied.retryAfterMs).toBe(100);
    // Headers describe the enforced bucket: nothing left, 1 s to refill.
    expect(denied.headers).toMatchObject({ remainingTokens: 0, resetTokensMs: 1_000, limitTokens: 60_000 });
    expect(engine.check('k', limits, 100, 99).ok).toBe(false);
    expect(engine.check('k', limits, 100, 100).ok).toBe(true);
    // A long idle refills only to the capacity.
    const later = Array.from({ length: 12 }, () => engine.check('k', limits, 100, 60_000));
    expect(later.filter((v) => v.ok)).toHaveLength(10);
    // A request bigger than the bucket goes when the bucket is full.
    expect(engine.check('k2', limits, 1_500, 0).ok).toBe(true);
    expect(engine.check('k2', limits, 1, 0).ok).toBe(false);
  });

  it('windows of 2 s: each allows limit × 2/60, no carry-over; headers describe the minute', () => {
    const engine = createRateLimitEngine({ enforcement: { kind: 'windows', windowMs: 2_000 } });
    const limits = { rpm: 600, tpm: 1_000_000 };
    const first = Array.from({ length: 21 }, () => engine.check('k', limits, 1, 2_100));
    expect(first.filter((v) => v.ok)).toHaveLength(20);
    const denied = first[20]!;
    expect(!denied.ok && denied.retryAfterMs).toBe(1_900);
    expect(denied.headers?.remainingRequests).toBe(580);
    expect(engine.check('k', limits, 1, 3_999).ok).toBe(false);
    expect(engine.check('k', limits, 1, 4_000).ok).toBe(true);
  });

  it('parses and names enforcement families; the historic names are a minute bucket and 1 s windows', () => {
    expect(enforcementFamily('continuous')).toEqual({ kind: 'bucket', capacityMs: 60_000 });
    expect(enforcementFamily('quantized')).toEqual({ kind: 'windows', windowMs: 1_000 });
    expect(parseEnforcement('bucket:250')).toEqual({ kind: 'bucket', capacityMs: 250 });
    expect(parseEnforcement('windows:5000')).toEqual({ kind: 'windows', windowMs: 5_000 });
    expect(() => parseEnforcement('bucket:0')).toThrow(/capacityMs/);
    expect(() => parseEnforcement('leaky')).toThrow(/bucket:<ms>/);
  });

  it('lagging headers show remaining as it was headerLagMs ago; dropped headers are absent', () => {
    const engine = createRateLimitEngine({ enforcement: 'continuous', headerLagMs: 500 });
    const limits = { rpm: 60, tpm: 1_000_000 };
    const first = engine.check('k', limits, 1, 0);
    expect(first.ok && first.headers?.remainingRequests).toBe(59);
    for (let t = 100; t <= 400; t += 100) engine.check('k', limits, 1, t);
    // At 600 ms the newest values at least 500 ms old are those of t = 100 (58.1 left then), not now's 54.6.
    const lagged = engine.check('k', limits, 1, 600);
    expect(lagged.headers?.remainingRequests).toBe(58);
    let draws = 0;
    const dropping = createRateLimitEngine({
      enforcement: 'continuous',
      headerDropRate: 0.5,
      random: () => (draws++ % 2 === 0 ? 0.1 : 0.9),
    });
    expect(dropping.check('k', limits, 1, 0).headers).toBeUndefined();
    expect(dropping.check('k', limits, 1, 0).headers).toBeDefined();
  });

  it('daily limits refuse with period "day" once the day\'s tokens are spent, whatever the minute allows', () => {
    const engine = createRateLimitEngine({ enforcement: 'continuous' });
    const limits = { rpm: 600, tpm: 100_000, tpd: 1_000 };
    expect(engine.check('k', limits, 600, 0).ok).toBe(true);
    const v = engine.check('k', limits, 600, 1_000);
    expect(v).toMatchObject({ ok: false, reason: 'tokens', period: 'day', limit: 1_000 });
    // 200 more tokens refill in 200/1000 of a day.
    expect(!v.ok && v.retryAfterMs).toBeGreaterThan(0.19 * 86_400_000);
  });

  it('a limit raised mid-run (a tier upgrade) is enforced from the next request', () => {
    const engine = createRateLimitEngine({ enforcement: 'continuous' });
    for (let i = 0; i < 60; i++) engine.check('k', { rpm: 60, tpm: 1e6 }, 1, 0);
    expect(engine.check('k', { rpm: 60, tpm: 1e6 }, 1, 0).ok).toBe(false);
    // Twice the limit refills twice as fast.
    expect(engine.check('k', { rpm: 120, tpm: 1e6 }, 1, 500).ok).toBe(true);
    const after = engine.check('k', { rpm: 120, tpm: 1e6 }, 1, 500);
    expect(after.ok).toBe(false);
  });
});
