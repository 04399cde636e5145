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

// ---- service tiers: the same deadline-tagged workload four ways ----

/** How the tier is chosen: never (default tier only), flex for everything, the Batch API where the deadline allows, or Sluice's choice. */
export type TierWay = 'default only' | 'flex' | 'batch API' | 'auto';
const TIER_WAYS: readonly TierWay[] = ['default only', 'flex', 'batch API', 'auto'];
const TIER_MODEL = 'gpt-5-mini';

export interface TierCostRow {
  way: TierWay;
  requests: number;
  completed: number;
  /** Requests not completed by their deadline (failed, cancelled, answered after it, or never heard of). */
  deadlineMisses: number;
  /** Of the misses, requests whose caller's call failed (a dropped connection): the outcome was never heard. */
  callerErrors: number;
  /** Spend by tier as the tenant's report bills it (`default`, `flex`, `batch`, …), integer micro-dollars. */
  costByTier: Record<string, number>;
  costMicros: number;
  usdPer1000Requests: number;
  /** Cost relative to the default tier only, in the same run. */
  costVsDefault: number;
  /** Flex refusals for lack of capacity, retried by Sluice (not counted as rate limits). */
  flexUnavailable: number;
  wallSeconds: number;
}

/** The tier scenario's knobs, derived from the profile so `--quick` stays quick. */
export function tierWorkloadShape(profile: Profile) {
  return {
    requests: profile.cost.requests,
    /**
     * Shares of the workload by deadline: batch-class work due in 48 h and in 10 minutes, and
     * interactive requests due within seconds (a person waits).
     */
    mix: { day: 0.4, minutes: 0.5, urgent: 0.1 },
    deadlinesMs: {
      day: 48 * 3_600_000,
      minutes: 600_000,
      urgent: Math.max(5_000, 15 * (profile.latency.baseMs ?? 100)),
    },
    /** Flex answers this many times slower than the default tier, and refuses this share for lack of capacity. */
    flexSlowdown: 40,
    flexUnavailableRate: 0.1,
    /** Sluice uses flex only while at least this long remains before the deadline. */
    flexMinLeadMs: 30_000,
  };
}

interface TierJob {
  body: ChatCompletionParams;
  priority: 'interactive' | 'batch';
  deadlineMs: number;
}

/** Deterministic: of every ten requests, one is urgent (interactive), four are due in a day, five in minutes. */
export function tierWorkload(profile: Profile): TierJob[] {
  const shape = tierWorkloadShape(profile);
  const jobs: TierJob[] = [];
  for (let i = 0; i < shape.requests; i++) {
    const slot = i % 10;
    const kind = slot === 0 ? 'urgent' : slot <= 4 ? 'day' : 'minutes';
    jobs.push({
      deadlineMs: shape.deadlinesMs[kind],
      priority: kind === 'urgent' ? 'interactive' : 'batch',
      body: {
        model: TIER_MODEL,
        messages: [
          {
            role: 'user' as const,
            content:
              kind === 'urgent'
                ? `Is order ${i} shipped? Answer yes or no.`
                : `Summarise customer review ${i} in one sentence and tag its sentiment: the app is fast but the export to CSV on the reports page times out after the last update (${i}).`,
          },
        ],
        max_completion_tokens: kind === 'urgent' ? 10 : 60,
      },
    });
  }
  return jobs;
}

const TIER_CONCURRENCY = 100;

