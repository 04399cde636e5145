import { PRIORITIES } from '@sluice/events';
import { sql } from 'drizzle-orm';
import type { SluiceDb } from '../db/database';
import { rowsOf } from '../db/database';
import { collectStatus } from '../observability/status-store';
import type { UsageReports } from '../reports/usage-report';
import { type PoolConfig, poolForModel } from '../upstream/pools';

export interface DashboardQuery {
  /** How far back the charts go. Up to 72 hours is charted per hour, longer per day. */
  hours: number;
}

export interface DashboardData {
  generatedAt: string;
  from: string;
  to: string;
  by: 'hour' | 'day';
  periods: string[];
  /** Per tenant, one point per period (zero where nothing happened). */
  tenants: Array<{
    tenantId: string;
    name: string;
    requests: number[];
    tokens: number[];
    costMicros: number[];
    totalCostMicros: number;
  }>;
  /** Open requests the store knows of, by priority and status. */
  queueDepth: Array<{ priority: string; queued: number; dispatched: number; retrying: number }>;
  /** Average tokens and requests per minute per model and period, against the pool's declared limit. */
  quota: Array<{
    model: string;
    pool: string;
    tpmLimit: number | null;
    rpmLimit: number | null;
    tokensPerMinute: number[];
    requestsPerMinute: number[];
    /** Peak over the range of tokens per minute / tpmLimit (0..1+), null when no limit is known. */
    peakUtilisation: number | null;
  }>;
  /** Right now, from the live dispatchers' heartbeats: limits learned from the upstream and their use. */
  live: Array<{
    dispatcherId: string;
    pool: string;
    model: string;
    learned: boolean;
    rpmLimit: number | null;
    tpmLimit: number | null;
    rpmUtilisation: number;
    tpmUtilisation: number;
    pausedForMs: number;
  }>;
}

/** What the dashboard draws: from the rollups and the request projection, never raw events. */
export async function dashboardData(
  deps: { db: SluiceDb; reports: UsageReports; pools: readonly PoolConfig[]; now: Date },
  q: DashboardQuery,
): Promise<DashboardData> {
  const by = q.hours <= 72 ? 'hour' : 'day';
  const step = by === 'hour' ? 3_600_000 : 86_400_000;
  const to = new Date(Math.floor(deps.now.getTime() / step) * step + step);
  const from = new Date(to.getTime() - Math.ceil((q.hours * 3_600_000) / step) * step);
  const periods: string[] = [];
  for (let t = from.getTime(); t < to.getTime(); t += step) {
    const iso = new Date(t).toISOString();
    periods.push(by === 'hour' ? `${iso.slice(0, 13)}:00:00Z` : iso.slice(0, 10));
  }
  const index = new Map(periods.map((p, i) => [p, i]));
  const rows = await deps.reports.report({ from, to, by });

  const tenants = new Map<string, DashboardData['tenants'][number]>();
  const models = new Map<string, { tokens: number[]; requests: number[] }>();
  const zeros = () => new Array<number>(periods.length).fill(0);
  for (const r of rows) {
    const i = index.get(r.period);
    if (i === undefined) continue;
    let t = tenants.get(r.tenantId);
    if (!t) {
      t = {
        tenantId: r.tenantId,
        name: r.tenantName ?? r.tenantId,
        requests: zeros(),
        tokens: zeros(),
        costMicros: zeros(),
        totalCostMicros: 0,
      };
      tenants.set(r.tenantId, t);
    }
    t.requests[i]! += r.requests;
    t.tokens[i]! += r.promptTokens + r.completionTokens;
    t.costMicros[i]! += r.costMicros;
    t.totalCostMicros += r.costMicros;
    let m = models.get(r.model);
    if (!m) {
      m = { tokens: zeros(), requests: zeros() };
      models.set(r.model, m);
    }
    m.tokens[i]! += r.promptTokens + r.completionTokens;
    m.requests[i]! += r.requests;
  }

  const open = rowsOf<{ priority: string; status: string; n: number }>(
    await deps.db.execute(sql`SELECT priority, status, count(*)::float8 AS n FROM requests
      WHERE status NOT IN ('completed', 'failed', 'cancelled') GROUP BY priority, status`),
  );
  const queueDepth = PRIORITIES.map((priority) => {
    const of = (status: string) =>
      open.filter((o) => o.priority === priority && o.status === status).reduce((a, o) => a + o.n, 0);
    return { priority, queued: of('queued'), dispatched: of('dispatched'), retrying: of('retrying') };
  });

  const status = await collectStatus({ db: deps.db }, deps.now.getTime());
  const live = status.dispatchers
    .filter((d) => d.alive)
    .flatMap((d) =>
      d.summary.pools.map((p) => ({
        dispatcherId: d.dispatcherId,
        pool: p.pool,
        model: p.model,
        learned: p.learned,
        rpmLimit: p.limits.rpm,
        tpmLimit: p.limits.tpm,
        rpmUtilisation: p.utilisation.rpm,
        tpmUtilisation: p.utilisation.tpm,
        pausedForMs: p.pausedForMs,
      })),
    );

  const minutes = step / 60_000;
  const quota = [...models.entries()].map(([model, m]) => {
    const pool = deps.pools.length ? poolForModel(deps.pools, model) : undefined;
    const limits = pool?.limits?.[model] ?? pool?.limits?.['*'];
    const tokensPerMinute = m.tokens.map((v) => Math.round(v / minutes));
    // A declared limit, else the one the dispatchers learned from the upstream's headers.
    const learned = live.find((l) => l.model === model && l.pool === (pool?.name ?? l.pool));
    const tpmLimit = limits?.tpm ?? learned?.tpmLimit ?? null;
    return {
      model,
      pool: pool?.name ?? 'default',
      tpmLimit,
      rpmLimit: limits?.rpm ?? learned?.rpmLimit ?? null,
      tokensPerMinute,
      requestsPerMinute: m.requests.map((v) => Math.round((v / minutes) * 100) / 100),
      peakUtilisation: tpmLimit ? Math.max(0, ...tokensPerMinute) / tpmLimit : null,
    };
  });

  return {
    generatedAt: deps.now.toISOString(),
    from: from.toISOString(),
    to: to.toISOString(),
    by,
    periods,
    tenants: [...tenants.values()].sort((a, b) => b.totalCostMicros - a.totalCostMicros),
    queueDepth,
    quota,
    live,
  };
}
