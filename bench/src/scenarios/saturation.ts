import { type Enforcement, enforcementFamily } from '@sluice/openai-simulator';
import {
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
import { bindingRate, type Second, snapshot, steadyUtilisation, upstreamSince } from '../workload';

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
  goals?: { steady: boolean; rateLimits: boolean };
  timeline: Second[];
}

export const CONTENDERS = [
  'openai SDK, maxRetries 2 (default)',
  'openai SDK, maxRetries 10',
  'Sluice',
] as const;

/**
 * The upstream's ways of enforcing the per-minute limit (issue 22), each under both prompt-cost
 * rules (OpenAI's chars/4 and the exact token count), plus evidence that is missing or late. The
 * first two keep their historic names (chars/4) for the report's charts.
 */
export const SATURATION_VARIANTS: ReadonlyArray<{
  name: string;
  enforcement: Enforcement;
  simulator?: SimulatorVariant;
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
];

/** N tenants push a backlog far larger than what the quota admits during the run. */
export async function saturation(
  profile: Profile,
  log: (line: string) => void,
  /** Work started elsewhere (other processes starting up) that must be over before Sluice is measured. */
  quietAfter?: Promise<unknown>,
): Promise<SaturationRow[]> {
  const { limits, latency } = profile;
  const { tenants, requests, directConcurrencyPerTenant } = profile.saturation;
  const perTenant = Math.ceil(requests / tenants);
  const names = Array.from({ length: tenants }, (_, i) => `tenant-${i + 1}`);
  const rows: SaturationRow[] = [];
  for (const variant of SATURATION_VARIANTS) {
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
