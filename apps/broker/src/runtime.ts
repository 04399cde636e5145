import { randomUUID } from 'node:crypto';
import { createGroupCommit, type EventLog, REQUEST_TOPICS } from '@sluice/events';
import { createKafkaEventLog } from '@sluice/events/kafka';
import { createPostgresEventLog } from '@sluice/events/postgres';
import { createLimiter } from '@sluice/limiter';
import { type RunningSimulator, startOpenAISimulator } from '@sluice/openai-simulator';
import type { FastifyInstance } from 'fastify';
import { createBatchPath } from './batch/batch-path';
import { createRoutePolicy } from './batch/route-policy';
import { createCacheAdmission } from './cache/cache-admission';
import { createResponseCache, type ResponseCache } from './cache/response-cache';
import { clusterSecret } from './db/cluster-secret';
import { type Database, openDatabase } from './db/database';
import { migrateDatabase } from './db/migrate';
import { DISPATCHER_DEFAULTS } from './dispatcher/defaults';
import { createDispatcher, type Dispatcher } from './dispatcher/dispatcher';
import type { SluiceConfig } from './env';
import { createEstimator, ESTIMATOR_DEFAULTS } from './estimation/estimator';
import { startOpsServer } from './http/ops-server';
import { createHttpServer } from './http/server';
import type { Logger } from './logger';
import { createMetrics, type Metrics } from './metrics';
import { checkReadiness } from './observability/health';
import { summarizeDispatcher } from './observability/status';
import { startDispatcherHeartbeat } from './observability/status-store';
import { OPERATIONS } from './operations/registry';
import { createOutcomeHub, type OutcomeHub } from './outcomes/outcome-hub';
import { createServices } from './service-impl';
import { createEventStore, type EventStore } from './store/event-store';
import { createStreamTargets } from './streaming/stream-target';
import { createStreamOpener } from './streaming/stream-writer';
import { createTenantService, type TenantService } from './tenants/tenant-service';
import { createModelCatalog } from './upstream/model-catalog';
import {
  DEFAULT_POOL,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  limiterLimits,
  limiterPoolOf,
  type PoolConfig,
} from './upstream/pools';
import { createUpstreamClient } from './upstream/upstream-client';

export type Role = 'api' | 'dispatcher';

/** How long the embedded store lets the dispatcher's outcome writes wait to share a transaction. */
const EMBEDDED_OUTCOME_LINGER_MS = 10;

export interface Runtime {
  config: SluiceConfig;
  database: Database;
  log: EventLog;
  store: EventStore;
  tenants: TenantService;
  metrics: Metrics;
  pools: PoolConfig[];
  simulator?: RunningSimulator;
  http?: FastifyInstance;
  /** The URL the API listens on, when it runs. */
  url?: string;
  /** Where a dispatcher-only process serves /metrics, /healthz and /readyz. */
  opsUrl?: string;
  dispatcher?: Dispatcher;
  hub?: OutcomeHub;
  responseCache: ResponseCache;
  close(): Promise<void>;
}

/**
 * Composes Sluice from its parts for the roles this process plays. Embedded mode plays both
 * roles in one process on PGlite; production runs `serve` and `dispatch` as separate processes.
 */
