import { LRUCache } from 'lru-cache';

/**
 * What a process remembers of a slow read (a tenant's settings, a budget status) for `ttlMs`:
 * bounded in size, expiring on the given clock (tests pass their own).
 */
export function ttlCache<V extends object>(ttlMs: number, clock: () => number = Date.now, max = 100_000) {
  // ttlResolution 0: read the clock on every lookup, so an injected clock is honoured exactly.
  return new LRUCache<string, V>({ max, ttl: ttlMs, perf: { now: clock }, ttlResolution: 0 });
}
