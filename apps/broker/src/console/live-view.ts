import { type EventLog, PRIORITIES, type Priority } from '@sluice/events';
import { asc, inArray, ne, sql } from 'drizzle-orm';
import { RECORDED } from '../batch/batch-store';
import type { SluiceDb } from '../db/database';
import { requests, tenants, upstreamBatches } from '../db/schema';
import { collectStatus } from '../observability/status-store';

/** At most this many in-flight batches and tenant queue lines are listed (the rest are counted). */
const LIVE_ROWS = 200;

export interface LiveView {
  at: string;
  dispatchers: Array<{ dispatcherId: string; alive: boolean; heartbeatAgeMs: number; inFlight: number }>;
  /** Per priority: what live dispatchers hold and their oldest wait, what the store knows is open, log lag. */
  queues: Array<{
    priority: Priority;
    heldInDispatchers: number;
    oldestWaitMs: number;
    openInStore: number;
    oldestOpenAt: string | null;
    notYetRead: number | null;
  }>;
  /** Open requests per tenant and priority, by status, with the oldest submission. */
  byTenant: Array<{
    tenantId: string;
    tenantName: string;
    priority: string;
    queued: number;
    dispatched: number;
    retrying: number;
    oldestSubmittedAt: string;
  }>;
  /** Per pool and model, from each live dispatcher's limiter: use against the learned limits, and 429 pauses. */
  quota: Array<{
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
  /** Batch API batches not yet recorded. */
  batches: Array<{
    localId: string;
    upstreamBatchId: string | null;
    pool: string;
    model: string;
    status: string;
    requestCount: number;
    completedCount: number;
    failedCount: number;
    createdAt: string;
    submittedAt: string | null;
    leaseOwner: string | null;
  }>;
  batchesInFlight: number;
}

/**
 * What the console's live page shows, from the dispatchers' heartbeats, the open requests (a
 * partial index holds only those) and the in-flight batches: a handful of small reads.
 */
export async function collectLiveView(
  deps: { db: SluiceDb; log?: EventLog },
  now = Date.now(),
): Promise<LiveView> {
  const [status, open, batches] = await Promise.all([
    collectStatus(deps, now),
    deps.db
      .select({
        tenantId: requests.tenantId,
        priority: requests.priority,
        status: requests.status,
        n: sql<number>`count(*)::int`,
        oldest: sql<string>`min(${requests.submittedAt})`,
      })
      .from(requests)
      .where(sql`${requests.status} NOT IN ('completed', 'failed', 'cancelled')`)
      .groupBy(requests.priority, requests.status, requests.tenantId),
    deps.db
      .select()
      .from(upstreamBatches)
      .where(ne(upstreamBatches.status, RECORDED))
      .orderBy(asc(upstreamBatches.createdAt))
      .limit(LIVE_ROWS),
  ]);
  const alive = status.dispatchers.filter((d) => d.alive);

  const lines = new Map<string, LiveView['byTenant'][number]>();
  for (const o of open) {
    const k = `${o.tenantId}|${o.priority}`;
    let line = lines.get(k);
    if (!line) {
      line = {
        tenantId: o.tenantId,
        tenantName: o.tenantId,
        priority: o.priority,
        queued: 0,
        dispatched: 0,
        retrying: 0,
        oldestSubmittedAt: new Date(o.oldest).toISOString(),
      };
      lines.set(k, line);
    }
    if (o.status === 'queued' || o.status === 'dispatched' || o.status === 'retrying')
      line[o.status] += Number(o.n);
    const oldest = new Date(o.oldest).toISOString();
    if (oldest < line.oldestSubmittedAt) line.oldestSubmittedAt = oldest;
  }
  const byTenant = [...lines.values()]
    .sort((a, b) => a.oldestSubmittedAt.localeCompare(b.oldestSubmittedAt))
    .slice(0, LIVE_ROWS);
  const ids = [...new Set(byTenant.map((l) => l.tenantId))];
  if (ids.length) {
    const names = await deps.db
      .select({ id: tenants.id, name: tenants.name })
      .from(tenants)
      .where(inArray(tenants.id, ids));
    const byId = new Map(names.map((t) => [t.id, t.name]));
    for (const l of byTenant) l.tenantName = byId.get(l.tenantId) ?? l.tenantId;
  }

  return {
    at: status.at,
    dispatchers: status.dispatchers.map((d) => ({
      dispatcherId: d.dispatcherId,
      alive: d.alive,
      heartbeatAgeMs: d.ageMs,
      inFlight: d.summary.inFlight,
    })),
    queues: PRIORITIES.map((priority) => {
      const openHere = status.open.filter((o) => o.priority === priority);
      const oldest = openHere
        .map((o) => o.oldestSubmittedAt)
        .filter((x): x is string => x !== null)
        .sort()[0];
      return {
        priority,
        heldInDispatchers: alive.reduce((n, d) => n + (d.summary.queued[priority] ?? 0), 0),
        oldestWaitMs: Math.max(0, ...alive.map((d) => d.summary.oldestAgeMs[priority] ?? 0)),
        openInStore: openHere.reduce((n, o) => n + o.count, 0),
        oldestOpenAt: oldest ?? null,
        notYetRead: status.lag[priority],
      };
    }),
    byTenant,
    quota: alive.flatMap((d) =>
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
    ),
    batches: batches.map((b) => ({
      localId: b.localId,
      upstreamBatchId: b.upstreamBatchId,
      pool: b.pool,
      model: b.model,
      status: b.status,
      requestCount: b.requestCount,
      completedCount: b.completedCount,
      failedCount: b.failedCount,
      createdAt: new Date(b.createdAt).toISOString(),
      submittedAt: b.submittedAt ? new Date(b.submittedAt).toISOString() : null,
      leaseOwner: b.leaseOwner,
    })),
    batchesInFlight: (status.batches ?? []).reduce((n, b) => n + b.batches, 0),
  };
}
