import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLimiter, type QueuedRequest } from './index';
import { backlog, simulate } from './testing/simulate';

describe('limiter pacing in simulated time', () => {
  for (const enforcement of ['continuous', 'quantized'] as const) {
    it(`given unannounced limits (${enforcement}), when a backlog saturates them, then it learns and uses ≥ 99% with no 429`, () => {
      const r = simulate({
        limiter: createLimiter(),
        limits: { rpm: 600, tpm: 200_000 },
        enforcement,
        arrivals: backlog(3_000, { tokens: 100 }),
        latencyMs: 300,
        untilMs: 400_000,
      });
      const steady = r.okPerSecond.slice(30, 240);
      const perSecond = steady.reduce((a, b) => a + (b ?? 0), 0) / steady.length;
      expect(perSecond / 10).toBeGreaterThanOrEqual(0.99);
      expect(r.rateLimited / r.attempts).toBeLessThanOrEqual(0.001);
      expect(r.completed).toHaveLength(3_000);
    });
  }

  it('given a TPM-bound workload, then the token limit binds and is not exceeded', () => {
    const r = simulate({
      limiter: createLimiter(),
      limits: { rpm: 10_000, tpm: 60_000 },
      enforcement: 'continuous',
      arrivals: backlog(1_000, { tokens: 1_000 }),
      latencyMs: 200,
      untilMs: 300_000,
    });
    expect(r.rateLimited).toBe(0);
    const steady = r.tokensPerSecond.slice(30, 240);
    const perSecond = steady.reduce((a, b) => a + (b ?? 0), 0) / steady.length;
    expect(perSecond / 1_000).toBeGreaterThanOrEqual(0.99);
    expect(perSecond / 1_000).toBeLessThanOrEqual(1.0001);
  });

  it('sends one probe before the limits are known, then adopts the announced limits', () => {
    const limiter = createLimiter();
    for (const r of backlog(5)) limiter.enqueue(r, 0);
    const first = limiter.poll(0);
    expect(first).toHaveLength(1);
    expect(limiter.poll(10)).toHaveLength(0);
    limiter.onResponse(
      first[0]!.reservation,
      {
        status: 200,
        headers: {
          limitRequests: 600,
          limitTokens: 100_000,
          remainingRequests: 599,
          remainingTokens: 99_000,
        },
      },
      50,
    );
    expect(limiter.snapshot(50).groups[0]?.limits).toMatchObject({ rpm: 600, tpm: 100_000 });
    expect(limiter.poll(50).length).toBeGreaterThan(0);
  });

  it('keeps probing past an answer without limit headers (a 400), and adopts the limits the next one announces', () => {
    const limiter = createLimiter();
    for (const r of backlog(5)) limiter.enqueue(r, 0);
    const first = limiter.poll(0);
    expect(first).toHaveLength(1);
    limiter.onResponse(first[0]!.reservation, { status: 400, headers: {} }, 20);
    expect(limiter.snapshot(20).groups[0]?.learned).toBe(false);
    const probe = limiter.poll(30);
    expect(probe).toHaveLength(1);
    limiter.onResponse(
      probe[0]!.reservation,
      { status: 200, headers: { limitRequests: 10_000, limitTokens: 1_000_000, remainingRequests: 9_999 } },
      60,
    );
    expect(limiter.snapshot(60).groups[0]?.limits).toMatchObject({ rpm: 10_000, tpm: 1_000_000 });
  });

  it('keeps the assumed limits for an upstream that never sends limit headers, after a few answers', () => {
    const limiter = createLimiter();
    for (const r of backlog(10)) limiter.enqueue(r, 0);
    for (let i = 0; i < 3; i++) {
      expect(limiter.snapshot(i * 100).groups[0]?.learned).toBe(false);
      const [probe] = limiter.poll(i * 100);
      limiter.onResponse(probe!.reservation, { status: 200, headers: {} }, i * 100 + 50);
    }
    expect(limiter.snapshot(300).groups[0]?.learned).toBe(true);
  });

  it('given a 429 with retry-after, then the pool pauses that long and resumes paced, not in a burst', () => {
    const limiter = createLimiter({ limits: { p: { '*': { rpm: 600, tpm: 1_000_000 } } } });
    for (const r of backlog(100)) limiter.enqueue(r, 0);
    const sent = limiter.poll(0);
    expect(sent.length).toBeGreaterThan(0);
    limiter.onResponse(sent[0]!.reservation, { status: 429, headers: { retryAfterMs: 2_000 } }, 10);
    expect(limiter.poll(1_000)).toHaveLength(0);
    expect(limiter.nextWakeAt(1_000)).toBeGreaterThanOrEqual(2_010);
    // After the pause the budget starts from empty: at most one second's share comes out.
    const resumed = limiter.poll(3_010);
    expect(resumed.length).toBeLessThanOrEqual(10);
  });

  it('treats configured limits as a ceiling over announced ones', () => {
    const limiter = createLimiter({ limits: { p: { '*': { rpm: 60, tpm: 10_000 } } } });
    limiter.enqueue(backlog(1)[0]!, 0);
    const [d] = limiter.poll(0);
    limiter.onResponse(
      d!.reservation,
      { status: 200, headers: { limitRequests: 10_000, limitTokens: 10_000_000 } },
      1,
    );
    expect(limiter.snapshot(1).groups[0]?.limits).toMatchObject({ rpm: 60, tpm: 10_000 });
  });

  it('refuses at admission a request that can never fit the bucket', () => {
    const limiter = createLimiter({ limits: { p: { '*': { rpm: 60, tpm: 1_000 } } } });
    const verdict = limiter.admit(
      { tenantId: 't', pool: 'p', model: 'gpt-4o-mini', priority: 'standard', tokens: 5_000 },
      0,
    );
    expect(verdict).toMatchObject({ ok: false, reason: 'exceeds_bucket' });
    expect(
      limiter.admit({ tenantId: 't', pool: 'p', model: 'gpt-4o-mini', priority: 'standard', tokens: 500 }, 0),
    ).toEqual({ ok: true });
  });

  it('does not let an empty bucket of one model block another model', () => {
    const limiter = createLimiter({
      limits: { p: { 'gpt-4o': { rpm: 60, tpm: 100_000 }, 'gpt-4o-mini': { rpm: 6_000, tpm: 1_000_000 } } },
    });
    for (const r of backlog(200, { model: 'gpt-4o', prefix: 'big' })) limiter.enqueue(r, 0);
    limiter.poll(0);
    limiter.enqueue({ ...backlog(1, { model: 'gpt-4o-mini', prefix: 'small' })[0]! }, 100);
    const out = limiter.poll(100);
    expect(out.map((d) => d.request.model)).toContain('gpt-4o-mini');
  });

  it('cancels a queued request so it is never dispatched, even if enqueued again later', () => {
    const limiter = createLimiter({ limits: { p: { '*': { rpm: 60_000, tpm: 10_000_000 } } } });
    const [a, b] = backlog(2);
    limiter.enqueue(a!, 0);
    limiter.enqueue(b!, 0);
    expect(limiter.cancel(a!.id)).toBe(true);
    expect(limiter.cancel('unknown')).toBe(false);
    limiter.enqueue(a!, 1);
    const ids: string[] = [];
    for (let now = 2; limiter.size() > 0 && now < 1_000; now = limiter.nextWakeAt(now) ?? now + 1) {
      ids.push(...limiter.poll(now).map((d) => d.request.id));
    }
    expect(ids.filter((id) => id === a!.id)).toHaveLength(1);
    expect(limiter.size()).toBe(0);
  });
});

