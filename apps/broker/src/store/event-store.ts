import { createGroupCommit, type SluiceEvent, validateEvent } from '@sluice/events';
import { and, asc, desc, eq, gt, gte, inArray, lt, type SQL, sql } from 'drizzle-orm';
import type { SluiceDb } from '../db/database';
import { events, type RequestRow, requests, usageRollup } from '../db/schema';
import { chainHash, GENESIS_HASH } from './audit-hash';
import { evolveRequest, type RequestState, USAGE_COUNTERS, type UsageDelta, usageDelta } from './projections';

export type { RequestRow };

export interface UsageReportRow {
  tenantId: string;
  period: string;
  model: string | null;
  requests: number;
  completed: number;
  failed: number;
  cancelled: number;
  retries: number;
  rateLimited: number;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  avgQueueWaitMs: number | null;
  avgUpstreamLatencyMs: number | null;
}

export type ChainVerdict =
  | { ok: true; checked: number }
  | { ok: false; checked: number; tenantId: string; seq: number; eventId: string; reason: string };

/**
 * The append-only event store and its projections, updated in the same transaction as the
 * append, for the newly inserted events only: a duplicate (at-least-once redelivery) changes nothing.
 */
export function createEventStore(db: SluiceDb) {
  async function append(batch: SluiceEvent[]): Promise<{ inserted: SluiceEvent[]; duplicates: string[] }> {
    const valid = batch.map((e) => validateEvent(e));
    if (valid.length === 0) return { inserted: [], duplicates: [] };
    return db.transaction(async (tx) => {
      const tenantIds = [...new Set(valid.map((e) => e.tenantId))].sort();
      const heads = new Map<string, string>();
      for (const tenantId of tenantIds) {
        // One writer per tenant chain at a time; other tenants append in parallel.
        await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${`sluice-chain:${tenantId}`}))`);
        const last = await tx
          .select({ hash: events.hash })
          .from(events)
          .where(eq(events.tenantId, tenantId))
          .orderBy(desc(events.seq))
          .limit(1);
        heads.set(tenantId, last[0]?.hash ?? GENESIS_HASH);
      }
      const inserted: SluiceEvent[] = [];
      const duplicates: string[] = [];
      for (const e of valid) {
        const prevHash = heads.get(e.tenantId)!;
        const hash = chainHash(prevHash, e);
        const row = await tx
          .insert(events)
          .values({
            eventId: e.eventId,
            type: e.type,
            version: e.version,
            requestId: e.requestId,
            tenantId: e.tenantId,
            attempt: e.attempt,
            occurredAt: new Date(e.occurredAt),
            payload: e,
            prevHash,
            hash,
          })
          .onConflictDoNothing({ target: events.eventId })
          .returning({ seq: events.seq });
        if (row.length) {
          heads.set(e.tenantId, hash);
          inserted.push(e);
        } else {
          duplicates.push(e.eventId);
        }
      }
      if (inserted.length) await project(tx as unknown as SluiceDb, inserted);
      return { inserted, duplicates };
    });
  }

  /** Applies events to the projections (inside the caller's transaction). */
  async function project(tx: SluiceDb, batch: SluiceEvent[]): Promise<void> {
    const ids = [...new Set(batch.map((e) => e.requestId))];
    const current = new Map<string, RequestState>(
      (await tx.select().from(requests).where(inArray(requests.requestId, ids))).map((r) => [r.requestId, r]),
    );
    const deltas = new Map<string, UsageDelta>();
    for (const e of batch) {
      const before = current.get(e.requestId);
      const d = usageDelta(e, before);
      if (d) mergeDelta(deltas, d);
      current.set(e.requestId, evolveRequest(before, e));
    }
    for (const id of ids) {
      const state = current.get(id)!;
      const { requestId: _id, ...rest } = state;
      await tx.insert(requests).values(state).onConflictDoUpdate({ target: requests.requestId, set: rest });
    }
    for (const d of deltas.values()) {
      const set: Record<string, SQL> = {};
      for (const c of USAGE_COUNTERS) {
        if (d[c]) set[c] = sql`${usageRollup[c]} + ${d[c]}`;
      }
      const insert = tx.insert(usageRollup).values({ ...d });
      await (Object.keys(set).length
        ? insert.onConflictDoUpdate({
            target: [usageRollup.tenantId, usageRollup.bucketStart, usageRollup.model],
            set,
          })
        : insert.onConflictDoNothing());
    }
  }

  // Concurrent appends (dispatcher outcomes, API submissions) share one transaction.
  const appendGrouped = createGroupCommit(async (batch: SluiceEvent[]) => {
    const r = await append(batch);
    const inserted = new Set(r.inserted.map((e) => e.eventId));
    return batch.map((e) => inserted.has(e.eventId));
  });

  return {
    /** Appends idempotently; resolves once committed with the events that were new. */
    async append(batch: SluiceEvent[]): Promise<{ inserted: SluiceEvent[]; duplicates: string[] }> {
      const valid = batch.map((e) => validateEvent(e));
      const fresh = await appendGrouped(valid);
      return {
        inserted: valid.filter((_, i) => fresh[i]),
        duplicates: valid.filter((_, i) => !fresh[i]).map((e) => e.eventId),
      };
    },
    project,

    /** One request; `tenantId` null = operator. A tenant never sees another tenant's request. */
    async getRequest(tenantId: string | null, requestId: string): Promise<RequestRow | undefined> {
      const where =
        tenantId === null
          ? eq(requests.requestId, requestId)
          : and(eq(requests.requestId, requestId), eq(requests.tenantId, tenantId));
      return (await db.select().from(requests).where(where).limit(1))[0];
    },

    async listRequests(q: {
      tenantId: string | null;
      status?: string;
      limit: number;
    }): Promise<RequestRow[]> {
      const filters = [
        ...(q.tenantId !== null ? [eq(requests.tenantId, q.tenantId)] : []),
        ...(q.status ? [eq(requests.status, q.status)] : []),
      ];
      return db
        .select()
        .from(requests)
        .where(filters.length ? and(...filters) : undefined)
        .orderBy(desc(requests.submittedAt))
        .limit(q.limit);
    },

    async findByIdempotencyKey(tenantId: string, key: string): Promise<{ requestId: string } | undefined> {
      return (
        await db
          .select({ requestId: requests.requestId })
          .from(requests)
          .where(and(eq(requests.tenantId, tenantId), eq(requests.idempotencyKey, key)))
          .limit(1)
      )[0];
    },

    /** A request's events in the order they were recorded. */
    async eventsOf(requestId: string): Promise<SluiceEvent[]> {
      const rows = await db
        .select({ payload: events.payload })
        .from(events)
        .where(eq(events.requestId, requestId))
        .orderBy(asc(events.seq));
      return rows.map((r) => r.payload as SluiceEvent);
    },

    /** Usage from the rollup (never the raw events), grouped by hour, day or model. */
    async usage(q: {
      tenantId?: string;
      from: Date;
      to: Date;
      by: 'hour' | 'day' | 'model';
    }): Promise<UsageReportRow[]> {
      const period =
        q.by === 'hour'
          ? sql<string>`to_char(${usageRollup.bucketStart} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:00:00"Z"')`
          : q.by === 'day'
            ? sql<string>`to_char(${usageRollup.bucketStart} AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
            : sql<string>`min('all')`;
      const filters = [
        gte(usageRollup.bucketStart, hourFloor(q.from)),
        lt(usageRollup.bucketStart, q.to),
        ...(q.tenantId ? [eq(usageRollup.tenantId, q.tenantId)] : []),
      ];
      const sum = (c: (typeof USAGE_COUNTERS)[number]) =>
        sql<number>`coalesce(sum(${usageRollup[c]}), 0)::float8`;
      const rows = await db
        .select({
          tenantId: usageRollup.tenantId,
          period,
          model: usageRollup.model,
          requests: sum('requests'),
          completed: sum('completed'),
          failed: sum('failed'),
          cancelled: sum('cancelled'),
          retries: sum('retries'),
          rateLimited: sum('rateLimited'),
          promptTokens: sum('promptTokens'),
          cachedTokens: sum('cachedTokens'),
          completionTokens: sum('completionTokens'),
          reasoningTokens: sum('reasoningTokens'),
          queueWaitMsSum: sum('queueWaitMsSum'),
          upstreamLatencyMsSum: sum('upstreamLatencyMsSum'),
          latencyCount: sum('latencyCount'),
        })
        .from(usageRollup)
        .where(and(...filters))
        .groupBy(
          ...(q.by === 'model'
            ? [usageRollup.tenantId, usageRollup.model]
            : [usageRollup.tenantId, period, usageRollup.model]),
        )
        .orderBy(
          ...(q.by === 'model'
            ? [usageRollup.tenantId, usageRollup.model]
            : [usageRollup.tenantId, period, usageRollup.model]),
        );
      return rows.map(({ queueWaitMsSum, upstreamLatencyMsSum, latencyCount, ...r }) => ({
        ...r,
        avgQueueWaitMs: latencyCount ? Math.round(queueWaitMsSum / latencyCount) : null,
        avgUpstreamLatencyMs: latencyCount ? Math.round(upstreamLatencyMsSum / latencyCount) : null,
      }));
    },

    /** Walks every tenant's hash chain; says exactly where it breaks (edited, deleted or reordered rows). */
    async verifyChain(q: { tenantId?: string } = {}): Promise<ChainVerdict> {
      const heads = new Map<string, string>();
      let checked = 0;
      let after = 0;
      for (;;) {
        const rows = await db
          .select()
          .from(events)
          .where(and(gt(events.seq, after), ...(q.tenantId ? [eq(events.tenantId, q.tenantId)] : [])))
          .orderBy(asc(events.seq))
          .limit(5_000);
        if (rows.length === 0) return { ok: true, checked };
        for (const r of rows) {
          const expectedPrev = heads.get(r.tenantId) ?? GENESIS_HASH;
          if (r.prevHash !== expectedPrev) {
            return {
              ok: false,
              checked,
              tenantId: r.tenantId,
              seq: r.seq,
              eventId: r.eventId,
              reason: 'previous hash does not match: an event before it was deleted or reordered',
            };
          }
          if (chainHash(r.prevHash, r.payload) !== r.hash) {
            return {
              ok: false,
              checked,
              tenantId: r.tenantId,
              seq: r.seq,
              eventId: r.eventId,
              reason: 'content does not match its hash: the event was edited',
            };
          }
          heads.set(r.tenantId, r.hash);
          checked++;
          after = r.seq;
        }
      }
    },

    /** Rebuilds every projection from the event store alone (`sluice replay`). */
    async rebuildProjections(opts: { onProgress?: (done: number) => void } = {}): Promise<number> {
      await db.transaction(async (tx) => {
        await tx.delete(requests);
        await tx.delete(usageRollup);
      });
      let after = 0;
      let done = 0;
      for (;;) {
        const rows = await db
          .select({ seq: events.seq, payload: events.payload })
          .from(events)
          .where(gt(events.seq, after))
          .orderBy(asc(events.seq))
          .limit(2_000);
        if (rows.length === 0) return done;
        await db.transaction(async (tx) =>
          project(
            tx as unknown as SluiceDb,
            rows.map((r) => r.payload as SluiceEvent),
          ),
        );
        after = rows[rows.length - 1]!.seq;
        done += rows.length;
        opts.onProgress?.(done);
      }
    },
  };
}

export type EventStore = ReturnType<typeof createEventStore>;

function mergeDelta(into: Map<string, UsageDelta>, d: UsageDelta): void {
  const k = `${d.tenantId}|${d.bucketStart.toISOString()}|${d.model}`;
  const cur = into.get(k);
  if (!cur) {
    into.set(k, { ...d });
    return;
  }
  for (const c of USAGE_COUNTERS) {
    const v = d[c];
    if (v) cur[c] = (cur[c] ?? 0) + v;
  }
}

function hourFloor(d: Date): Date {
  const x = new Date(d);
  x.setUTCMinutes(0, 0, 0);
  return x;
}
