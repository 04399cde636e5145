import { ENDPOINTS, type Endpoint, LEGACY_ENDPOINT } from '@sluice/events';
import { index, pgTable } from 'drizzle-orm/pg-core';

/** One request carried by a batch: its id, the attempt, and how long it queued before the batch. */
export interface BatchMemberRef {
  requestId: string;
  attempt: number;
  queueWaitMs: number;
}

/**
 * The batches Sluice sent through the Batch API, from their first local record to their outcomes
 * being recorded: an operational record (which dispatcher polls which batch, under a lease), like
 * `dispatcher_status`. What happened to each request is in its events (`request.dispatched` names
 * the batch's `localId`); the row holds the upstream ids and the lease.
 *
 * `status`: `submitting` (members recorded, not yet created upstream), then the Batch API's own
 * status (`validating`, `in_progress`, `finalizing`, … `completed`, `failed`, `expired`,
 * `cancelled`), then `recorded` once every member's outcome is stored.
 */
export const upstreamBatches = pgTable(
  'upstream_batches',
  (t) => ({
    localId: t.text().primaryKey(),
    upstreamBatchId: t.text(),
    pool: t.text().notNull(),
    model: t.text().notNull(),
    /** One endpoint per batch (the Batch API's `endpoint`); every line's `url`. */
    endpoint: t.text({ enum: ENDPOINTS }).$type<Endpoint>().notNull().default(LEGACY_ENDPOINT),
    inputFileId: t.text(),
    requestCount: t.integer().notNull(),
    /** Estimated tokens of the members: what the batch holds of the batch queue limit. */
    reservedTokens: t.bigint({ mode: 'number' }).notNull(),
    members: t.jsonb().$type<BatchMemberRef[]>().notNull(),
    status: t.text().notNull(),
    /** The dispatcher polling it, until when; another takes it over once the lease has expired. */
    leaseOwner: t.text(),
    leaseUntil: t.timestamp({ withTimezone: true }),
    createdAt: t.timestamp({ withTimezone: true }).notNull().defaultNow(),
    submittedAt: t.timestamp({ withTimezone: true }),
    finishedAt: t.timestamp({ withTimezone: true }),
    updatedAt: t.timestamp({ withTimezone: true }).notNull().defaultNow(),
    completedCount: t.integer().notNull().default(0),
    failedCount: t.integer().notNull().default(0),
  }),
  (tbl) => [index('upstream_batches_status_idx').on(tbl.status, tbl.leaseUntil)],
);

export type UpstreamBatchRow = typeof upstreamBatches.$inferSelect;
