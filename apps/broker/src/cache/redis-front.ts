import { Redis } from 'ioredis';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { CacheEntry } from './cache-projection';

/** What the Redis front keeps of an entry: enough to answer a hit without Postgres. */
export type CachedAnswer = Pick<
  CacheEntry,
  | 'model'
  | 'sourceRequestId'
  | 'response'
  | 'promptTokens'
  | 'cachedTokens'
  | 'completionTokens'
  | 'reasoningTokens'
  | 'expiresAt'
>;

export interface RedisFront {
  get(scope: string, key: string): Promise<CachedAnswer | undefined>;
  set(scope: string, key: string, answer: CachedAnswer, now: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * An optional read-through front on Redis (`REDIS_URL`): TTL by Redis expiry, keys under a prefix.
 * Redis being down never fails a request: every error is logged (at most every 30 s), counted,
 * and answered as "not in Redis", so the cache falls back to Postgres.
 */
export function createRedisFront(opts: {
  url: string;
  prefix: string;
  logger: Logger;
  metrics?: Metrics;
  /** Longest a Redis call may take before the cache goes to Postgres instead. */
  commandTimeoutMs?: number;
}): RedisFront {
  const redis = new Redis(opts.url, {
    // Fail fast while disconnected instead of queueing: Postgres answers meanwhile.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: opts.commandTimeoutMs ?? 250,
    retryStrategy: (times) => Math.min(times * 200, 5_000),
    lazyConnect: false,
  });
  let lastWarnAt = 0;
  const failed = (error: unknown) => {
    opts.metrics?.cacheRedisErrors.inc();
    if (Date.now() - lastWarnAt > 30_000) {
      lastWarnAt = Date.now();
      opts.logger.warn({ err: error }, 'response cache: Redis unavailable, using Postgres');
    }
  };
  redis.on('error', failed);
  const keyOf = (scope: string, key: string) => `${opts.prefix}${scope}:${key}`;

  return {
    async get(scope, key) {
      try {
        const raw = await redis.get(keyOf(scope, key));
        if (!raw) return undefined;
        const v = JSON.parse(raw) as CachedAnswer & { expiresAt: string };
        return { ...v, expiresAt: new Date(v.expiresAt) };
      } catch (error) {
        failed(error);
        return undefined;
      }
    },
    async set(scope, key, answer, now) {
      const ttlMs = answer.expiresAt.getTime() - now;
      if (ttlMs <= 0) return;
      try {
        await redis.set(keyOf(scope, key), JSON.stringify(answer), 'PX', ttlMs);
      } catch (error) {
        failed(error);
      }
    },
    async close() {
      redis.disconnect();
    },
  };
}
