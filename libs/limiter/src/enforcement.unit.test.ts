import { describe, expect, it } from 'vitest';
import { createLimiter, type QueuedRequest } from './index';
import {
  type Enforcement,
  type SimulationOptions,
  seededRandom,
  simulate,
  simulateSdkClients,
} from './testing/index';

/**
 * Every enforcement family × both prompt-cost rules, told nothing: the upstream's budget starts
 * spent (as the benchmark drains it), answers take 300–500 ms and requests reach the upstream
 * 0–20 ms after dispatch (so it admits some in another order). 4,000 requests of 80–169 estimated
 * tokens against 60,000 TPM (TPM binds: ~8 requests/s); steady state is seconds 60–280.
 */
const LIMITS = { rpm: 10_000, tpm: 60_000 };
const STEADY = [60, 280] as const;

type CostRule = 'exact' | 'chars/4';

function requests(n: number, model = 'gpt-4o-mini'): QueuedRequest[] {
  const sizes = seededRandom(3);
  return Array.from({ length: n }, (_, i) => ({
    id: `${model}-${i}`,
    tenantId: `t${i % 4}`,
    pool: 'p',
    model,
    priority: 'batch' as const,
    tokens: 80 + Math.floor(sizes() * 90),
    enqueuedAt: 0,
  }));
}

/**
 * `exact`: the upstream charges our estimate. `chars/4`: it charges by its own formula, 10% more
 * on average and ±10% per request (what OpenAI's ceil(chars/4) does to a tokenizer estimate).
 */
function chargeRule(rule: CostRule): (r: QueuedRequest) => number {
  if (rule === 'exact') return (r) => r.tokens;
  const noise = seededRandom(11);
  const charges = new Map<string, number>();
  return (r) => {
    let c = charges.get(r.id);
    if (c === undefined) {
      c = Math.ceil(r.tokens * 1.1 * (0.9 + 0.2 * noise()));
      charges.set(r.id, c);
    }
    return c;
  };
}

function run(enforcement: Enforcement, rule: CostRule, extra: Partial<SimulationOptions> = {}) {
  const limiter = createLimiter();
  const r = simulate({
    limiter,
    limits: LIMITS,
    enforcement,
    arrivals: requests(4_000),
    latencyMs: 300,
    latencyJitterMs: 200,
    admitJitterMs: 20,
    startDrained: true,
    untilMs: 300_000,
    charge: chargeRule(rule),
    ...extra,
  });
  const steady = r.tokensPerSecond.slice(...STEADY);
  const tokensPerSecond = steady.reduce<number>((a, b) => a + (b ?? 0), 0) / steady.length;
  return {
    r,
    limiter,
    utilisation: tokensPerSecond / (LIMITS.tpm / 60),
    share429: r.rateLimited / r.attempts,
    group: limiter.snapshot(r.endedAt).groups[0]!,
  };
}

/**
 * The best any client can do against fixed windows without reordering requests: fill each window
 * in arrival order until the next request would not fit (next-fit). Computed from the same
 * requests and charges, so the yardstick moves with the workload, not with the limiter.
 */
function nextFitLimit(windowMs: number, rule: CostRule): number {
  const cap = (LIMITS.tpm * windowMs) / 60_000;
  const charge = chargeRule(rule);
  let windows = 0;
  let filled = 0;
  let current = 0;
  for (const r of requests(4_000)) {
    const c = charge(r);
    if (current > 0 && current + c > cap) {
      windows++;
      filled += current;
      current = 0;
    }
    current += c;
  }
  return filled / windows / cap;
}

