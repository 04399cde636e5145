import { type ChatCompletionParams, createSluiceClient } from '@sluice/sdk';
import { closeLater, type SluiceUnderTest, startSluice } from '../contenders';
import type { Profile } from '../profile';

/** Which of the two cost levers are on. */
export type Levers = 'none' | 'cache' | 'batch API' | 'cache + batch API';
const LEVERS: readonly Levers[] = ['none', 'cache', 'batch API', 'cache + batch API'];

export interface CostRow {
  levers: Levers;
  requests: number;
  completed: number;
  /** Synchronous chat completions the upstream answered. */
  upstreamSyncCalls: number;
  /** Requests the upstream answered inside Batch API batches. */
  upstreamBatchLines: number;
  cacheHits: number;
  /** What Sluice billed the tenant for the whole workload, in integer micro-dollars. */
  costMicros: number;
  usdPer1000Requests: number;
  /** Cost relative to the same workload without levers, in the same run. */
  costVsNone: number;
  wallSeconds: number;
}

const MODEL = 'gpt-4o-mini';

/**
 * A job that classifies support tickets every night, in `waves` runs; a share of each night's tickets
 * repeat an earlier night's exactly (the same ticket re-queued, the same boilerplate question), sent
 * deterministically (`temperature: 0`) in the `batch` class. The same workload runs with each set
 * of levers, each as its own tenant; the bill is what Sluice's own usage report charges the tenant.
 */
export function costWorkload(profile: Profile) {
  const { requests, waves, repeatShare } = profile.cost;
  const perWave = Math.ceil(requests / waves);
  const bodies: ChatCompletionParams[][] = [];
  let fresh = 0;
  for (let w = 0; w < waves; w++) {
    const earlier = fresh;
    const wave: ChatCompletionParams[] = [];
    for (let i = 0; i < perWave && w * perWave + i < requests; i++) {
      // Deterministic spread: every 1/repeatShare-th request of a later night repeats an earlier ticket.
      const repeat = w > 0 && Math.floor((i + 1) * repeatShare) > Math.floor(i * repeatShare);
      const ticket = repeat ? (i * 7919) % earlier : fresh++;
      wave.push({
        model: MODEL,
        messages: [
          {
            role: 'user' as const,
            content: `Classify support ticket ${ticket} as billing, bug, feature or other. Ticket: the export to CSV on the reports page times out after the last update (${ticket}).`,
          },
        ],
        max_tokens: 40,
        temperature: 0,
      });
    }
    bodies.push(wave);
  }
  return bodies;
}

const tenantOf = (levers: Levers) => `nightly-jobs-${LEVERS.indexOf(levers)}`;

/**
 * The Sluice the cost scenario runs on: one tenant per set of levers. Started early by the benchmark,
 * since its start-up is mostly waiting on Kafka and overlaps the other scenarios.
 */
export function deployCost(profile: Profile): Promise<SluiceUnderTest> {
  return startSluice({
    mode: 'kafka',
    limits: { rpm: 1_000_000, tpm: 1_000_000_000 },
    enforcement: 'continuous',
    latency: profile.latency,
    tenants: LEVERS.map(tenantOf),
    batch: { completionDelayMs: profile.cost.batchCompletionMs, flushMs: 200, pollMs: 100 },
  });
}

export async function cost(
  profile: Profile,
  log: (line: string) => void,
  deployment: Promise<SluiceUnderTest> = deployCost(profile),
): Promise<CostRow[]> {
  const waves = costWorkload(profile);
  const total = waves.reduce((n, w) => n + w.length, 0);
  const rows: CostRow[] = [];
  // The tenants run one after the other: their caches are their own, and the simulator's counters are
  // read before and after each run.
  const sut = await deployment;
  try {
    for (const levers of LEVERS) {
      const tenant = tenantOf(levers);
      await configureLevers(sut, tenant, levers);
      const sluice = createSluiceClient({ url: sut.url, apiKey: sut.tenants.get(tenant)!.apiKey });
      const before = structuredClone(sut.sluice.simulator.stats());
      const started = Date.now();
      let completed = 0;
      for (const wave of waves) {
        const ids = await Promise.all(wave.map((body) => sluice.submit(body, { priority: 'batch' })));
        const outcomes = await Promise.all(ids.map(({ id }) => sluice.wait(id, { timeoutMs: 120_000 })));
        completed += outcomes.filter((o) => o.status === 'completed').length;
        // The next night starts once this one is in the store (and so in the cache): a caller hears of its
        // result as the event store records it, so the last records may land a moment after the answer.
        await recorded(sluice, completed);
      }
      const wallSeconds = (Date.now() - started) / 1000;
      const after = sut.sluice.simulator.stats();
      // The tenant's own report (what it is billed), from Sluice's rollups.
      const report = await recorded(sluice, completed);
      const costMicros = report.reduce((n, r) => n + r.costMicros, 0);
      const row: CostRow = {
        levers,
        requests: total,
        completed,
        upstreamSyncCalls: after.ok - before.ok,
        upstreamBatchLines: after.batch.linesOk - before.batch.linesOk,
        cacheHits: report.reduce((n, r) => n + r.cacheHits, 0),
        costMicros,
        usdPer1000Requests: costMicros / 1e6 / (total / 1000),
        costVsNone: Number.NaN,
        wallSeconds,
      };
      rows.push(row);
      log(
        `cost, levers ${levers}: ${completed}/${total} completed, ${row.upstreamSyncCalls} sync calls, ${row.upstreamBatchLines} batch lines, ${row.cacheHits} cache hits, $${(costMicros / 1e6).toFixed(6)}`,
      );
    }
  } finally {
    closeLater(() => sut.close());
  }
  const none = rows.find((r) => r.levers === 'none')?.costMicros ?? Number.NaN;
  for (const r of rows) r.costVsNone = r.costMicros / none;
  return rows;
}

/** The tenant's usage report once it counts `completed` completions (polled for up to 10 s). */
async function recorded(sluice: ReturnType<typeof createSluiceClient>, completed: number) {
  for (let tries = 0; ; tries++) {
    const report = await sluice.usage({ by: 'model' });
    if (report.reduce((n, r) => n + r.completed, 0) >= completed || tries >= 100) return report;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function configureLevers(sut: SluiceUnderTest, tenant: string, levers: Levers): Promise<void> {
  if (levers.includes('cache'))
    await admin(sut, 'admin.tenants.cache.set', { tenant, enabled: true, ttlSeconds: 7 * 24 * 3600 });
  if (levers.includes('batch API')) await admin(sut, 'admin.tenants.batchApi', { tenant, enabled: true });
}

/** One admin tRPC mutation over HTTP with the Sluice's admin key (the SDK is for tenants). */
async function admin(sut: SluiceUnderTest, path: string, input: unknown) {
  const headers = { authorization: `Bearer ${sut.sluice.adminKey}`, 'content-type': 'application/json' };
  const res = await fetch(`${sut.url}/trpc/${path}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(input),
  });
  if (!res.ok) throw new Error(`${path} failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { result: { data: unknown } }).result.data;
}
