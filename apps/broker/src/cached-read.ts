import { LRUCache } from 'lru-cache';

/** How long after an ask a background refresh starts (see `refresh`). */
const REFRESH_AFTER_MS = 20;

/**
 * A slow read by key (a tenant's settings, a budget status), remembered for `ttlMs` on the given
 * clock (tests pass their own) and bounded in size. A value is never served older than `ttlMs`;
 * one asked for in the last quarter of its life is read again in the background, so steady traffic
 * never waits for the read on its path, and concurrent misses share one read.
 */
export function cachedRead<V>(
  read: (key: string) => Promise<V>,
  ttlMs: number,
  clock: () => number = Date.now,
  max = 100_000,
): ((key: string) => Promise<V>) & { forget(key: string): void } {
  // Ages are checked here, not by the LRU's TTL: its expiry deletes, and deleting the last entry
  // clears (fills) arrays as long as `max`, a cost paid on the request's path.
  const entries = new LRUCache<string, { value: V; readAt: number }>({ max });
  const reading = new Map<string, Promise<V>>();
  /** Bumped by `forget`: a read that began before it does not store what it read. */
  let generation = 0;
  const refreshing = new Set<string>();
  /**
   * A refresh starts a little after the ask that noticed the value ageing: an embedded database
   * runs on this thread, and the read would otherwise delay the very request it was kept off.
   */
  const refresh = (key: string): void => {
    if (refreshing.has(key)) return;
    refreshing.add(key);
    setTimeout(() => {
      refreshing.delete(key);
      load(key).catch(() => {}); // a failed refresh is tried again on a later ask
    }, REFRESH_AFTER_MS).unref();
  };
  const load = (key: string): Promise<V> => {
    const pending = reading.get(key);
    if (pending) return pending;
    const readAt = clock();
    const readIn = generation;
    const p = read(key)
      .then((value) => {
        if (readIn === generation) entries.set(key, { value, readAt });
        return value;
      })
      .finally(() => reading.delete(key));
    reading.set(key, p);
    return p;
  };
  const get = async (key: string): Promise<V> => {
    const known = entries.get(key);
    const age = known ? clock() - known.readAt : Number.POSITIVE_INFINITY;
    if (!known || age >= ttlMs) return load(key);
    if (age >= ttlMs * 0.75) refresh(key);
    return known.value;
  };
  /** The value changed in this process: the next ask reads it again. */
  const forget = (key: string): void => {
    generation++;
    entries.delete(key);
    reading.delete(key);
  };
  return Object.assign(get, { forget });
}
