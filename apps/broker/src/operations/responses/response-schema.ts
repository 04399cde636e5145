import { index, pgTable, primaryKey } from 'drizzle-orm/pg-core';

/**
 * Which pool and tenant hold each piece of upstream state a Responses API request may continue:
 * response ids (the upstream's, and Sluice's `resp_sluice_…` for a background response), the
 * output items they produced (`item_reference`) and conversations. A projection of
 * `request.completed` on `/v1/responses` (rebuilt by `sluice replay`): a follow-up goes to the pool
 * that created its state, and a tenant continues only state it created through Sluice.
 */
export const responseOwners = pgTable(
  'response_owners',
  (t) => ({
    tenantId: t.text().notNull(),
    /** The id a request names: `resp_…`, `resp_sluice_…`, `conv_…`, or an item's (`msg_…`, `fc_…`, `rs_…`). */
    stateId: t.text().notNull(),
    kind: t.text({ enum: ['response', 'conversation', 'item'] }).notNull(),
    pool: t.text().notNull(),
    /** The request whose answer created (or last extended) it. */
    requestId: t.text().notNull(),
    /** The upstream's id of the state (a background response's differs from the id Sluice gave the caller). */
    upstreamId: t.text().notNull(),
    /** Tokens a follow-up carries from it upstream (the response's input and output): charged to the follow-up too. */
    contextTokens: t.integer().notNull().default(0),
    createdAt: t.timestamp({ withTimezone: true }).notNull(),
  }),
  (tbl) => [
    primaryKey({ columns: [tbl.tenantId, tbl.stateId] }),
    // Is this conversation another tenant's? (conversations are created outside Sluice)
    index('response_owners_state_idx').on(tbl.stateId),
  ],
);

/**
 * Responses a tenant deleted (`DELETE /v1/responses/{id}`): what the tenant did, like
 * `dead_letter_actions`, not a projection, so `sluice replay` keeps it. The event store keeps the
 * answer itself (the audit trail); Sluice no longer shows it nor lets a chain continue it.
 */
export const responseDeletions = pgTable(
  'response_deletions',
  (t) => ({
    tenantId: t.text().notNull(),
    responseId: t.text().notNull(),
    deletedAt: t.timestamp({ withTimezone: true }).notNull().defaultNow(),
  }),
  (tbl) => [primaryKey({ columns: [tbl.tenantId, tbl.responseId] })],
);

export type ResponseOwnerRow = typeof responseOwners.$inferSelect;
