import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLimiter, LIMITER_DEFAULTS, type QueuedRequest } from './index';
import { backlog, createUpstreamModel, seededRandom, simulate } from './testing/index';

const mean = (xs: Array<number | undefined>) => xs.reduce<number>((a, b) => a + (b ?? 0), 0) / xs.length;

describe('learning the upstream in simulated time', () => {
  for (const factor of [0.8, 1.3]) {
    it(`given an upstream charging ${factor}× our estimate by its own formula, then the limiter learns the ratio, uses ≥ 99% of TPM and trips no 429`, () => {
      const limiter = createLimiter();
      const sizes = seededRandom(7);
      const charges = new Map<string, number>();
      const r = simulate({
        limiter,
        limits: { rpm: 10_000, tpm: 100_000 },
        enforcement: 'continuous',
        arrivals: backlog(1_500, { tokens: 1_000 }),
        latencyMs: 300,
        latencyJitterMs: 300,
        untilMs: 400_000,
        // Each request's own mismatch varies ±10% around the factor.
        charge: (q) => {
          let c = charges.get(q.id);
          if (c === undefined) {
            c = Math.ceil(q.tokens * factor * (0.9 + 0.2 * sizes()));
            charges.set(q.id, c);
          }
          return c;
        },
      });
      expect(r.rateLimited).toBe(0);
      expect(limiter.snapshot(r.endedAt).groups[0]?.chargeRatio).toBeCloseTo(factor, 1);
      const tokensPerSecond = mean(r.tokensPerSecond.slice(60, 300));
      expect(tokensPerSecond / (100_000 / 60)).toBeGreaterThanOrEqual(0.99);
      expect(tokensPerSecond / (100_000 / 60)).toBeLessThanOrEqual(1.001);
    });
  }

  it('given a per-second quantized upstream, when the first 429 shows windows, then it switches to windows and trips no more', () => {
    const limiter = createLimiter();
    const r = simulate({
      limiter,
      limits: { rpm: 600, tpm: 1_000_000 },
      enforcement: 'quantized',
      arrivals: backlog(2_000, { tokens: 50 }),
      latencyMs: 250,
      latencyJitterMs: 200,
      untilMs: 400_000,
    });
    expect(r.rateLimited).toBeLessThanOrEqual(1);
    expect(limiter.snapshot(r.endedAt).groups[0]?.strictWindows).toBe(r.rateLimited === 1);
    expect(mean(r.okPerSecond.slice(30, 180)) / 10).toBeGreaterThanOrEqual(0.99);
    expect(r.completed).toHaveLength(2_000);
  });

  it('given an upstream that refunds to actual usage and chargeBasis actual, then refunds turn into throughput', () => {
    const run = (chargeBasis: 'estimate' | 'actual') =>
      simulate({
        limiter: createLimiter({ chargeBasis }),
        limits: { rpm: 10_000, tpm: 60_000 },
        enforcement: 'continuous',
        chargeBasis: 'actual',
        arrivals: backlog(1_000, { tokens: 2_000 }),
        actual: () => 500,
        latencyMs: 200,
        untilMs: 120_000,
      });
    const estimateOnly = run('estimate');
    const reconciled = run('actual');
    expect(reconciled.rateLimited).toBe(0);
    // Refunded capacity comes back (via reconciliation and the server's remaining header alike).
    expect(reconciled.completed.length).toBeGreaterThan(100);
    expect(estimateOnly.rateLimited).toBe(0);
  });

  it('given an upstream that announces nothing, then after one probe it paces at the conservative initial limits', () => {
    const limiter = createLimiter({ initialLimits: { rpm: 120, tpm: 1_000_000 } });
    const r = simulate({
      limiter,
      limits: { rpm: 600, tpm: 1_000_000 },
      enforcement: 'continuous',
      announceLimits: false,
      arrivals: backlog(300, { tokens: 10 }),
      latencyMs: 100,
      untilMs: 60_000,
    });
    expect(r.rateLimited).toBe(0);
    expect(mean(r.okPerSecond.slice(10, 50))).toBeCloseTo(2, 1);
    expect(limiter.snapshot(r.endedAt).groups[0]?.learned).toBe(true);
  });

  it('given a probe that gets no answer, then the next request may probe', () => {
    const limiter = createLimiter();
    for (const q of backlog(3)) limiter.enqueue(q, 0);
    const [probe] = limiter.poll(0);
    expect(probe?.reservation.probe).toBe(true);
    expect(limiter.poll(1)).toHaveLength(0);
    expect(limiter.nextWakeAt(1)).toBeUndefined();
    limiter.onNoResponse(probe!.reservation, 30_000);
    expect(limiter.poll(30_000)).toHaveLength(1);
  });

  it('given a 429 without retry-after, then the pool pauses for the fallback and backs off further on repeats', () => {
    const limiter = createLimiter({ limits: { p: { '*': { rpm: 6_000, tpm: 1e9 } } } });
    for (const q of backlog(10)) limiter.enqueue(q, 0);
    const [a] = limiter.poll(0);
    limiter.onResponse(a!.reservation, { status: 429, headers: {} }, 0);
    expect(limiter.nextWakeAt(0)).toBe(1_000);
    const [b] = limiter.poll(1_000);
    limiter.onResponse(b!.reservation, { status: 429, headers: {} }, 1_000);
    expect(limiter.nextWakeAt(1_000)).toBe(3_000);
    expect(limiter.snapshot(1_500).groups[0]?.pausedUntil).toBe(3_000);
  });

  it('given a server that reports less remaining than we think (another client on the key), then it slows down', () => {
    const limiter = createLimiter({ limits: { p: { '*': { rpm: 600, tpm: 60_000 } } }, safetyMargin: 0 });
    for (const q of backlog(50, { tokens: 100 })) limiter.enqueue(q, 0);
    const [d] = limiter.poll(0);
    limiter.onResponse(
      d!.reservation,
      {
        status: 200,
        headers: { limitRequests: 600, limitTokens: 60_000, remainingRequests: 599, remainingTokens: 0 },
      },
      0,
    );
    // An empty server bucket refills 1,000 tokens/s: the next 100-token request waits ~100 ms.
    expect(limiter.nextWakeAt(0)).toBeGreaterThanOrEqual(100);
    expect(limiter.snapshot(0).groups[0]!.available.tokens).toBe(0);
  });
});