describe('pacing under every enforcement family, told nothing', () => {
  /*
   * Measured (utilisation, 429s of ~2,400 attempts): minute, 10 s and 1 s buckets 0.998 both
   * rules, one 429 (the drained start's first request); 0.25 s bucket 0.998 exact and 0.996
   * chars/4 (2 429s): its 250 tokens hold under two requests, so chars/4 noise costs a little.
   */
  const buckets: Array<[string, Enforcement, number, Record<CostRule, number>]> = [
    ['a minute bucket', 'continuous', 60_000, { exact: 0.995, 'chars/4': 0.995 }],
    ['a 10 s bucket', { kind: 'bucket', capacityMs: 10_000 }, 10_000, { exact: 0.995, 'chars/4': 0.995 }],
    ['a 1 s bucket', { kind: 'bucket', capacityMs: 1_000 }, 1_000, { exact: 0.995, 'chars/4': 0.995 }],
    ['a 0.25 s bucket', { kind: 'bucket', capacityMs: 250 }, 250, { exact: 0.995, 'chars/4': 0.995 }],
  ];
  for (const [name, enforcement, capacityMs, floor] of buckets) {
    for (const rule of ['exact', 'chars/4'] as const) {
      it(`given ${name} and ${rule} charges, then it learns the capacity and holds ≥ ${floor[rule]} of the limit with ≤ 0.1% 429s`, () => {
        const { utilisation, share429, group } = run(enforcement, rule);
        expect(group.enforcement.kind).toBe('bucket');
        if (group.enforcement.kind === 'bucket')
          expect(Math.abs(group.enforcement.capacityMs - capacityMs)).toBeLessThanOrEqual(capacityMs * 0.05);
        expect(utilisation).toBeGreaterThanOrEqual(floor[rule]);
        expect(utilisation).toBeLessThanOrEqual(1.001);
        expect(share429).toBeLessThanOrEqual(0.001);
      });
    }
  }

  for (const rule of ['exact', 'chars/4'] as const) {
    it(`given fixed 60 s windows and ${rule} charges, then even pacing never overflows one: ≥ 0.995, no 429`, () => {
      const { utilisation, r } = run({ kind: 'windows', windowMs: 60_000 }, rule);
      expect(utilisation).toBeGreaterThanOrEqual(0.995);
      expect(r.rateLimited).toBe(0);
    });

    /*
     * Fixed 10 s windows: next-fit allows 0.994 of the limit. Even pacing overflows a window only at
     * its end, rarely; two such 429s within 1,000 dispatches show windows, and the boundaries they
     * imply (20–30 s apart, whole multiples of 10 s) give the length. Measured: 0.981 (exact) and
     * 0.984 (chars/4), with 3 and 2 429s in ~2,300 attempts (0.13%, over the 0.1% goal, and 0.09%):
     * the 2% of each window held back at first for charge noise decays slowly, and the evidence
     * itself costs 429s.
     */
    it(`given fixed 10 s windows and ${rule} charges, then it finds 10 s windows and comes within 2% of next-fit`, () => {
      const { utilisation, share429, group } = run({ kind: 'windows', windowMs: 10_000 }, rule);
      const best = nextFitLimit(10_000, rule);
      expect(best).toBeGreaterThan(0.99);
      expect(group.enforcement).toEqual({ kind: 'windows', windowMs: 10_000 });
      expect(utilisation).toBeGreaterThanOrEqual(0.98 * best);
      expect(share429).toBeLessThanOrEqual(0.002);
    });
  }

  /*
   * Fixed 1 s windows of 1,000 tokens and requests of 80–187: whole requests cannot fill a window,
   * so the physical limit is next-fit's 0.936 (exact) / 0.929 (chars/4), not 0.995. Measured: 0.920
   * (98% of it, 0.09% 429s) and 0.905 (97.4%, 0.25% 429s): per-request charge noise the limiter
   * cannot see (chars/4 ±10%) overflows windows of ~7 requests, so it keeps ~3% of each back.
   */
  it('given fixed 1 s windows and exact charges, then it switches to windows and reaches ≥ 97% of the next-fit limit', () => {
    const { utilisation, share429, group } = run('quantized', 'exact');
    expect(group.enforcement).toEqual({ kind: 'windows', windowMs: 1_000 });
    expect(utilisation).toBeGreaterThanOrEqual(0.97 * nextFitLimit(1_000, 'exact'));
    expect(share429).toBeLessThanOrEqual(0.001);
  });

  it('given fixed 1 s windows and chars/4 charges, then it reaches ≥ 95% of the next-fit limit with ≤ 0.4% 429s', () => {
    const { utilisation, share429, group } = run('quantized', 'chars/4');
    expect(group.enforcement).toEqual({ kind: 'windows', windowMs: 1_000 });
    expect(utilisation).toBeGreaterThanOrEqual(0.95 * nextFitLimit(1_000, 'chars/4'));
    expect(share429).toBeLessThanOrEqual(0.004);
  });
});

/*
 * The same upstream, requests and charges, driven by what applications do today: 16 loops calling
 * the openai SDK with its default maxRetries 2 (retry-after-ms honoured). Measured: against every
 * bucket it fails 3,339 of 4,000 requests (94% of attempts are 429s) before the steady window even
 * starts; against 1 s windows 70% of attempts are 429s and 803 requests fail; 10 s windows 17%;
 * 60 s windows 3%.
 */
