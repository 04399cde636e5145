import { LRUCache } from 'lru-cache';
import type { SluiceDb } from '../db/database';

/** The channel on which a revocation is announced to every API process. */
export const KEY_REVOKED_CHANNEL = 'sluice_key_revoked';

type Listener = {
  query(q: string): Promise<unknown>;
  on(ev: string, cb: () => void): void;
  release(destroy?: boolean): void;
};

/**
 * Remembers which keys authenticated, so a request costs no key lookup. Revocation stays
 * immediate: the revoking process clears its own cache, and announces the revocation with
 * NOTIFY, on which every other API process clears its own. While a process cannot hear those
 * announcements (its LISTEN connection is down), it does not cache at all.
 */
export function createAuthCache<T>(db: SluiceDb, opts: { ttlMs?: number; retryMs?: number } = {}) {
  const ttlMs = opts.ttlMs ?? 60_000;
  const entries = new LRUCache<string, { value: T }>({ max: 100_000, ttl: ttlMs });
  const client = (db as unknown as { $client: { listen?: unknown; connect?: () => Promise<Listener> } })
    .$client;
  // PGlite is held by this process alone: every revocation happens here and clears the cache.
  let hearing = typeof client.listen === 'function';
  let listener: Listener | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;

  async function listen(): Promise<void> {
    if (stopped || typeof client.connect !== 'function') return;
    try {
      const c = await client.connect();
      let gone = false;
      const lost = () => {
        // 'error' and 'end' both come when the server goes away: act once.
        if (gone) return;
        gone = true;
        hearing = false;
        entries.clear();
        try {
          c.release(true);
        } catch {
          // already released by the pool
        }
        if (listener === c) listener = undefined;
        if (!stopped) retry = setTimeout(() => void listen(), opts.retryMs ?? 2_000).unref();
      };
      c.on('error', lost);
      c.on('end', lost);
      c.on('notification', () => entries.clear());
      await c.query(`LISTEN ${KEY_REVOKED_CHANNEL}`);
      listener = c;
      hearing = true;
    } catch {
      if (!stopped) retry = setTimeout(() => void listen(), opts.retryMs ?? 2_000).unref();
    }
  }

  return {
    /** Starts hearing revocations from other processes (a Postgres server); PGlite needs nothing. */
    start: () => listen(),
    get(hash: string): T | undefined {
      return hearing ? entries.get(hash)?.value : undefined;
    },
    set(hash: string, value: T): void {
      if (hearing) entries.set(hash, { value });
    },
    clear: () => entries.clear(),
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(retry);
      entries.clear();
      hearing = false;
      const c = listener;
      listener = undefined;
      if (c) {
        await c.query(`UNLISTEN ${KEY_REVOKED_CHANNEL}`).catch(() => {});
        c.release(true);
      }
    },
  };
}
