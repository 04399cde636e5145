import type { EventLog, SluiceEvent } from '@sluice/events';
import { createBatchQueueBudget, type RetryPolicy } from '@sluice/limiter';
import type { SluiceDb } from '../db/database';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { retryUntilDone } from '../retry-until-done';
import type { PoolConfig } from '../upstream/pools';
import { createBatchMetrics } from './batch-metrics';
import { type BatchRouter, createBatchRouter } from './batch-router';
import { BATCH_DEFAULTS, type BatchSettings } from './batch-settings';
import { createBatchStore } from './batch-store';
import { createBatchUpstream } from './batch-upstream';

/** Composes the Batch API path of a dispatcher process from its parts. */
export function createBatchPath(deps: {
  db: SluiceDb;
  append(events: SluiceEvent[]): Promise<{ inserted: readonly SluiceEvent[] }>;
  log: EventLog;
  pools: readonly PoolConfig[];
  settings?: BatchSettings;
  logger: Logger;
  metrics?: Metrics;
  dispatcherId: string;
  retryPolicy?: RetryPolicy;
}): BatchRouter {
  const settings = deps.settings ?? BATCH_DEFAULTS;
  const logger = deps.logger.child({ component: 'batch' });
  // Pools declare the batch queue limit per model; SLUICE_BATCH_QUEUE_TOKENS covers the rest.
  const limits = Object.fromEntries(
    deps.pools.map((p) => [
      p.name,
      {
        ...(settings.queueTokens !== undefined ? { '*': settings.queueTokens } : {}),
        ...Object.fromEntries(
          Object.entries(p.limits ?? {}).flatMap(([model, l]) =>
            l.batchQueueTokens !== undefined ? [[model, l.batchQueueTokens]] : [],
          ),
        ),
      },
    ]),
  );
  const budget = createBatchQueueBudget({ limits });
  const store = createBatchStore(deps.db);
  const metrics = deps.metrics ? createBatchMetrics(deps.metrics.registry) : undefined;
  const router = createBatchRouter({
    store,
    persist: (events) => retryUntilDone(() => deps.append(events), { what: 'event store append', logger }),
    log: deps.log,
    upstream: createBatchUpstream(deps.pools),
    budget,
    settings,
    logger,
    ...(metrics ? { metrics } : {}),
    dispatcherId: deps.dispatcherId,
    clock: Date.now,
    random: Math.random,
    ...(deps.retryPolicy ? { retryPolicy: deps.retryPolicy } : {}),
  });
  metrics?.observe({
    inFlight: () => store.inFlight(),
    queue: (now) => budget.snapshot(now),
    collecting: () => router.collecting(),
  });
  return router;
}
