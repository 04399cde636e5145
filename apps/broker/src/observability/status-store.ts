import type { EventLog } from '@sluice/events';
import { eq, sql } from 'drizzle-orm';
import { createBatchStore } from '../batch/batch-store';
import type { SluiceDb } from '../db/database';
import { dispatcherStatus, requests } from '../db/schema';
import { DISPATCHER_DEFAULTS } from '../dispatcher/defaults';
import type { Logger } from '../logger';
import {
  DISPATCHER_ALIVE_MS,
  type DispatcherSummary,
  lagByPriority,
  STATUS_TOPICS,
  type StatusReport,
} from './status';

/** Writes this dispatcher's heartbeat every few seconds; `stop()` removes it (a clean exit is not "down"). */
export function startDispatcherHeartbeat(opts: {
  db: SluiceDb;
  dispatcherId: string;
  summary: () => DispatcherSummary;
  logger: Logger;
  intervalMs?: number;
}): { stop(): Promise<void> } {
  const startedAt = new Date();
  const beat = async () => {
    const row = {
      dispatcherId: opts.dispatcherId,
      startedAt,
      heartbeatAt: new Date(),
      summary: opts.summary(),
    };
    await opts.db
      .insert(dispatcherStatus)
      .values(row)
      .onConflictDoUpdate({
        target: dispatcherStatus.dispatcherId,
        set: { heartbeatAt: row.heartbeatAt, summary: row.summary },
      });
  };
  const tick = () =>
    beat().catch((error) => opts.logger.debug({ err: error }, 'dispatcher heartbeat not written'));
  void tick();
  const timer = setInterval(tick, opts.intervalMs ?? 3_000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await opts.db
        .delete(dispatcherStatus)
        .where(eq(dispatcherStatus.dispatcherId, opts.dispatcherId))
        .catch(() => {});
    },
  };
}

/** Gathers `sluice status` from the database (heartbeats, open requests) and the log (lag). */
export async function collectStatus(
  deps: { db: SluiceDb; log?: EventLog },
  now = Date.now(),
): Promise<StatusReport> {
  const [beats, open, lag, batches] = await Promise.all([
    deps.db.select().from(dispatcherStatus).orderBy(dispatcherStatus.dispatcherId),
    deps.db
      .select({
        priority: requests.priority,
        status: requests.status,
        count: sql<number>`count(*)::int`,
        oldest: sql<Date | null>`min(${requests.submittedAt})`,
      })
      .from(requests)
      .where(sql`${requests.status} NOT IN ('completed', 'failed', 'cancelled')`)
      .groupBy(requests.priority, requests.status),
    deps.log?.lag(DISPATCHER_DEFAULTS.groupId, STATUS_TOPICS).catch(() => undefined),
    createBatchStore(deps.db).inFlight(),
  ]);
  return {
    at: new Date(now).toISOString(),
    dispatchers: beats.map((b) => {
      const ageMs = Math.max(0, now - new Date(b.heartbeatAt).getTime());
      return {
        dispatcherId: b.dispatcherId,
        startedAt: new Date(b.startedAt).toISOString(),
        heartbeatAt: new Date(b.heartbeatAt).toISOString(),
        summary: b.summary as DispatcherSummary,
        alive: ageMs <= DISPATCHER_ALIVE_MS,
        ageMs,
      };
    }),
    open: open.map((o) => ({
      priority: o.priority,
      status: o.status,
      count: Number(o.count),
      oldestSubmittedAt: o.oldest ? new Date(o.oldest).toISOString() : null,
    })),
    lag: lagByPriority(lag),
    batches,
  };
}
