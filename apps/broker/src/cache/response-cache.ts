import { and, eq, gt, lte, sql } from 'drizzle-orm';
import { rowsOf, type SluiceDb } from '../db/database';
import { responseCache } from '../db/schema';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { CacheEntry } from './cache-projection';
import { type CachedAnswer, createRedisFront, type RedisFront } from './redis-front';

export interface ResponseCacheConfig {
  /** Upper bound of the stored answers' bytes (JSON); beyond it the least recently used go. */
  maxBytes: number;
  maxEntries: number;
  /** Optional Redis front (`REDIS_URL`) and the prefix of its keys. */
  redisUrl?: string;
  redisPrefix?: string;
  /** Least time between two bound checks after fills (a timer also checks every minute). */
  boundCheckEveryMs?: number;
}

export const DEFAULT_RESPONSE_CACHE: ResponseCacheConfig = {
  maxBytes: 256 * 1024 * 1024,
  maxEntries: 1_000_000,
  redisPrefix: 'sluice:cache:',
};

/**
 * The store behind the exact response cache: Postgres `response_cache` (a projection the event
 * store fills, see cache-projection.ts), optionally fronted by Redis. Reads enforce the TTL; the
 * size bound is enforced by evicting expired, then least recently used entries, after fills
 * (throttled) and every minute.
 */
export function createResponseCache(deps: {
  db: SluiceDb;
  config?: ResponseCacheConfig;
  logger: Logger;
  metrics?: Metrics;
  clock?: () => number;
}) {
  const config = deps.config ?? DEFAULT_RESPONSE_CACHE;
  const clock = deps.clock ?? Date.now;
  const redis: RedisFront | undefined = config.redisUrl
    ? createRedisFront({
        url: config.redisUrl,
        prefix: config.redisPrefix ?? DEFAULT_RESPONSE_CACHE.redisPrefix!,
        logger: deps.logger,
        ...(deps.metrics ? { metrics: deps.metrics } : {}),
      })
    : undefined;
  const boundEveryMs = config.boundCheckEveryMs ?? 5_000;
  let lastBoundCheck = Number.NEGATIVE_INFINITY;
  let checking: Promise<unknown> | undefined;
  let recheck = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  /** Evicts expired entries, then the least recently used beyond the bounds; returns how many went. */
  async function enforceBounds(): Promise<{ expired: number; evicted: number }> {
    const now = new Date(clock()).toISOString();
    const expired = await deps.db
      .delete(responseCache)
      .where(lte(responseCache.expiresAt, sql`${now}::timestamptz`))
      .returning({ bytes: responseCache.bytes });
    const totals = async () =>
      rowsOf<{ n: number; bytes: number }>(
        await deps.db.execute(
          sql`SELECT count(*)::float8 AS n, coalesce(sum(bytes), 0)::float8 AS bytes FROM response_cache`,
        ),
      )[0] ?? { n: 0, bytes: 0 };
    let held = await totals();
    let evicted: Array<{ bytes: number }> = [];
    if (held.bytes > config.maxBytes || held.n > config.maxEntries) {
      // Running totals from the most recently used down: everything past a bound goes.
      evicted = rowsOf<{ bytes: number }>(
        await deps.db.execute(sql`DELETE FROM response_cache r USING (
            SELECT scope, key FROM (
              SELECT scope, key,
                sum(bytes) OVER w AS bytes_upto,
                row_number() OVER w AS n
              FROM response_cache
              WINDOW w AS (ORDER BY coalesce(last_hit_at, created_at) DESC, created_at DESC, scope, key)
            ) ranked WHERE ranked.bytes_upto > ${config.maxBytes} OR ranked.n > ${config.maxEntries}
          ) v WHERE r.scope = v.scope AND r.key = v.key RETURNING r.bytes`),
      );
      held = await totals();
    }
    if (expired.length) deps.metrics?.cacheEvictions.inc({ reason: 'expired' }, expired.length);
    if (evicted.length) deps.metrics?.cacheEvictions.inc({ reason: 'size' }, evicted.length);
    deps.metrics?.cacheEntries.set(held.n);
    deps.metrics?.cacheBytes.set(held.bytes);
    return { expired: expired.length, evicted: evicted.length };
  }

  function checkBoundsSoon(): void {
    if (closed) return;
    // A fill during a check is looked at once that check is done (it may have missed it).
    if (checking) {
      recheck = true;
      return;
    }
    if (clock() - lastBoundCheck < boundEveryMs) return;
    lastBoundCheck = clock();
    checking = enforceBounds()
      .catch((error) => deps.logger.warn({ err: error }, 'response cache: bound check failed'))
      .finally(() => {
        checking = undefined;
        if (recheck) {
          recheck = false;
          checkBoundsSoon();
        }
      });
  }

  return {
    /** The stored answer for a scope and key, if one has not expired. */
    async lookup(scope: string, key: string): Promise<CachedAnswer | undefined> {
      const now = clock();
      const fromRedis = await redis?.get(scope, key);
      if (fromRedis && fromRedis.expiresAt.getTime() > now) return fromRedis;
      const row = (
        await deps.db
          .select()
          .from(responseCache)
          .where(
            and(
              eq(responseCache.scope, scope),
              eq(responseCache.key, key),
              gt(responseCache.expiresAt, sql`${new Date(now).toISOString()}::timestamptz`),
            ),
          )
          .limit(1)
      )[0];
      if (!row) return undefined;
      const answer: CachedAnswer = {
        model: row.model,
        sourceRequestId: row.sourceRequestId,
        response: row.response,
        promptTokens: row.promptTokens,
        cachedTokens: row.cachedTokens,
        completionTokens: row.completionTokens,
        reasoningTokens: row.reasoningTokens,
        expiresAt: new Date(row.expiresAt),
      };
      await redis?.set(scope, key, answer, now);
      return answer;
    },

    /** After the event store committed fills: mirror them into Redis (a refresh overwrites), check the bound. */
    filled(entries: readonly CacheEntry[]): void {
      if (redis) for (const e of entries) void redis.set(e.scope, e.key, e, clock());
      checkBoundsSoon();
    },

    enforceBounds,

    /** Periodic bound checks (expired entries go even when nothing is filled). */
    start(): void {
      timer = setInterval(checkBoundsSoon, 60_000);
      timer.unref();
    },

    async close(): Promise<void> {
      closed = true;
      if (timer) clearInterval(timer);
      await checking;
      await redis?.close();
    },
  };
}

export type ResponseCache = ReturnType<typeof createResponseCache>;