describe('beside the openai SDK default on the same upstream', () => {
  const families: Array<[string, Enforcement]> = [
    ['a minute bucket', 'continuous'],
    ['a 1 s bucket', { kind: 'bucket', capacityMs: 1_000 }],
    ['a 0.25 s bucket', { kind: 'bucket', capacityMs: 250 }],
    ['1 s windows', 'quantized'],
    ['10 s windows', { kind: 'windows', windowMs: 10_000 }],
  ];
  for (const [name, enforcement] of families) {
    for (const rule of ['exact', 'chars/4'] as const) {
      it(`given ${name} and ${rule} charges, then Sluice completes every request the SDK default fails, with a tenth of its 429 share or less`, () => {
        const sluice = run(enforcement, rule);
        const sdk = simulateSdkClients({
          limits: LIMITS,
          enforcement,
          workers: 16,
          requests: requests(4_000),
          latencyMs: 300,
          latencyJitterMs: 200,
          admitJitterMs: 20,
          startDrained: true,
          charge: chargeRule(rule),
          untilMs: 300_000,
        });
        const sdkShare = sdk.rateLimited / sdk.attempts;
        expect(sdkShare).toBeGreaterThan(0.1);
        expect(sluice.share429).toBeLessThanOrEqual(sdkShare / 10);
        // Sluice gives up nothing: what it has not sent by the end is still queued, not failed.
        expect(sluice.r.completed.length + sluice.limiter.size()).toBeGreaterThanOrEqual(4_000 - 50);
      });
    }
  }
});

describe('robust to missing and noisy evidence', () => {
  it('given a third of the answers without rate-limit headers, then it still holds ≥ 0.995 with ≤ 0.1% 429s', () => {
    const { utilisation, share429 } = run('continuous', 'chars/4', { headerDropRate: 0.3 });
    expect(utilisation).toBeGreaterThanOrEqual(0.995);
    expect(share429).toBeLessThanOrEqual(0.001);
  });

  it('given remaining reported a second late, then it still holds ≥ 0.99 with ≤ 0.1% 429s', () => {
    const { utilisation, share429 } = run({ kind: 'bucket', capacityMs: 1_000 }, 'exact', {
      headerLagMs: 1_000,
    });
    expect(utilisation).toBeGreaterThanOrEqual(0.99);
    expect(share429).toBeLessThanOrEqual(0.001);
  });

  it('given a tier upgrade from 60,000 to 120,000 TPM at 120 s, then the new limit is in use within a minute', () => {
    const { r, share429 } = run('continuous', 'exact', {
      arrivals: requests(8_000),
      limitChanges: [{ at: 120_000, limits: { rpm: 10_000, tpm: 120_000 } }],
    });
    const after = r.tokensPerSecond.slice(180, 280);
    const rate = after.reduce<number>((a, b) => a + (b ?? 0), 0) / after.length;
    expect(rate / 2_000).toBeGreaterThanOrEqual(0.99);
    expect(share429).toBeLessThanOrEqual(0.001);
  });
});

/** Mean of a per-second series over the steady state, as a share of the limit. */
function steadyShare(perSecond: Array<number | undefined> | undefined): number {
  const steady = (perSecond ?? []).slice(...STEADY);
  return steady.reduce<number>((a, b) => a + (b ?? 0), 0) / steady.length / (LIMITS.tpm / 60);
}