export async function createRuntime(
  config: SluiceConfig,
  opts: {
    roles: readonly Role[];
    logger: Logger;
    metrics?: Metrics;
    listen?: boolean;
    /** Runs once everything is up but before the API listens: what readiness must imply. */
    beforeListen?: (runtime: Runtime) => Promise<void>;
  },
): Promise<Runtime> {
  const { logger } = opts;
  const metrics = opts.metrics ?? createMetrics();
  const closers: Array<() => Promise<unknown>> = [];
  // Each step is bounded: a part that hangs (e.g. a broker mid-rebalance) never blocks shutdown.
  const close = async () => {
    for (const c of closers.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        c(),
        new Promise((resolve) => {
          timer = setTimeout(resolve, 20_000);
        }),
      ])
        .catch((e) => logger.warn({ err: e }, 'error while closing'))
        .finally(() => clearTimeout(timer));
    }
  };

  try {
    const database = await openDatabase(config.database);
    closers.push(() => database.close());
    await migrateDatabase(database.db);

    const log =
      config.log.kind === 'kafka'
        ? createKafkaEventLog({
            brokers: config.log.brokers,
            partitions: config.log.partitions,
            clientId: 'sluice',
            ...(config.log.namespace ? { namespace: config.log.namespace } : {}),
          })
        : createPostgresEventLog({ db: database.db, partitions: config.log.partitions });
    await log.start();
    closers.push(() => log.close());

    const responseCache = createResponseCache({
      db: database.db,
      ...(config.cache ? { config: config.cache } : {}),
      logger,
      metrics,
    });
    responseCache.start();
    closers.push(() => responseCache.close());
    const store = createEventStore(database.db, {
      onCacheFilled: (e) => responseCache.filled(e),
      serialTransactions: database.kind === 'pglite',
      // One connection: a request's outcome transaction would hold up the next request's append.
      // Measured on PGlite, sequential calls: added p50 3.5–3.7 ms writing each at once, 1.3 ms
      // with a 10 ms linger; on the Postgres server it made no difference, so there it is off.
      lingerMs: database.kind === 'pglite' ? EMBEDDED_OUTCOME_LINGER_MS : 0,
    });
    // Dispatchers sign what they push to an API process's streaming callers with it.
    const pushSecret = await clusterSecret(database.db, 'stream_push');
    // The callers of this process waiting for streams (none in a dispatcher-only process).
    const streamTargets = createStreamTargets();
    const tenants = createTenantService(database.db, { cacheAuth: opts.roles.includes('api') });
    await tenants.startAuthCache();
    closers.push(() => tenants.stopAuthCache());

    let simulator: RunningSimulator | undefined;
    let pools: PoolConfig[];
    if ('simulator' in config.upstream) {
      simulator = await startOpenAISimulator({
        port: 0,
        // The demo's upstream answers exactly the endpoints Sluice brokers.
        endpoints: OPERATIONS.map((o) => o.simulator),
        limits: { default: { rpm: config.upstream.simulator.rpm, tpm: config.upstream.simulator.tpm } },
        latency: { baseMs: config.upstream.simulator.latencyMs },
      });
      closers.push(() => simulator!.close());
      pools = [
        {
          name: DEFAULT_POOL,
          apiKey: 'sk-simulator',
          baseURL: simulator.url,
          timeoutMs: DEFAULT_UPSTREAM_TIMEOUT_MS,
        },
      ];
    } else {
      pools = config.pools ?? [
        {
          name: DEFAULT_POOL,
          apiKey: config.upstream.apiKey,
          ...(config.upstream.baseURL ? { baseURL: config.upstream.baseURL } : {}),
          timeoutMs: DEFAULT_UPSTREAM_TIMEOUT_MS,
        },
      ];
    }

    const runtime: Runtime = {
      config,
      database,
      log,
      store,
      tenants,
      metrics,
      pools,
      responseCache,
      close,
      ...(simulator ? { simulator } : {}),
    };

    if (opts.roles.includes('dispatcher')) {
      const limiter = createLimiter({ limits: limiterLimits(pools) });
      const requestStates = createGroupCommit(async (ids: string[]) => {
        const found = await store.requestStates(ids);
        return ids.map((id) => found.get(id));
      });
      const dispatcherId = config.dispatcherId ?? `dispatcher-${randomUUID().slice(0, 8)}`;
      const batches = createBatchPath({
        db: database.db,
        append: (events) => store.append(events),
        log,
        pools,
        ...(config.batch ? { settings: config.batch } : {}),
        logger,
        metrics,
        dispatcherId,
        ...(config.retryPolicy ? { retryPolicy: config.retryPolicy } : {}),
      });
      const dispatcher = createDispatcher({
        log,
        store: {
          append: (events, o) => store.append(events, o),
          // Lookups that arrive together (a fetched batch of a backlog) share one query, so an
          // interactive request never waits behind a thousand single-row reads.
          requestState: async (id) => (await requestStates([id]))[0],
        },
        limiter,
        upstream: createUpstreamClient(pools),
        streams: createStreamOpener({
          targets: streamTargets,
          secret: pushSecret,
        }),
        logger: logger.child({ component: 'dispatcher' }),
        metrics,
        dispatcherId,
        ...(config.retryPolicy ? { retryPolicy: config.retryPolicy } : {}),
        ...(config.tiers ? { tierSettings: config.tiers } : {}),
        limiterPool: (pool, tier) => limiterPoolOf(pools, pool, tier),
        batches,
      });
      await dispatcher.start();
      closers.push(() => dispatcher.stop());
      runtime.dispatcher = dispatcher;
      const heartbeat = startDispatcherHeartbeat({
        db: database.db,
        dispatcherId: dispatcher.id,
        summary: () =>
          summarizeDispatcher(limiter.snapshot(Date.now()), dispatcher.inFlightCount(), Date.now()),
        logger,
      });
      closers.push(() => heartbeat.stop());
      metrics.observeDispatcher({
        snapshot: (now) => limiter.snapshot(now),
        lag: () => log.lag(DISPATCHER_DEFAULTS.groupId, REQUEST_TOPICS),
      });
      if (!opts.roles.includes('api') && opts.listen !== false) {
        const ops = await startOpsServer({
          port: config.metricsPort,
          host: config.host,
          metrics,
          logger,
          readiness: () => checkReadiness({ database, log, dispatcherRunning: () => dispatcher.running() }),
        });
        closers.push(() => ops.close());
        runtime.opsUrl = ops.url;
      }
    }

    if (opts.roles.includes('api')) {
      const catalog = createModelCatalog(pools, logger);
      await catalog.refresh();
      const refresh = setInterval(() => void catalog.refresh(), 10 * 60_000);
      refresh.unref();
      closers.push(async () => clearInterval(refresh));

      const cache = createCacheAdmission({ tenants, cache: responseCache, store, metrics });
      const route = createRoutePolicy({
        enabled: config.batch?.enabled ?? true,
        tenantSettings: async (id) => (await tenants.getTenant(id))?.settings,
      });
      let services: ReturnType<typeof createServices> | undefined;
      const hub = createOutcomeHub({
        log,
        store: { getRequestState: (t, id) => services!.requests.state(t, id) },
        logger,
      });
      await hub.start();
      closers.push(() => hub.stop());
      runtime.hub = hub;
      const estimator = createEstimator(config.estimator ?? ESTIMATOR_DEFAULTS, metrics);
      closers.push(() => estimator.close());
      services = createServices({
        config,
        estimator,
        database,
        log,
        store,
        tenants,
        hub,
        streams: {
          targets: streamTargets,
          replyTo: () => {
            const url = config.advertiseUrl ?? runtime.url;
            return url ? { url: reachableUrl(url) } : null;
          },
          pushSecret,
        },
        catalog,
        pools,
        metrics,
        cache,
        route,
      });
      const http = await createHttpServer({
        services,
        logger,
        metrics,
        maxBodyBytes: config.maxBodyBytes,
        ...(config.connections ? { connections: config.connections } : {}),
        ...(config.bodyTimeoutMs ? { requestTimeoutMs: config.bodyTimeoutMs } : {}),
        ...(config.largeBodies ? { largeBodies: config.largeBodies } : {}),
      });
      closers.push(() => http.close());
      runtime.http = http;
      await opts.beforeListen?.(runtime);
      if (opts.listen !== false) {
        runtime.url = await http.listen({ port: config.port, host: config.host });
      }
    }
    return runtime;
  } catch (error) {
    await close();
    throw error;
  }
}

/** A listening address as a client on this host reaches it: a wildcard host becomes loopback. */
export function reachableUrl(url: string): string {
  return url.replace('://0.0.0.0', '://127.0.0.1').replace('://[::]', '://[::1]');
}