/** `fn` over `items` with at most `limit` running at once, results in order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const tierTenantOf = (way: TierWay) => `deadlines-${TIER_WAYS.indexOf(way)}`;

export async function tierCost(profile: Profile, log: (line: string) => void): Promise<TierCostRow[]> {
  const shape = tierWorkloadShape(profile);
  const jobs = tierWorkload(profile);
  const sut = await startSluice({
    mode: 'kafka',
    limits: { rpm: 1_000_000, tpm: 1_000_000_000 },
    enforcement: 'continuous',
    latency: profile.latency,
    tenants: TIER_WAYS.map(tierTenantOf),
    batch: { completionDelayMs: profile.cost.batchCompletionMs, flushMs: 200, pollMs: 100 },
    tiers: {
      simulator: { flex: { slowdown: shape.flexSlowdown, unavailableRate: shape.flexUnavailableRate } },
      flexMinLeadMs: shape.flexMinLeadMs,
    },
  });
  const rows: TierCostRow[] = [];
  try {
    for (const way of TIER_WAYS) {
      const tenant = tierTenantOf(way);
      if (way === 'flex') await admin(sut, 'admin.tenants.tiers', { tenant, flex: 'allow', fallback: false });
      if (way === 'batch API' || way === 'auto')
        await admin(sut, 'admin.tenants.batchApi', { tenant, enabled: true });
      if (way === 'auto') await admin(sut, 'admin.tenants.tiers', { tenant, flex: 'auto', fallback: true });
      const sluice = createSluiceClient({ url: sut.url, apiKey: sut.tenants.get(tenant)!.apiKey });
      const refusedBefore = sut.sluice.simulator.stats().flexUnavailable;
      const started = Date.now();
      // At most `TIER_CONCURRENCY` callers wait at once (one process's connections per client are bounded).
      const outcomes = await mapLimited(jobs, TIER_CONCURRENCY, async (job) => {
        try {
          const body =
            way === 'flex'
              ? ({ ...(job.body as object), service_tier: 'flex' } as ChatCompletionParams)
              : job.body;
          const { id } = await sluice.submit(body, { priority: job.priority, timeoutMs: job.deadlineMs });
          const view = await sluice.wait(id, { timeoutMs: Math.min(job.deadlineMs + 30_000, 600_000) });
          const doneAt = view.completedAt ? Date.parse(view.completedAt) : Number.POSITIVE_INFINITY;
          return {
            completed: view.status === 'completed',
            late: doneAt > Date.parse(view.submittedAt) + job.deadlineMs,
            error: false,
          };
        } catch (error) {
          // The caller never heard (a dropped connection): counted as a miss, and reported apart.
          log(`tiers, ${way}: a request's caller failed: ${(error as Error).message}`);
          return { completed: false, late: true, error: true };
        }
      });
      const completed = outcomes.filter((o) => o.completed).length;
      const report = await recorded(sluice, completed);
      const costByTier: Record<string, number> = {};
      for (const r of await sluice.usage({ by: 'tier' }))
        if (r.costMicros > 0) costByTier[r.tier] = (costByTier[r.tier] ?? 0) + r.costMicros;
      const costMicros = report.reduce((n, r) => n + r.costMicros, 0);
      const row: TierCostRow = {
        way,
        requests: jobs.length,
        completed,
        deadlineMisses: outcomes.filter((o) => !o.completed || o.late).length,
        callerErrors: outcomes.filter((o) => o.error).length,
        costByTier,
        costMicros,
        usdPer1000Requests: costMicros / 1e6 / (jobs.length / 1000),
        costVsDefault: Number.NaN,
        flexUnavailable: sut.sluice.simulator.stats().flexUnavailable - refusedBefore,
        wallSeconds: (Date.now() - started) / 1000,
      };
      rows.push(row);
      log(
        `tiers, ${way}: ${completed}/${jobs.length} completed, ${row.deadlineMisses} deadline misses, $${row.usdPer1000Requests.toFixed(4)} per 1,000 requests (${Object.entries(
          costByTier,
        )
          .map(([t, c]) => `${t} $${(c / 1e6).toFixed(6)}`)
          .join(', ')}), ${row.flexUnavailable} flex refusals retried`,
      );
    }
  } finally {
    closeLater(() => sut.close());
  }
  const base = rows.find((r) => r.way === 'default only')?.costMicros ?? Number.NaN;
  for (const r of rows) r.costVsDefault = r.costMicros / base;
  return rows;
}