describe('models sharing one limit upstream, told nothing', () => {
  const MODELS = ['gpt-4o', 'gpt-4o-mini'];

  /*
   * OpenAI: "some model families share one limit"; a 429 still names the model called. Both models
   * announce the same limits, so one quota is presumed from their first answers; the spans of each
   * model's answers then keep confirming it (z ≈ −5 after ~15 s, −10 after 40 s). Measured, both
   * rules: 0.998 of the limit together, 0.499 each, 2 429s in ~2,200–2,400 attempts (0.08–0.09%:
   * the drained start's two probes, one per model). Before (a quota per model, each seeing the other
   * only in the server's counts): 0.97 (exact) and 0.81 (chars/4) with 0.8% and 1.5% 429s, and one
   * model starved (0.10 vs 0.87).
   */
  for (const rule of ['exact', 'chars/4'] as const) {
    it(`given two models sharing one limit and ${rule} charges, then one quota serves both: ≥ 0.995 together, ≥ 0.49 each, ≤ 0.1% 429s`, () => {
      const arrivals = [...requests(2_000, MODELS[0]), ...requests(2_000, MODELS[1])];
      const { r, limiter, utilisation, share429 } = run('continuous', rule, {
        arrivals,
        sharedLimits: [MODELS],
      });
      const groups = limiter.snapshot(r.endedAt).groups;
      expect(groups.map((g) => g.sharesLimitWith)).toEqual([[MODELS[1]], [MODELS[0]]]);
      expect(utilisation).toBeGreaterThanOrEqual(0.995);
      expect(share429).toBeLessThanOrEqual(0.001);
      for (const model of MODELS)
        expect(steadyShare(r.tokensPerSecondByModel[model])).toBeGreaterThanOrEqual(0.49);
    });

    /*
     * The same announced limits but one each: presumed shared at first, split once the spans show
     * it (z > 5: after 11 s exact, 14 s chars/4), never merged again. Measured: 0.998 of its own
     * limit each, both rules; 2 429s (the probes) in ~4,300–4,800 attempts.
     */
    it(`given two models with equal but separate limits and ${rule} charges, then they are not merged: each ≥ 0.995 of its own limit`, () => {
      const arrivals = [...requests(4_000, MODELS[0]), ...requests(4_000, MODELS[1])];
      const { r, limiter, share429 } = run('continuous', rule, { arrivals });
      for (const g of limiter.snapshot(r.endedAt).groups) expect(g.sharesLimitWith).toEqual([]);
      for (const model of MODELS) {
        expect(steadyShare(r.tokensPerSecondByModel[model])).toBeGreaterThanOrEqual(0.995);
        expect(steadyShare(r.tokensPerSecondByModel[model])).toBeLessThanOrEqual(1.001);
      }
      expect(share429).toBeLessThanOrEqual(0.001);
    });
  }
});

describe('daily limits', () => {
  it('given a TPD limit named by a 429, then it is learned and batch work is spread over the day, leaving room for interactive traffic', () => {
    const HOUR = 3_600_000;
    // 86,400 tokens a day: one token a second refills; a day's batch backlog of 100-token requests
    // and an interactive request every 10 minutes.
    const batch: QueuedRequest[] = Array.from({ length: 3_000 }, (_, i) => ({
      id: `b${i}`,
      tenantId: 'nightly',
      pool: 'p',
      model: 'gpt-4o-mini',
      priority: 'batch',
      tokens: 100,
      enqueuedAt: 0,
    }));
    const interactive: QueuedRequest[] = Array.from({ length: 144 }, (_, i) => ({
      id: `i${i}`,
      tenantId: 'app',
      pool: 'p',
      model: 'gpt-4o-mini',
      priority: 'interactive',
      tokens: 100,
      enqueuedAt: i * 600_000 + 1,
    }));
    const limiter = createLimiter();
    const r = simulate({
      limiter,
      limits: { rpm: 10_000, tpm: 1_000_000, tpd: 86_400 },
      enforcement: 'continuous',
      arrivals: [...batch, ...interactive],
      latencyMs: 200,
      untilMs: 24 * HOUR,
    });
    expect(limiter.snapshot(r.endedAt).groups[0]?.limits.tpd).toBe(86_400);
    // The first morning burns what the day bucket held before the limit was known (one 429 shows
    // it); after that, batch work goes at the refill rate, above the reserve.
    expect(r.rateLimited).toBeLessThanOrEqual(2);
    const batchPerHour = Array.from({ length: 24 }, () => 0);
    for (const c of r.completed)
      if (c.request.priority === 'batch') batchPerHour[Math.floor(c.dispatchedAt / HOUR)]!++;
    // Hours 6–23: every hour has batch work, none more than the hour's refill (36 requests) + 1.
    for (const n of batchPerHour.slice(6, 23)) {
      expect(n).toBeGreaterThan(20);
      expect(n).toBeLessThanOrEqual(37);
    }
    // Interactive requests still go within seconds of arriving, all day.
    const waits = r.completed
      .filter((c) => c.request.priority === 'interactive')
      .map((c) => c.dispatchedAt - c.request.enqueuedAt);
    expect(waits.length).toBe(144);
    expect(Math.max(...waits.slice(10))).toBeLessThan(5_000);
  });
});
