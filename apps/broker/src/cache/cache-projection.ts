import type { RequestCompleted, SluiceEvent } from '@sluice/events';
import { and, eq, sql } from 'drizzle-orm';
import type { SluiceDb } from '../db/database';
import { type ResponseCacheRow, responseCache } from '../db/schema';
import { operationFor } from '../operations/registry';

export type CacheEntry = Omit<ResponseCacheRow, 'hitCount' | 'lastHitAt'>;

export type CacheChange =
  | { kind: 'fill'; entry: CacheEntry }
  | { kind: 'hit'; scope: string; key: string; at: Date };

/**
 * What a batch of events changes in the response cache, as a pure function of the events (so
 * `sluice replay` rebuilds the same cache): an eligible upstream answer (`cache.hit === false`)
 * that finished normally and reports its usage fills its key; a hit counts towards the entry's
 * recency (the LRU bound) and hit count. Hits never fill.
 */
export function cacheChangesOf(batch: readonly SluiceEvent[]): CacheChange[] {
  const changes: CacheChange[] = [];
  for (const e of batch) {
    if (e.type !== 'request.completed' || !e.cache) continue;
    if (e.cache.hit) {
      changes.push({ kind: 'hit', scope: e.cache.scope, key: e.cache.key, at: new Date(e.occurredAt) });
      continue;
    }
    const entry = entryOf(e);
    if (entry) changes.push({ kind: 'fill', entry });
  }
  return changes;
}

function entryOf(e: RequestCompleted): CacheEntry | undefined {
  const cache = e.cache;
  const op = operationFor(e.endpoint);
  const usage = op.usage(e.response);
  if (!cache || !usage || !op.cache?.storable(e.response)) return undefined;
  const at = new Date(e.occurredAt);
  return {
    scope: cache.scope,
    key: cache.key,
    model: e.model,
    sourceRequestId: e.requestId,
    response: e.response,
    promptTokens: usage.promptTokens,
    cachedTokens: usage.cachedTokens,
    completionTokens: usage.completionTokens,
    reasoningTokens: usage.reasoningTokens,
    bytes: Buffer.byteLength(JSON.stringify(e.response)),
    createdAt: at,
    expiresAt: new Date(at.getTime() + cache.ttlSeconds * 1000),
  };
}

/**
 * Applies the batch's cache changes inside the event store's transaction. Returns the entries
 * filled, for a front (Redis) to update once the transaction committed.
 */
export async function projectResponseCache(
  tx: SluiceDb,
  batch: readonly SluiceEvent[],
): Promise<CacheEntry[]> {
  const filled: CacheEntry[] = [];
  for (const change of cacheChangesOf(batch)) {
    if (change.kind === 'fill') {
      const { scope: _s, key: _k, ...rest } = change.entry;
      // A newer answer (refresh, or a miss after expiry) replaces the stored one; an older never does.
      await tx
        .insert(responseCache)
        .values({ ...change.entry, hitCount: 0, lastHitAt: null })
        .onConflictDoUpdate({
          target: [responseCache.scope, responseCache.key],
          set: { ...rest, hitCount: 0, lastHitAt: null },
          setWhere: sql`${responseCache.createdAt} <= excluded.created_at`,
        });
      filled.push(change.entry);
    } else {
      await tx
        .update(responseCache)
        .set({
          hitCount: sql`${responseCache.hitCount} + 1`,
          lastHitAt: sql`greatest(${responseCache.lastHitAt}, ${change.at.toISOString()}::timestamptz)`,
        })
        .where(and(eq(responseCache.scope, change.scope), eq(responseCache.key, change.key)));
    }
  }
  return filled;
}
