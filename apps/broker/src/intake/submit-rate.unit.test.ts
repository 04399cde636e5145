import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../env';
import {
  createSubmitRateLimiter,
  DEFAULT_SUBMIT_RATE,
  refill,
  type TokenBucket,
  takeToken,
} from './submit-rate';

const limit = { ratePerSecond: 10, burst: 20 };

describe('per-tenant submit rate (token bucket, simulated time)', () => {
  it('given an idle tenant, when it submits a burst, then exactly `burst` are allowed', () => {
    let now = 1_000_000;
    const limiter = createSubmitRateLimiter(limit, () => now);
    const allowed = Array.from({ length: 30 }, () => limiter.take('t1').allowed).filter(Boolean).length;
    expect(allowed).toBe(20);
    now += 0; // same instant: still refused
    expect(limiter.take('t1').allowed).toBe(false);
  });

  it('given an empty bucket, then the refusal says when the next token arrives, and it does', () => {
    let now = 0;
    const limiter = createSubmitRateLimiter(limit, () => now);
    for (let i = 0; i < 20; i++) limiter.take('t1');
    const refused = limiter.take('t1');
    expect(refused).toEqual({ allowed: false, retryAfterMs: 100 });
    now += 99;
    expect(limiter.take('t1').allowed).toBe(false);
    now += 1;
    expect(limiter.take('t1').allowed).toBe(true);
    expect(limiter.take('t1').allowed).toBe(false);
  });

  it('keeps tenants apart: one tenant exhausting its bucket does not refuse another', () => {
    const now = 0;
    const limiter = createSubmitRateLimiter(limit, () => now);
    for (let i = 0; i < 25; i++) limiter.take('noisy');
    expect(limiter.take('noisy').allowed).toBe(false);
    expect(limiter.take('quiet').allowed).toBe(true);
  });

  it('refills at the sustained rate and never beyond the burst', () => {
    const bucket: TokenBucket = { tokens: 0, updatedAt: 0 };
    expect(refill(bucket, 500, limit).tokens).toBe(5);
    expect(refill(bucket, 60_000, limit).tokens).toBe(20);
    // A clock going backwards refills nothing and does not move the bucket back.
    expect(refill({ tokens: 3, updatedAt: 1_000 }, 500, limit)).toEqual({ tokens: 3, updatedAt: 1_000 });
  });

  it('refuses invalid limits', () => {
    expect(() => createSubmitRateLimiter({ ratePerSecond: 0, burst: 10 })).toThrow(RangeError);
    expect(() => createSubmitRateLimiter({ ratePerSecond: 10, burst: 0 })).toThrow(RangeError);
  });

  it('forgets idle (full) buckets when many tenants were seen', () => {
    let now = 0;
    const limiter = createSubmitRateLimiter(limit, () => now);
    for (let i = 0; i < 10_001; i++) limiter.take(`t${i}`);
    expect(limiter.size()).toBe(10_001);
    now += 10_000; // everyone refilled
    limiter.take('late');
    expect(limiter.size()).toBeLessThanOrEqual(1);
  });

  it('property: over any window, allowed submits <= burst + rate * elapsed', () => {
    fc.assert(
      fc.property(
        fc.record({
          ratePerSecond: fc.integer({ min: 1, max: 1_000 }),
          burst: fc.integer({ min: 1, max: 500 }),
        }),
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 400 }),
        (lim, gaps) => {
          let now = 0;
          let bucket: TokenBucket | undefined;
          let allowed = 0;
          for (const gap of gaps) {
            now += gap;
            const d = takeToken(bucket, now, lim);
            bucket = d.bucket;
            if (d.allowed) allowed++;
            else {
              expect(d.retryAfterMs).toBeGreaterThanOrEqual(1);
              // Waiting the advertised time is enough for the next token.
              expect(takeToken(bucket, now + d.retryAfterMs, lim).allowed).toBe(true);
            }
          }
          expect(allowed).toBeLessThanOrEqual(lim.burst + Math.floor((lim.ratePerSecond * now) / 1000));
        },
      ),
    );
  });
});

describe('submit rate configuration', () => {
  it('defaults to 200/s with a burst of 400, and derives the burst from SLUICE_TENANT_SUBMIT_RPS', () => {
    expect(loadConfig({}).submitRate).toEqual(DEFAULT_SUBMIT_RATE);
    expect(DEFAULT_SUBMIT_RATE).toEqual({ ratePerSecond: 200, burst: 400 });
    expect(loadConfig({ SLUICE_TENANT_SUBMIT_RPS: '50' }).submitRate).toEqual({
      ratePerSecond: 50,
      burst: 100,
    });
    expect(
      loadConfig({ SLUICE_TENANT_SUBMIT_RPS: '0.5', SLUICE_TENANT_SUBMIT_BURST: '3' }).submitRate,
    ).toEqual({ ratePerSecond: 0.5, burst: 3 });
  });

  it('names the variable when a value is bad', () => {
    expect(() => loadConfig({ SLUICE_TENANT_SUBMIT_RPS: 'fast' })).toThrow(/SLUICE_TENANT_SUBMIT_RPS/);
    expect(() => loadConfig({ SLUICE_TENANT_SUBMIT_RPS: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ SLUICE_TENANT_SUBMIT_BURST: '0' })).toThrow(/SLUICE_TENANT_SUBMIT_BURST/);
  });
});
