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

  // Measured: 0.998, 2 429s of 2,404 attempts (a whole bucket's worth of lag on a 1 s bucket).
  it('given remaining reported a second late, then it still holds ≥ 0.995 with ≤ 0.1% 429s', () => {
    const { utilisation, share429 } = run({ kind: 'bucket', capacityMs: 1_000 }, 'exact', {
      headerLagMs: 1_000,
    });
    expect(utilisation).toBeGreaterThanOrEqual(0.995);
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

  /*
   * One dispatch order across the models of a shared quota: priority holds across them. Measured:
   * p99 queue wait of model B's interactive requests behind model A's batch backlog 155 ms (exact)
   * and 173 ms (chars/4), 0.997–0.998 of the limit together.
   */
  for (const rule of ['exact', 'chars/4'] as const) {
    it(`given a shared limit and ${rule} charges, then one model's interactive requests do not wait behind the other's batch backlog`, () => {
      const arrivals = [
        ...stream(4_000, { tenantId: 'bulk', priority: 'batch', model: MODELS[0] }),
        ...stream(295, {
          tenantId: 'app',
          priority: 'interactive',
          model: MODELS[1],
          everyMs: 1_003,
          startMs: 2_000,
          seed: 5,
        }),
      ];
      const { r, utilisation } = run('continuous', rule, { arrivals, sharedLimits: [MODELS] });
      const waits = steadyWaits(r, 'interactive');
      expect(waits.length).toBeGreaterThan(200);
      expect(quantile(waits, 0.99)).toBeLessThanOrEqual(PACED_WAIT_MS);
      expect(utilisation).toBeGreaterThanOrEqual(0.995);
    });
  }
});

/** `n` requests of one tenant and class, one every `everyMs` from `startMs` (sizes as `requests`). */
function stream(
  n: number,
  o: {
    tenantId: string;
    priority: QueuedRequest['priority'];
    model?: string;
    everyMs?: number;
    startMs?: number;
    seed?: number;
  },
): QueuedRequest[] {
  const sizes = seededRandom(o.seed ?? 3);
  return Array.from({ length: n }, (_, i) => ({
    id: `${o.tenantId}-${i}`,
    tenantId: o.tenantId,
    pool: 'p',
    model: o.model ?? 'gpt-4o-mini',
    priority: o.priority,
    tokens: 80 + Math.floor(sizes() * 90),
    enqueuedAt: (o.startMs ?? 0) + i * (o.everyMs ?? 0),
  }));
}

function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

type Completed = ReturnType<typeof run>['r']['completed'];

/** Queue waits (arrival to the dispatch that was answered) of requests arriving in the steady state. */
function steadyWaits(r: { completed: Completed }, match: string, by: 'priority' | 'tenantId' = 'priority') {
  return r.completed
    .filter((c) => c.request[by] === match && c.request.enqueuedAt >= STEADY[0] * 1_000)
    .map((c) => c.dispatchedAt - c.request.enqueuedAt);
}

/** Dispatches (and their estimated tokens) answered in the steady state. */
function steadyCompleted(r: { completed: Completed }): Completed {
  return r.completed.filter((c) => c.dispatchedAt >= STEADY[0] * 1_000 && c.dispatchedAt < STEADY[1] * 1_000);
}

/**
 * How long a request that arrives behind a backlog may wait, from the family's pacing. Even pacing
 * (buckets, and 60 s windows that it never overflows): one spacing interval of the largest request,
 * 169 estimated tokens × the learned 1.1 charge ratio at 1,000 tokens/s = 186 ms. Shorter windows:
 * a window whose share is spent before its end holds the next request to the next window's start,
 * which even pacing keeps within about one more interval (plus the 8 ms guard at a window's end).
 */
const PACED_WAIT_MS = 200;
const WINDOW_WAIT_MS = 400;

