import { and, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import type { SluiceDb } from '../db/database';
import { apiKeys, consoleSessions, tenants } from '../db/schema';
import type { AuthResult } from '../services';
import { hashSessionToken, isWellFormedSessionToken, newSessionToken, SESSION_TTL_MS } from './session-token';

/** Who a console session acts as: the key it was opened with, and the session's own id. */
export interface SessionAuth extends AuthResult {
  sessionId: string;
  expiresAt: string;
}

/**
 * Console sessions in the database, so every API process knows them and a logout or a revoked
 * key ends them everywhere at once: each call re-reads the session with its key and tenant.
 */
export function createConsoleSessions(db: SluiceDb, opts: { ttlMs?: number; clock?: () => number } = {}) {
  const ttlMs = opts.ttlMs ?? SESSION_TTL_MS;
  const clock = opts.clock ?? Date.now;

  return {
    ttlMs,
    /** Opens a session for an authenticated key; the token is returned once, for the cookie. */
    async open(auth: AuthResult): Promise<{ token: string; sessionId: string; expiresAt: string }> {
      const now = clock();
      const { token, hash, id } = newSessionToken();
      const expiresAt = new Date(now + ttlMs);
      // Sessions that ended or expired more than a day ago are of no use to anyone.
      await db
        .delete(consoleSessions)
        .where(
          or(
            lt(consoleSessions.expiresAt, new Date(now - 86_400_000)),
            lt(consoleSessions.endedAt, new Date(now - 86_400_000)),
          ),
        );
      await db.insert(consoleSessions).values({ id, tokenHash: hash, keyId: auth.keyId, expiresAt });
      return { token, sessionId: id, expiresAt: expiresAt.toISOString() };
    },

    /** The live session of a token, or null: unknown, ended, expired, its key revoked or its tenant disabled. */
    async authenticate(token: string | undefined): Promise<SessionAuth | null> {
      if (!isWellFormedSessionToken(token)) return null;
      const [row] = await db
        .select({
          sessionId: consoleSessions.id,
          expiresAt: consoleSessions.expiresAt,
          keyId: apiKeys.id,
          role: apiKeys.role,
          tenantId: apiKeys.tenantId,
        })
        .from(consoleSessions)
        .innerJoin(apiKeys, eq(apiKeys.id, consoleSessions.keyId))
        .leftJoin(tenants, eq(tenants.id, apiKeys.tenantId))
        .where(
          and(
            eq(consoleSessions.tokenHash, hashSessionToken(token)),
            isNull(consoleSessions.endedAt),
            gt(consoleSessions.expiresAt, new Date(clock())),
            isNull(apiKeys.revokedAt),
            isNull(tenants.disabledAt),
          ),
        )
        .limit(1);
      if (!row) return null;
      return {
        sessionId: row.sessionId,
        expiresAt: new Date(row.expiresAt).toISOString(),
        keyId: row.keyId,
        role: row.role,
        tenantId: row.tenantId,
      };
    },

    /** Ends a session (logout); ending an unknown or ended one is a no-op. */
    async end(token: string | undefined): Promise<void> {
      if (!isWellFormedSessionToken(token)) return;
      await db
        .update(consoleSessions)
        .set({ endedAt: sql`now()` })
        .where(and(eq(consoleSessions.tokenHash, hashSessionToken(token)), isNull(consoleSessions.endedAt)));
    },
  };
}

export type ConsoleSessions = ReturnType<typeof createConsoleSessions>;
