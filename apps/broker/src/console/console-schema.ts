import { index, pgTable } from 'drizzle-orm/pg-core';

/**
 * Console sessions: a login posts a key once and gets a random token in an HttpOnly cookie; only
 * the token's sha256 is stored. A session is bound to the key it was opened with: it ends when it
 * expires, when its owner logs out, and at once when that key is revoked (checked on every call).
 */
export const consoleSessions = pgTable(
  'console_sessions',
  (t) => ({
    /** Public handle, recorded in the audit trail; the token itself is never stored. */
    id: t.text().primaryKey(),
    tokenHash: t.text().notNull().unique(),
    /** The `api_keys` id it was opened with. */
    keyId: t.text().notNull(),
    createdAt: t.timestamp({ withTimezone: true }).notNull().defaultNow(),
    expiresAt: t.timestamp({ withTimezone: true }).notNull(),
    endedAt: t.timestamp({ withTimezone: true }),
  }),
  (tbl) => [index('console_sessions_key_idx').on(tbl.keyId)],
);

export type ConsoleSessionRow = typeof consoleSessions.$inferSelect;
