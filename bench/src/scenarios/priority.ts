import {
  closeLater,
  exhaustQuota,
  queueWaitMs,
  runDirect,
  runViaSluice,
  startSimulator,
  startSluice,
  submitBacklog,
} from '../contenders';
import type { Profile } from '../profile';
import { percentile, refillIntervalMs, sleep, snapshot, steadyUtilisation, upstreamSince } from '../workload';

export interface PriorityRow {
  enforcement: string;
  contender: 'Sluice' | 'openai SDK, maxRetries 10';
  batchBacklog: number;
  interactive: number;
  interactiveFailed: number;
  /** Broker-recorded queue wait (log append → dispatch); Sluice only. */
  queueWaitP50Ms: number;
  queueWaitP99Ms: number;
  /** Client-observed latency of the interactive requests. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  refillIntervalMs: number;
  /** Upstream use while the interactive trickle ran: proves the batch backlog kept the quota saturated. */
  utilisationDuringTrickle: number;
  goal?: boolean;
}

/**
 * A saturating batch backlog plus a steady trickle of interactive requests. Baseline: the same
 * two workloads calling the upstream directly (batch at fixed concurrency, both with maxRetries 10).
 */
export async function priority(profile: Profile, log: (line: string) => void): Promise<PriorityRow[]> {
  const { limits, latency } = profile;
  const { backlogs, interactivePerSecond, seconds } = profile.priority;
  const interactive = Math.round(interactivePerSecond * seconds);
  const refill = refillIntervalMs(limits);
  const rows: PriorityRow[] = [];
  for (const enforcement of ['continuous', 'quantized'] as const) {
    // Sluice starts (Kafka topics, consumer group joins: seconds of waiting) while the baseline runs.
    const sluiceStarting = startSluice({
      mode: 'kafka',
      limits,
      enforcement,
      latency,
      tenants: ['batch-tenant', 'interactive-tenant'],
    });
    sluiceStarting.catch(() => {});
    // Baseline: what users do today, same shapes of traffic, no broker.
    const sim = await startSimulator(limits, enforcement, latency);
    try {
      await exhaustQuota(sim.url, 'sk-org-shared-quota', limits);
      let trickleDone = false;
      const batch = runDirect({
        sim,
        maxRetries: 10,
        tenants: [
          { name: 'batch-tenant', requests: backlogs[0], concurrency: profile.saturation.tenants * 8 },
        ],
        until: () => trickleDone,
      });
      await sleep(1_000);
      const before = snapshot(sim.stats());
      const outcomes = await runDirect({
        sim,
        maxRetries: 10,
        tenants: [
          {
            name: 'interactive-tenant',
            requests: interactive,
            concurrency: interactive,
            ratePerSecond: interactivePerSecond,
          },
        ],
      });
      trickleDone = true;
      const upstream = upstreamSince(before, sim.stats());
      await batch;
      const ok = outcomes.filter((o) => o.ok);
      const latencies = ok.map((o) => o.endedAt - o.startedAt);
      const row: PriorityRow = {
        enforcement,
        contender: 'openai SDK, maxRetries 10',
        batchBacklog: backlogs[0],
        interactive: outcomes.length,
        interactiveFailed: outcomes.length - ok.length,
        queueWaitP50Ms: Number.NaN,
        queueWaitP99Ms: Number.NaN,
        latencyP50Ms: percentile(latencies, 50),
        latencyP99Ms: percentile(latencies, 99),
        refillIntervalMs: refill,
        utilisationDuringTrickle: steadyUtilisation(upstream.seconds, limits, 0, 1).utilisation,
      };
      rows.push(row);
      log(
        `priority ${enforcement} direct SDK: interactive latency p50 ${row.latencyP50Ms.toFixed(0)} ms, p99 ${row.latencyP99Ms.toFixed(0)} ms, ${row.interactiveFailed} failed`,
      );
    } finally {
      await sim.close();
    }

    // One Sluice per enforcement: the second, larger backlog is topped up from what the first left queued.
    const sut = await sluiceStarting;
    try {
      await exhaustQuota(sut.sluice.simulator.url, sut.upstreamKey, limits);
      const sim = sut.sluice.simulator;
      const okAtStart = sim.stats().ok;
      let submitted = 0;
      let interactiveOk = 0;
      for (const batchBacklog of backlogs) {
        const queued = submitted - (sim.stats().ok - okAtStart - interactiveOk);
        const topUp = Math.max(0, batchBacklog - queued);
        await submitBacklog({
          sut,
          tenant: 'batch-tenant',
          requests: topUp,
          priority: 'batch',
          firstIndex: submitted,
        });
        submitted += topUp;
        await sleep(500); // the batch class is flowing at the limit before the first interactive request
        const before = snapshot(sim.stats());
        const outcomes = await runViaSluice({
          sut,
          timeoutMs: 60_000,
          tenants: [
            {
              name: 'interactive-tenant',
              requests: interactive,
              priority: 'interactive',
              ratePerSecond: interactivePerSecond,
              firstIndex: submitted,
            },
          ],
        });
        const upstream = upstreamSince(before, sim.stats());
        const ok = outcomes.filter((o) => o.ok && o.requestId);
        interactiveOk += ok.length;
        const waits: number[] = [];
        for (const o of ok) {
          const w = await queueWaitMs(sut, o.tenant, o.requestId!);
          if (w !== null) waits.push(w);
        }
        const latencies = ok.map((o) => o.endedAt - o.startedAt);
        const row: PriorityRow = {
          enforcement,
          contender: 'Sluice',
          batchBacklog,
          interactive: outcomes.length,
          interactiveFailed: outcomes.length - ok.length,
          queueWaitP50Ms: percentile(waits, 50),
          queueWaitP99Ms: percentile(waits, 99),
          latencyP50Ms: percentile(latencies, 50),
          latencyP99Ms: percentile(latencies, 99),
          refillIntervalMs: refill,
          utilisationDuringTrickle: steadyUtilisation(upstream.seconds, limits, 0, 1).utilisation,
          goal: percentile(waits, 99) <= refill && ok.length === outcomes.length,
        };
        rows.push(row);
        const errors = [...new Set(outcomes.map((o) => o.error).filter(Boolean))].slice(0, 3);
        log(
          `priority ${enforcement} Sluice backlog ${batchBacklog}: interactive queue wait p50 ${row.queueWaitP50Ms.toFixed(1)} ms, p99 ${row.queueWaitP99Ms.toFixed(1)} ms (refill interval ${refill.toFixed(1)} ms), latency p99 ${row.latencyP99Ms.toFixed(0)} ms, upstream use ${row.utilisationDuringTrickle.toFixed(3)}${errors.length ? `; errors: ${errors.join(' | ')}` : ''}`,
        );
      }
    } finally {
      closeLater(() => sut.close());
    }
  }
  return rows;
}
