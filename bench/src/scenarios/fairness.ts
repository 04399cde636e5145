import type { RunningSimulator } from '@sluice/openai-simulator';
import {
  closeLater,
  exhaustQuota,
  type Outcome,
  runDirect,
  runViaSluice,
  startSimulator,
  startSluice,
  submitBacklog,
} from '../contenders';
import type { Profile } from '../profile';
import { bindingRate, sleep } from '../workload';

export interface FairnessTenant {
  tenant: string;
  demandPerSecond: number | 'backlog';
  servedPerSecond: number;
  fairPerSecond: number;
  ratio: number;
}

export interface FairnessRow {
  enforcement: string;
  contender: 'Sluice' | 'openai SDK, maxRetries 2 (default)';
  heavyBacklog: number;
  windowSeconds: number;
  tenants: FairnessTenant[];
  worstRatio: number;
  goal?: boolean;
}

/** Max-min fair shares of `capacity` between finite demands and one unbounded (backlog) demand. */
export function maxMinFair(capacity: number, demands: ReadonlyArray<number>): number[] {
  const share = demands.map(() => 0);
  let left = capacity;
  let open = demands.map((_, i) => i);
  while (open.length > 0 && left > 1e-9) {
    const each = left / open.length;
    const satisfied = open.filter((i) => demands[i]! - share[i]! <= each);
    if (satisfied.length === 0) {
      for (const i of open) share[i]! += each;
      left = 0;
      break;
    }
    for (const i of satisfied) {
      left -= demands[i]! - share[i]!;
      share[i] = demands[i]!;
    }
    open = open.filter((i) => !satisfied.includes(i));
  }
  return share;
}

/**
 * One tenant with a big backlog and light tenants at a steady rate, all in the same priority
 * class. Served rates are counted over the window the light tenants run (their completions from
 * the client, the heavy tenant's as the rest of what the upstream admitted meanwhile).
 */
export async function fairness(profile: Profile, log: (line: string) => void): Promise<FairnessRow[]> {
  const { limits, latency } = profile;
  const { heavyBacklog, lightTenants, lightShareOfLimit, seconds } = profile.fairness;
  const lightRate = bindingRate(limits).perSecond * lightShareOfLimit;
  const lightNames = Array.from({ length: lightTenants }, (_, i) => `light-${i + 1}`);
  const lightRequests = Math.round(lightRate * seconds);
  const rows: FairnessRow[] = [];

  const measure = async (
    sim: RunningSimulator,
    runLight: (signal: AbortSignal) => Promise<Outcome[]>,
  ): Promise<{ window: number; tenants: FairnessTenant[] }> => {
    // The window opens after the first skipFirst seconds of light traffic and closes with its last send.
    const t0 = Date.now();
    const from = t0 + profile.skipFirst * 1000;
    const to = t0 + seconds * 1000;
    let okAtFrom = 0;
    let okAtTo = 0;
    const marks = [
      sleep(from - Date.now()).then(() => {
        okAtFrom = sim.stats().ok;
      }),
      sleep(to - Date.now()).then(() => {
        okAtTo = sim.stats().ok;
      }),
    ];
    // Light requests still unanswered a few seconds after the window are abandoned: they were not served.
    const abandon = new AbortController();
    const timer = setTimeout(() => abandon.abort(), to - Date.now() + 3_000);
    const outcomes = await runLight(abandon.signal);
    clearTimeout(timer);
    await Promise.all(marks);
    const window = (to - from) / 1000;
    // A light request counts where the upstream answered it: just before the client saw the answer.
    const servedLight = lightNames.map(
      (n) => outcomes.filter((o) => o.tenant === n && o.ok && o.endedAt >= from && o.endedAt < to).length,
    );
    const total = okAtTo - okAtFrom;
    const servedHeavy = Math.max(0, total - servedLight.reduce((a, b) => a + b, 0));
    const demands = [...lightNames.map(() => lightRate * window), Number.POSITIVE_INFINITY];
    const fair = maxMinFair(total, demands);
    const served = [...servedLight, servedHeavy];
    const names = [...lightNames, 'heavy'];
    return {
      window,
      tenants: names.map((tenant, i) => ({
        tenant,
        demandPerSecond: tenant === 'heavy' ? 'backlog' : lightRate,
        servedPerSecond: served[i]! / window,
        fairPerSecond: fair[i]! / window,
        ratio: fair[i]! > 0 ? served[i]! / fair[i]! : Number.NaN,
      })),
    };
  };

  for (const enforcement of ['continuous', 'quantized'] as const) {
    // Sluice starts (Kafka topics, consumer group joins: seconds of waiting) while the baseline runs.
    const sluiceStarting = startSluice({
      mode: 'kafka',
      limits,
      enforcement,
      latency,
      tenants: ['heavy', ...lightNames],
    });
    sluiceStarting.catch(() => {});
    const sim = await startSimulator(limits, enforcement, latency);
    try {
      await exhaustQuota(sim.url, 'sk-org-shared-quota', limits);
      let done = false;
      const heavy = runDirect({
        sim,
        maxRetries: 2,
        tenants: [{ name: 'heavy', requests: heavyBacklog, concurrency: profile.saturation.tenants * 8 }],
        until: () => done,
      });
      await sleep(500);
      const m = await measure(sim, () =>
        runDirect({
          sim,
          maxRetries: 2,
          tenants: lightNames.map((name) => ({
            name,
            requests: lightRequests,
            concurrency: lightRequests,
            ratePerSecond: lightRate,
          })),
        }),
      );
      done = true;
      await heavy;
      rows.push({
        enforcement,
        contender: 'openai SDK, maxRetries 2 (default)',
        heavyBacklog,
        windowSeconds: m.window,
        tenants: m.tenants,
        worstRatio: Math.min(...m.tenants.map((t) => t.ratio)),
      });
      log(
        `fairness ${enforcement} direct SDK: ${m.tenants.map((t) => `${t.tenant} ${t.servedPerSecond.toFixed(1)}/s (fair ${t.fairPerSecond.toFixed(1)})`).join(', ')}`,
      );
    } finally {
      await sim.close();
    }

    const sut = await sluiceStarting;
    try {
      await exhaustQuota(sut.sluice.simulator.url, sut.upstreamKey, limits);
      await submitBacklog({
        sut,
        tenant: 'heavy',
        requests: heavyBacklog,
        priority: 'standard',
        concurrency: 64,
      });
      const m = await measure(sut.sluice.simulator, (signal) =>
        runViaSluice({
          sut,
          signal,
          tenants: lightNames.map((name) => ({ name, requests: lightRequests, ratePerSecond: lightRate })),
        }),
      );
      const worst = Math.min(...m.tenants.map((t) => t.ratio));
      rows.push({
        enforcement,
        contender: 'Sluice',
        heavyBacklog,
        windowSeconds: m.window,
        tenants: m.tenants,
        worstRatio: worst,
        goal: worst >= 0.95,
      });
      log(
        `fairness ${enforcement} Sluice: ${m.tenants.map((t) => `${t.tenant} ${t.servedPerSecond.toFixed(1)}/s (fair ${t.fairPerSecond.toFixed(1)})`).join(', ')}`,
      );
    } finally {
      closeLater(() => sut.close());
    }
  }
  return rows;
}
