import type { CacheDirective, RequestSubmitted, SluiceEvent } from '@sluice/events';
import { cachedRead } from '../cached-read';
import { databaseUnavailable } from '../db/database';
import type { TenantSettings } from '../db/schema';
import type { Metrics } from '../metrics';
import type { AnyOperation } from '../operations/operation';
import { cacheHitEvents } from './cache-hit';
import { type CacheMode, decideCache } from './cache-key';
import type { ResponseCache } from './response-cache';

export interface CacheAdmissionDeps {
  tenants: { getTenant(id: string): Promise<{ settings: TenantSettings } | undefined> };
  cache: Pick<ResponseCache, 'lookup'>;
  /** The event store: a hit is recorded there directly (it never enters the request log). */
  store: { append(events: SluiceEvent[]): Promise<unknown> };
  metrics?: Metrics;
  clock?: () => number;
  /** How long a tenant's cache settings are trusted before they are read again. */
  settingsTtlMs?: number;
}

/**
 * The cache at admission (the API process): decides a request's cache directive, and answers a
 * `use` request from a stored answer by recording its submission, completion and usage in the
 * event store — before the request log or the upstream quota is touched.
 */
export function createCacheAdmission(deps: CacheAdmissionDeps) {
  const clock = deps.clock ?? Date.now;
  const ttlMs = deps.settingsTtlMs ?? 2_000;
  const tenantCache = cachedRead(
    async (tenantId): Promise<TenantSettings['cache']> =>
      (await deps.tenants.getTenant(tenantId))?.settings.cache,
    ttlMs,
    clock,
  );

  return {
    async directive(
      tenantId: string,
      operation: AnyOperation,
      body: Record<string, unknown>,
      mode: CacheMode | undefined,
    ): Promise<CacheDirective | null> {
      if (mode === 'bypass' || !operation.cache) return null;
      return decideCache({ tenantId, operation, settings: await tenantCache(tenantId), mode, body });
    },

    /** Answers the request from the cache when it may read it and an answer is stored; true when it did. */
    async serve(submitted: RequestSubmitted): Promise<boolean> {
      const d = submitted.cache;
      if (!d) return false;
      const labels = { tenant: submitted.tenantId, model: submitted.model };
      const answer = d.mode === 'use' ? await deps.cache.lookup(d.scope, d.key) : undefined;
      // A stored answer of another model never answers (the key covers the model; this is a guard).
      if (!answer || answer.model !== submitted.model) {
        deps.metrics?.cacheMisses.inc(labels);
        return false;
      }
      try {
        await deps.store.append([submitted, ...cacheHitEvents(submitted, answer, new Date(clock()))]);
      } catch (cause) {
        // Not known to be recorded: answering it upstream as well could complete it twice.
        throw databaseUnavailable(cause);
      }
      deps.metrics?.cacheHits.inc(labels);
      return true;
    },

    /** Settings changed in this process: read them again at the next request. */
    forget(tenantId: string): void {
      tenantCache.forget(tenantId);
    },
  };
}

export type CacheAdmission = ReturnType<typeof createCacheAdmission>;
