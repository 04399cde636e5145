import { type Enforcement, enforcementFamily } from '@sluice/openai-simulator';
import {
  CONTENDERS,
  closeLater,
  exhaustQuota,
  type Outcome,
  runDirect,
  runViaSluice,
  type SimulatorVariant,
  startSimulator,
  startSluice,
} from '../contenders';
import type { Profile } from '../profile';
import {
  bindingRate,
  type Limits,
  type Second,
  snapshot,
  steadyUtilisation,
  upstreamSince,
} from '../workload';
import { dailyLimit, limitChange, twoModelsOneLimit } from './saturation-shapes';

export interface SaturationRow {
  /** The variant: enforcement family, prompt-cost rule and evidence faults (`continuous` and `quantized` charge chars/4). */
  enforcement: string;
  contender: string;
  requests: number;
  completed: number;
  failed: number;
  upstreamAttempts: number;
  upstream429s: number;
  share429: number;
  wallSeconds: number;
  /** Completed requests per second over the whole run, as a fraction of the binding limit. */
  wholeRunUtilisation: number;
  steadyUtilisation: number;
  steadySeconds: number;
  /** Sluice's goals: steady ≥ 0.99 of the limit (in force), ≤ 0.1 % 429s, a new limit used within a minute. */
  goals?: { steady: boolean; rateLimits: boolean; adoption?: boolean };
  timeline: Second[];
  /** `limit change`: the limits before and after, utilisation against each, seconds to use the new one. */
  limitChange?: {
    before: Limits;
    after: Limits;
    changeAtSecond: number;
    utilisationBefore: number;
    utilisationAfter: number;
    /** Seconds from the change until the throughput held ≥ 0.95 of the new limit for 3 s (NaN: never in the run). */
    adoptionSeconds: number;
  };
  /** `two models, one limit`: each model's part (utilisation is of the one shared limit). */
  models?: Array<{ model: string; completed: number; upstream429s: number; steadyUtilisation: number }>;
  /** `daily limit`: the day's figures; `steadyUtilisation` is then the utilisation until the day ran out. */
  daily?: {
    tpd: number;
    /** Tokens of the day left when the run started (the rest was spent by the day's earlier traffic). */
    leftAtStart: number;
    /** Requests per second the day's refill admits (tpd / 86,400 s / the request's charge). */
    refillPerSecond: number;
    dailyRateLimited: number;
    exhaustedAtSecond: number;
    interactiveAfter: number;
    interactiveAnsweredAfter: number;
    interactiveLatencyP50Ms: number;
    batchPerSecondAfter: number;
    /** Sluice's: about one 429 to learn it (≤ 3), every interactive request answered, batch ≤ the refill. */
    goals?: { rateLimits: boolean; interactive: boolean; batch: boolean };
  };
}

/**
 * The upstream's ways of enforcing the per-minute limit (issue 22), each under both prompt-cost
 * rules (OpenAI's chars/4 and the exact token count), plus evidence that is missing or late. The
 * first two keep their historic names (chars/4) for the report's charts.
 */
export const SATURATION_VARIANTS: ReadonlyArray<{
  name: string;
  enforcement: Enforcement;
  simulator?: SimulatorVariant;
  /** A workload of its own (`saturation-shapes.ts`) instead of one backlog against fixed limits. */
  shape?: typeof limitChange;
}> = [
  { name: 'continuous', enforcement: 'continuous' },
  { name: 'quantized', enforcement: 'quantized' },
  { name: 'bucket 60s, exact tokens', enforcement: 'continuous', simulator: { promptCharge: 'tokens' } },
  { name: 'windows 1s, exact tokens', enforcement: 'quantized', simulator: { promptCharge: 'tokens' } },
  { name: 'bucket 1s, chars/4', enforcement: { kind: 'bucket', capacityMs: 1_000 } },
  {
    name: 'bucket 1s, exact tokens',
    enforcement: { kind: 'bucket', capacityMs: 1_000 },
    simulator: { promptCharge: 'tokens' },
  },
  { name: 'bucket 0.25s, chars/4', enforcement: { kind: 'bucket', capacityMs: 250 } },
  {
    name: 'bucket 0.25s, exact tokens',
    enforcement: { kind: 'bucket', capacityMs: 250 },
    simulator: { promptCharge: 'tokens' },
  },
  { name: 'windows 10s, chars/4', enforcement: { kind: 'windows', windowMs: 10_000 } },
  {
    name: 'windows 10s, exact tokens',
    enforcement: { kind: 'windows', windowMs: 10_000 },
    simulator: { promptCharge: 'tokens' },
  },
  { name: 'bucket 60s, headers 1 s late', enforcement: 'continuous', simulator: { headerLagMs: 1_000 } },
  { name: 'bucket 60s, 30% without headers', enforcement: 'continuous', simulator: { headerDropRate: 0.3 } },
  // Issue 22's changes of the upstream: a tier upgrade mid-run, two models on one limit, a daily limit.
  { name: 'limit change', enforcement: 'continuous', shape: limitChange },
  { name: 'two models, one limit', enforcement: 'continuous', shape: twoModelsOneLimit },
  { name: 'daily limit', enforcement: 'continuous', shape: dailyLimit },
];

/**
 * The variants named, comma-separated (as `--variants` or `BENCH_VARIANTS` gives them), all when
 * absent. Names may hold commas themselves (`bucket 1s, chars/4`): the longest known name wins.
 */