describe('scheduler', () => {
  const roomy = () => createLimiter({ limits: { p: { '*': { rpm: 600, tpm: 10_000_000 } } } });

  it('given a batch backlog, when an interactive request arrives, then it goes next', () => {
    const limiter = roomy();
    for (const r of backlog(5_000, { priority: 'batch', tenantId: 'bulk' })) limiter.enqueue(r, 0);
    limiter.poll(0);
    const interactive: QueuedRequest = {
      ...backlog(1, { priority: 'interactive', tenantId: 'person' })[0]!,
      id: 'ask',
      enqueuedAt: 500,
    };
    limiter.enqueue(interactive, 500);
    let now = 500;
    let waited = -1;
    while (now < 5_000 && waited < 0) {
      const ids = limiter.poll(now).map((d) => d.request.id);
      if (ids.includes('ask')) waited = now - 500;
      now = limiter.nextWakeAt(now) ?? now + 1;
    }
    // Within one refill interval (one request at 600 RPM = 100 ms, plus the window boundary).
    expect(waited).toBeGreaterThanOrEqual(0);
    expect(waited).toBeLessThanOrEqual(1_100);
  });

  it('given three tenants, when one has a huge backlog, then a single request of another waits only its fair turn', () => {
    const limiter = roomy();
    for (const r of backlog(10_000, { tenantId: 'heavy' })) limiter.enqueue(r, 0);
    limiter.enqueue({ ...backlog(1, { tenantId: 'light' })[0]!, id: 'light-1' }, 0);
    const order: string[] = [];
    let now = 0;
    while (order.length < 5) {
      order.push(...limiter.poll(now).map((d) => d.request.tenantId));
      now = limiter.nextWakeAt(now) ?? now + 1;
    }
    expect(order.slice(0, 3)).toContain('light');
  });

  it('property: the priority floor gives a saturated batch class its minimum share', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.02, max: 0.3, noNaN: true }), (floor) => {
        const limiter = createLimiter({
          limits: { p: { '*': { rpm: 6_000, tpm: 1e9 } } },
          priorityFloors: { batch: floor },
        });
        for (const r of backlog(3_000, { priority: 'interactive', tenantId: 'a', prefix: 'i' }))
          limiter.enqueue(r, 0);
        for (const r of backlog(3_000, { priority: 'batch', tenantId: 'b', prefix: 'b' }))
          limiter.enqueue(r, 0);
        let now = 0;
        const counts = { interactive: 0, batch: 0 };
        while (counts.interactive + counts.batch < 2_000) {
          for (const d of limiter.poll(now)) counts[d.request.priority as 'interactive' | 'batch']++;
          now = limiter.nextWakeAt(now) ?? now + 1;
        }
        const share = counts.batch / (counts.batch + counts.interactive);
        return share >= floor * 0.9 && share <= floor * 1.5 + 0.01;
      }),
      { numRuns: 15 },
    );
  });

  it('property: with equal weights and backlogs, tenants get equal shares (±1 request)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 20, max: 200 }), (tenants, rounds) => {
        const limiter = createLimiter({ limits: { p: { '*': { rpm: 60_000, tpm: 1e9 } } } });
        for (let t = 0; t < tenants; t++)
          for (const r of backlog(rounds * 2, { tenantId: `t${t}` })) limiter.enqueue(r, 0);
        const per = new Map<string, number>();
        let now = 0;
        let total = 0;
        while (total < tenants * rounds) {
          for (const d of limiter.poll(now)) {
            if (total >= tenants * rounds) break;
            per.set(d.request.tenantId, (per.get(d.request.tenantId) ?? 0) + 1);
            total++;
          }
          now = limiter.nextWakeAt(now) ?? now + 1;
        }
        const values = [...per.values()];
        return Math.max(...values) - Math.min(...values) <= 1;
      }),
      { numRuns: 30 },
    );
  });

  it('property: no sliding window of any length admits more than a full bucket plus its refill (requests and tokens)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 60, max: 1_200 }),
        fc.integer({ min: 5_000, max: 100_000 }),
        fc.array(fc.integer({ min: 1, max: 2_000 }), { minLength: 50, maxLength: 400 }),
        fc.integer({ min: 1_000, max: 60_000 }),
        (rpm, tpm, sizes, windowMs) => {
          const limiter = createLimiter({ limits: { p: { '*': { rpm, tpm } } } });
          sizes.forEach((tokens, i) => {
            limiter.enqueue(
              {
                id: `r${i}`,
                tenantId: 't',
                pool: 'p',
                model: 'm',
                priority: 'standard',
                tokens: Math.min(tokens, tpm),
                enqueuedAt: 0,
              },
              0,
            );
          });
          const sent: Array<{ at: number; tokens: number }> = [];
          let now = 0;
          for (let step = 0; step < 10_000 && limiter.size() > 0; step++) {
            for (const d of limiter.poll(now)) sent.push({ at: now, tokens: d.request.tokens });
            now = limiter.nextWakeAt(now) ?? now + 1;
          }
          // A window of length w may hold at most one full bucket plus what refills during w.
          let j = 0;
          let tokens = 0;
          for (let i = 0; i < sent.length; i++) {
            tokens += sent[i]!.tokens;
            while (sent[i]!.at - sent[j]!.at >= windowMs) tokens -= sent[j++]!.tokens;
            const requests = i - j + 1;
            const allowance = (limit: number) => limit + (limit * windowMs) / 60_000;
            if (requests > allowance(rpm) + 1e-9 || tokens > allowance(tpm) + 1e-9) return false;
          }
          return true;
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('tenant caps and reconciliation', () => {
  it('holds a capped tenant to its own RPM while others use the rest', () => {
    const limiter = createLimiter({
      limits: { p: { '*': { rpm: 6_000, tpm: 1e9 } } },
      tenantCaps: { capped: { rpm: 60 } },
    });
    for (const r of backlog(500, { tenantId: 'capped' })) limiter.enqueue(r, 0);
    for (const r of backlog(500, { tenantId: 'free' })) limiter.enqueue(r, 0);
    const counts = new Map<string, number>();
    for (let now = 0; now < 10_000; now = limiter.nextWakeAt(now) ?? now + 1) {
      for (const d of limiter.poll(now))
        counts.set(d.request.tenantId, (counts.get(d.request.tenantId) ?? 0) + 1);
    }
    // 60 RPM: its one-minute bucket (60) is all it may use in the first 10 s, plus ~10 refilled.
    expect(counts.get('capped')).toBeLessThanOrEqual(71);
    expect(counts.get('free')).toBe(500);
    expect(
      limiter.admit({ tenantId: 'capped', pool: 'p', model: 'm', priority: 'standard', tokens: 10 }, 0),
    ).toEqual({ ok: true });
  });

  it('refunds the unused reservation when the upstream charges actual usage', () => {
    const limiter = createLimiter({
      limits: { p: { '*': { rpm: 1_000, tpm: 1_000 } } },
      chargeBasis: 'actual',
      safetyMargin: 0,
    });
    limiter.enqueue({ ...backlog(1, { tokens: 900 })[0]!, id: 'big' }, 0);
    const [d] = limiter.poll(0);
    const before = limiter.snapshot(0).groups[0]!.available.tokens;
    limiter.onResponse(d!.reservation, { status: 200, headers: {}, actualTokens: 100 }, 0);
    const after = limiter.snapshot(0).groups[0]!.available.tokens;
    expect(after - before).toBe(800);
  });
});