describe('priority and fairness under every enforcement family, told nothing', () => {
  /*
   * Utilisation goals are the families' own (the pacing tests above): next-fit caps fixed 10 s and
   * 1 s windows. Measured (exact / chars/4), priority · floor · fairness scenarios:
   * - minute bucket 0.998/0.998 · 0.998/0.998 · 0.998/0.998; 10 s bucket the same;
   * - 1 s bucket 0.998/0.999 · 0.998/0.998 · 0.998/0.999; 0.25 s bucket 0.998/0.996 · 0.999/0.994 · 0.999/0.996;
   * - 60 s windows 0.997/0.997 · 0.998/0.998 · 0.997/0.998; 10 s windows 0.979/0.987 · 0.978/0.977 · 0.978/0.974;
   * - 1 s windows 0.919/0.896 · 0.921/0.880 · 0.925/0.901.
   */
  const families: Array<[string, Enforcement, Record<CostRule, number>, number]> = [
    ['a minute bucket', 'continuous', { exact: 0.995, 'chars/4': 0.995 }, PACED_WAIT_MS],
    [
      'a 10 s bucket',
      { kind: 'bucket', capacityMs: 10_000 },
      { exact: 0.995, 'chars/4': 0.995 },
      PACED_WAIT_MS,
    ],
    [
      'a 1 s bucket',
      { kind: 'bucket', capacityMs: 1_000 },
      { exact: 0.995, 'chars/4': 0.995 },
      PACED_WAIT_MS,
    ],
    [
      'a 0.25 s bucket',
      { kind: 'bucket', capacityMs: 250 },
      { exact: 0.995, 'chars/4': 0.99 },
      PACED_WAIT_MS,
    ],
    [
      'fixed 60 s windows',
      { kind: 'windows', windowMs: 60_000 },
      { exact: 0.995, 'chars/4': 0.995 },
      PACED_WAIT_MS,
    ],
    [
      'fixed 10 s windows',
      { kind: 'windows', windowMs: 10_000 },
      { exact: 0.97, 'chars/4': 0.97 },
      WINDOW_WAIT_MS,
    ],
    ['fixed 1 s windows', 'quantized', { exact: 0.91, 'chars/4': 0.87 }, WINDOW_WAIT_MS],
  ];
  for (const [name, enforcement, goal, waitBound] of families) {
    for (const rule of ['exact', 'chars/4'] as const) {
      /*
       * An interactive request about once a second behind 4,000 batch requests. Measured p99 queue
       * wait (exact / chars/4): buckets 148–161 / 158–169 ms, 60 s windows 158 / 173, 10 s windows
       * 230 / 260, 1 s windows 269 / 320; batch keeps 0.85–0.88 of the dispatches (all the rest).
       */
      it(`given ${name} and ${rule} charges, then interactive requests behind a batch backlog wait ≤ ${waitBound} ms (p99) and batch keeps the rest`, () => {
        const arrivals = [
          ...stream(4_000, { tenantId: 'bulk', priority: 'batch' }),
          ...stream(295, {
            tenantId: 'app',
            priority: 'interactive',
            everyMs: 1_003,
            startMs: 2_000,
            seed: 5,
          }),
        ];
        const { r, utilisation, share429 } = run(enforcement, rule, { arrivals });
        const waits = steadyWaits(r, 'interactive');
        expect(waits.length).toBeGreaterThan(200);
        expect(quantile(waits, 0.99)).toBeLessThanOrEqual(waitBound);
        const steady = steadyCompleted(r);
        expect(
          steady.filter((c) => c.request.priority === 'batch').length / steady.length,
        ).toBeGreaterThanOrEqual(0.84);
        expect(utilisation).toBeGreaterThanOrEqual(goal[rule]);
        expect(share429).toBeLessThanOrEqual(0.004);
      });

      /*
       * Interactive work that could use the whole limit: batch still gets its floor (5% of the
       * dispatches). Measured: 0.0510–0.0521 under every family and rule.
       */
      it(`given ${name}, ${rule} charges and interactive work enough for the whole limit, then batch gets its floor share`, () => {
        const arrivals = [
          ...stream(4_000, { tenantId: 'bulk', priority: 'batch' }),
          ...stream(4_000, { tenantId: 'app', priority: 'interactive', seed: 5 }),
        ];
        const { r, utilisation } = run(enforcement, rule, { arrivals });
        const steady = steadyCompleted(r);
        const batch = steady.filter((c) => c.request.priority === 'batch').length / steady.length;
        expect(batch).toBeGreaterThanOrEqual(0.05);
        expect(batch).toBeLessThan(0.06);
        expect(utilisation).toBeGreaterThanOrEqual(goal[rule]);
      });

      /*
       * One tenant with 6,000 requests queued and three asking 10% of the limit each (a request of
       * ~125 tokens every 1.245 s), one class. Measured: each light tenant served 1.000 of its demand
       * with p99 waits of 148–183 ms (even pacing) and 221–341 ms (10 s and 1 s windows); the heavy
       * tenant takes the rest: 0.666–0.698 of the dispatched tokens (0.631–0.691 under short windows).
       */
      it(`given ${name} and ${rule} charges, then three light tenants get all they ask beside a heavy backlog and the heavy one the rest`, () => {
        const lightEveryMs = 1_245;
        const light = ['light-1', 'light-2', 'light-3'];
        const arrivals = [
          ...stream(6_000, { tenantId: 'heavy', priority: 'standard' }),
          ...light.flatMap((tenantId, i) =>
            stream(240, {
              tenantId,
              priority: 'standard',
              everyMs: lightEveryMs,
              startMs: 100 + i * 400,
              seed: 20 + i,
            }),
          ),
        ];
        const { r, utilisation } = run(enforcement, rule, { arrivals });
        // Demand that arrived before the last 10 s, served by the end.
        const cut = 290_000;
        const tokens = (rs: QueuedRequest[]) => rs.reduce((sum, q) => sum + q.tokens, 0);
        for (const tenantId of light) {
          const demand = tokens(arrivals.filter((a) => a.tenantId === tenantId && a.enqueuedAt < cut));
          const served = tokens(
            r.completed.map((c) => c.request).filter((q) => q.tenantId === tenantId && q.enqueuedAt < cut),
          );
          expect(served / demand).toBeGreaterThanOrEqual(0.95);
          expect(quantile(steadyWaits(r, tenantId, 'tenantId'), 0.99)).toBeLessThanOrEqual(waitBound);
        }
        const steady = steadyCompleted(r).map((c) => c.request);
        expect(tokens(steady.filter((q) => q.tenantId === 'heavy')) / tokens(steady)).toBeGreaterThanOrEqual(
          0.6,
        );
        expect(utilisation).toBeGreaterThanOrEqual(goal[rule]);
      });
    }
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