/**
 * Found by this property in CI (seed -1519586176): an 11.7 s window held 9,667 tokens against a
 * bound of pro rata + one request (9,666.3) that forgot the late-timer slot credit. Kept as an example.
 */
const SLOT_CREDIT_EXAMPLE: [number, number, number[], number[], number] = [
  60,
  35_977,
  [
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2615, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    2643, 1, 1, 1, 2643, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2624, 2201, 1, 1, 1, 1765, 1, 1, 1, 1963,
  ],
  [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 93140, 0, 0, 93140, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    93140, 0, 0, 0, 93140, 79656, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 79656, 79656, 0, 0, 0, 93140, 0, 0, 0,
    79656,
  ],
  11_713,
];

describe('property: windows', () => {
  it('no sliding window of any length admits more than the limit pro rata plus one request; no 60 s window more than the limit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 60, max: 1_200 }),
        fc.integer({ min: 5_000, max: 100_000 }),
        fc.array(fc.integer({ min: 1, max: 3_000 }), { minLength: 50, maxLength: 300 }),
        fc.array(fc.integer({ min: 0, max: 120_000 }), { minLength: 50, maxLength: 300 }),
        fc.integer({ min: 1, max: 60_000 }),
        (rpm, tpm, sizes, arrivals, windowMs) => {
          const limiter = createLimiter({ limits: { p: { '*': { rpm, tpm } } } });
          const requests: QueuedRequest[] = sizes.map((tokens, i) => ({
            id: `r${i}`,
            tenantId: `t${i % 3}`,
            pool: 'p',
            model: 'm',
            priority: 'standard',
            tokens: Math.min(tokens, tpm),
            enqueuedAt: arrivals[i % arrivals.length]!,
          }));
          requests.sort((a, b) => a.enqueuedAt - b.enqueuedAt);
          const sent: Array<{ at: number; tokens: number }> = [];
          let next = 0;
          let now = 0;
          for (let step = 0; step < 20_000 && (limiter.size() > 0 || next < requests.length); step++) {
            while (next < requests.length && requests[next]!.enqueuedAt <= now)
              limiter.enqueue(requests[next++]!, now);
            for (const d of limiter.poll(now)) sent.push({ at: now, tokens: d.request.tokens });
            now = Math.min(
              limiter.nextWakeAt(now) ?? Number.POSITIVE_INFINITY,
              requests[next]?.enqueuedAt ?? Number.POSITIVE_INFINITY,
            );
            if (!Number.isFinite(now)) break;
          }
          const biggest = Math.max(...sizes.map((s) => Math.min(s, tpm)));
          const check = (w: number, requestAllowance: number, tokenAllowance: number) => {
            let j = 0;
            let tokens = 0;
            for (let i = 0; i < sent.length; i++) {
              tokens += sent[i]!.tokens;
              while (sent[i]!.at - sent[j]!.at >= w) tokens -= sent[j++]!.tokens;
              if (i - j + 1 > requestAllowance || tokens > tokenAllowance) return false;
            }
            return true;
          };
          // Pacing spaces dispatches by their size, and a timer that fires late keeps up to a quarter
          // of its interval, or lateTimerCreditMs, of its slot (else jitter would lose capacity): so
          // a window may start that much "early", i.e. hold that much beyond pro rata plus one request.
          const credit = LIMITER_DEFAULTS.lateTimerCreditMs / 60_000;
          return (
            check(60_000, rpm, tpm) &&
            check(
              windowMs,
              (rpm * windowMs) / 60_000 + 1 + Math.max(0.25, rpm * credit),
              (tpm * windowMs) / 60_000 + biggest + Math.max(0.25 * biggest, tpm * credit),
            )
          );
        },
      ),
      { numRuns: 40, examples: [SLOT_CREDIT_EXAMPLE] },
    );
  });

  it('the upstream model itself never admits past its limits (the yardstick is sound)', () => {
    const upstream = createUpstreamModel({ limits: { rpm: 60, tpm: 1_000 }, enforcement: 'continuous' });
    let admitted = 0;
    for (let t = 0; t < 1_000; t += 10) if (upstream.admit(10, t).ok) admitted++;
    expect(admitted).toBe(60);
    const verdict = upstream.admit(5_000, 2_000);
    expect(verdict).toMatchObject({ ok: false, reason: 'too_large' });
  });
});
