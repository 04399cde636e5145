import { index, pgTable } from 'drizzle-orm/pg-core';

/**
 * The operators' audit trail: one row per administrative action (tenants, keys, budgets, cache,
 * Batch API, dead letters, reading a request's bodies), append-only, in one hash chain of its own:
 * `hash = sha256(prevHash + canonical row)`. Request events keep their per-tenant chains; these
 * actions belong to no tenant's request, so they are chained apart (`sluice audit verify` checks both).
 */
export const adminActions = pgTable(
  'admin_actions',
  (t) => ({
    seq: t.bigserial({ mode: 'number' }).primaryKey(),
    at: t.timestamp({ withTimezone: true }).notNull(),
    /** The admin key that acted; null for the CLI working on the database directly (no key involved). */
    actorKeyId: t.text(),
    /** The console session it acted in (null for a key sent as a bearer token, or the CLI). */
    sessionId: t.text(),
    via: t.text({ enum: ['console', 'api', 'cli'] }).notNull(),
    /** The procedure, e.g. `admin.keys.create`. */
    action: t.text().notNull(),
    /** What it acted on (a tenant, key or request id), when it names one. */
    target: t.text(),
    /** The input and the ids it produced; never a key (results are reduced to an allow-list of fields). */
    details: t.jsonb().$type<Record<string, unknown>>().notNull(),
    /** `ok`, or the error code it was refused with. */
    outcome: t.text().notNull(),
    prevHash: t.text().notNull(),
    hash: t.text().notNull(),
  }),
  (tbl) => [index('admin_actions_target_idx').on(tbl.target)],
);

export type AdminActionRow = typeof adminActions.$inferSelect;