export function selectVariants(names: string | undefined): typeof SATURATION_VARIANTS {
  if (!names?.trim()) return SATURATION_VARIANTS;
  const pieces = names
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const known = new Set(SATURATION_VARIANTS.map((v) => v.name));
  const wanted = new Set<string>();
  const unknown: string[] = [];
  for (let i = 0; i < pieces.length; ) {
    let end = pieces.length;
    while (end > i && !known.has(pieces.slice(i, end).join(', '))) end--;
    if (end === i) unknown.push(pieces[i++]!);
    else {
      wanted.add(pieces.slice(i, end).join(', '));
      i = end;
    }
  }
  if (unknown.length)
    throw new Error(
      `unknown saturation variant(s) ${unknown.map((n) => `"${n}"`).join(', ')}; known: ${[...known].map((n) => `"${n}"`).join(', ')}`,
    );
  return SATURATION_VARIANTS.filter((v) => wanted.has(v.name));
}

/** N tenants push a backlog far larger than what the quota admits during the run. */
export async function saturation(
  profile: Profile,
  log: (line: string) => void,
  /** Work started elsewhere (other processes starting up) that must be over before Sluice is measured. */
  quietAfter?: Promise<unknown>,
  variants: typeof SATURATION_VARIANTS = SATURATION_VARIANTS,
): Promise<SaturationRow[]> {
  const { limits, latency } = profile;
  const { tenants, requests, directConcurrencyPerTenant } = profile.saturation;
  const perTenant = Math.ceil(requests / tenants);
  const names = Array.from({ length: tenants }, (_, i) => `tenant-${i + 1}`);
  const rows: SaturationRow[] = [];
  for (const variant of variants) {
    if (variant.shape) {
      rows.push(...(await variant.shape(variant.name, profile, log, quietAfter)));
      continue;
    }
    const { enforcement: family, name: enforcement } = variant;
    const simulator = variant.simulator ?? {};
    // The drain spends what a bucket holds (a minute's worth through a 1 s bucket would overdraw
    // it for a minute). Windows have no burst to skip, and a drain would only block the rest of its
    // window (seconds of idling for 10 s windows): they start undrained.
    const held = enforcementFamily(family);
    const drain = held.kind === 'bucket' ? (limits.tpm * held.capacityMs) / 60_000 : undefined;
    // Sluice starts (Kafka topics, consumer group joins: seconds of waiting) while the direct contenders run.
    const sluiceStarting = startSluice({
      mode: 'kafka',
      limits,
      enforcement: family,
      simulator,
      latency,
      tenants: names,
    });
    sluiceStarting.catch(() => {});
    for (const contender of CONTENDERS) {
      let outcomes: Outcome[];
      let t0: number;
      let upstream: ReturnType<typeof upstreamSince>;
      if (contender === 'Sluice') {
        const sut = await sluiceStarting;
        await quietAfter?.catch(() => {});
        try {
          if (drain) await exhaustQuota(sut.sluice.simulator.url, sut.upstreamKey, limits, undefined, drain);
          const before = snapshot(sut.sluice.simulator.stats());
          t0 = Date.now();
          outcomes = await runViaSluice({
            sut,
            tenants: names.map((name) => ({ name, requests: perTenant, priority: 'batch' as const })),
          });
          upstream = upstreamSince(before, sut.sluice.simulator.stats());
        } finally {
          closeLater(() => sut.close());
        }
      } else {
        const sim = await startSimulator(limits, family, latency, simulator);
        try {
          if (drain) await exhaustQuota(sim.url, 'sk-org-shared-quota', limits, undefined, drain);
          const before = snapshot(sim.stats());
          t0 = Date.now();
          outcomes = await runDirect({
            sim,
            maxRetries: contender.includes('10') ? 10 : 2,
            tenants: names.map((name) => ({
              name,
              requests: perTenant,
              concurrency: directConcurrencyPerTenant,
            })),
          });
          upstream = upstreamSince(before, sim.stats());
        } finally {
          await sim.close();
        }
      }
      const completed = outcomes.filter((o) => o.ok).length;
      const wallSeconds = (Math.max(...outcomes.map((o) => o.endedAt)) - t0) / 1000;
      const steady = steadyUtilisation(upstream.seconds, limits, profile.skipFirst, profile.skipLast);
      const share429 = upstream.rateLimited / Math.max(1, upstream.attempts);
      const row: SaturationRow = {
        enforcement,
        contender,
        requests: outcomes.length,
        completed,
        failed: outcomes.length - completed,
        upstreamAttempts: upstream.attempts,
        upstream429s: upstream.rateLimited,
        share429,
        wallSeconds,
        wholeRunUtilisation: completed / wallSeconds / bindingRate(limits).perSecond,
        steadyUtilisation: steady.utilisation,
        steadySeconds: steady.seconds,
        timeline: upstream.seconds,
        ...(contender === 'Sluice'
          ? { goals: { steady: steady.utilisation >= 0.99, rateLimits: share429 <= 0.001 } }
          : {}),
      };
      rows.push(row);
      log(
        `saturation ${enforcement} ${contender}: ${completed}/${outcomes.length} completed, ${upstream.rateLimited} 429s of ${upstream.attempts} attempts, ${wallSeconds.toFixed(1)} s, steady ${steady.utilisation.toFixed(3)} of the limit`,
      );
    }
  }
  return rows;
}
