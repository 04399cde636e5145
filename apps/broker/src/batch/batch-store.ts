import { type Endpoint, eventIdFor, type RequestSubmitted, upcastEvent } from '@sluice/events';
import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import type { SluiceDb } from '../db/database';
import { events } from '../db/schema';
import { type BatchMemberRef, type UpstreamBatchRow, upstreamBatches } from './batch-schema';

/** The local status of a batch whose outcomes are all recorded: nothing more to do. */
export const RECORDED = 'recorded';
/** Members recorded, not yet created upstream (or not known to be). */
export const SUBMITTING = 'submitting';

/** The batches table and the event-store reads the batch path needs. */
export function createBatchStore(db: SluiceDb) {
  return {
    async insert(row: {
      localId: string;
      pool: string;
      model: string;
      endpoint: Endpoint;
      members: BatchMemberRef[];
      reservedTokens: number;
      leaseOwner: string;
      leaseUntil: Date;
    }): Promise<void> {
      await db
        .insert(upstreamBatches)
        .values({ ...row, requestCount: row.members.length, status: SUBMITTING })
        .onConflictDoNothing({ target: upstreamBatches.localId });
    },

    async update(
      localId: string,
      set: Partial<
        Pick<
          UpstreamBatchRow,
          | 'inputFileId'
          | 'upstreamBatchId'
          | 'status'
          | 'submittedAt'
          | 'finishedAt'
          | 'completedCount'
          | 'failedCount'
          | 'leaseOwner'
          | 'leaseUntil'
        >
      >,
    ): Promise<void> {
      await db
        .update(upstreamBatches)
        .set({ ...set, updatedAt: new Date() })
        .where(eq(upstreamBatches.localId, localId));
    },

    /**
     * Takes (or keeps) the lease of every unfinished batch that is this dispatcher's or whose lease
     * has expired (a dead dispatcher's): rows another live dispatcher is polling are skipped.
     */
    async claim(owner: string, leaseMs: number, limit = 500): Promise<UpstreamBatchRow[]> {
      return db.transaction(async (tx) => {
        const due = await tx
          .select({ localId: upstreamBatches.localId })
          .from(upstreamBatches)
          .where(
            and(
              ne(upstreamBatches.status, RECORDED),
              sql`(${upstreamBatches.leaseOwner} = ${owner} OR ${upstreamBatches.leaseUntil} IS NULL OR ${upstreamBatches.leaseUntil} < now())`,
            ),
          )
          .orderBy(upstreamBatches.createdAt)
          .limit(limit)
          .for('update', { skipLocked: true });
        if (due.length === 0) return [];
        return tx
          .update(upstreamBatches)
          .set({ leaseOwner: owner, leaseUntil: sql`now() + ${`${leaseMs} milliseconds`}::interval` })
          .where(
            inArray(
              upstreamBatches.localId,
              due.map((d) => d.localId),
            ),
          )
          .returning();
      });
    },

    /** Gives this dispatcher's leases up (a graceful stop): another dispatcher may poll them at once. */
    async releaseLeases(owner: string): Promise<void> {
      await db
        .update(upstreamBatches)
        .set({ leaseOwner: null, leaseUntil: null })
        .where(and(eq(upstreamBatches.leaseOwner, owner), ne(upstreamBatches.status, RECORDED)));
    },

    /**
     * Whether attempt `attempt` of a request was recorded as sent in a batch that exists: then the
     * batch's poller answers for it. A `request.dispatched` naming a batch that was never stored
     * (the dispatcher died in between) means the attempt was never sent.
     */
    async attemptInBatch(requestId: string, attempt: number): Promise<boolean> {
      const rows = await db
        .select({ localId: upstreamBatches.localId })
        .from(events)
        .innerJoin(upstreamBatches, sql`${upstreamBatches.localId} = ${events.payload}->'batch'->>'localId'`)
        .where(eq(events.eventId, eventIdFor('request.dispatched', requestId, attempt)))
        .limit(1);
      return rows.length > 0;
    },

    /** The stored submissions of these requests (upcast to the current version). */
    async submissions(requestIds: readonly string[]): Promise<Map<string, RequestSubmitted>> {
      const out = new Map<string, RequestSubmitted>();
      for (let i = 0; i < requestIds.length; i += 1_000) {
        const ids = requestIds.slice(i, i + 1_000).map((id) => eventIdFor('request.submitted', id, 0));
        const rows = await db
          .select({ payload: events.payload })
          .from(events)
          .where(inArray(events.eventId, ids));
        for (const r of rows) {
          const e = upcastEvent(r.payload);
          if (e.type === 'request.submitted') out.set(e.requestId, e);
        }
      }
      return out;
    },

    /** Unfinished batches by status, for metrics and `sluice status`. */
    async inFlight(): Promise<Array<{ status: string; batches: number; requests: number }>> {
      return db
        .select({
          status: upstreamBatches.status,
          batches: sql<number>`count(*)::int`,
          requests: sql<number>`coalesce(sum(${upstreamBatches.requestCount}), 0)::int`,
        })
        .from(upstreamBatches)
        .where(ne(upstreamBatches.status, RECORDED))
        .groupBy(upstreamBatches.status);
    },

    async get(localId: string): Promise<UpstreamBatchRow | undefined> {
      return (
        await db.select().from(upstreamBatches).where(eq(upstreamBatches.localId, localId)).limit(1)
      )[0];
    },
  };
}

export type BatchStore = ReturnType<typeof createBatchStore>;
