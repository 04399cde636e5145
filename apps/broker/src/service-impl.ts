import { type EventLog, eventIdFor, SluiceError, type SluiceEvent, TOPICS } from '@sluice/events';
import { createAdminActions } from './audit/admin-actions';
import type { RouteRequest } from './batch/route-policy';
import { tenantBatchApi } from './batch/tenant-batch-api';
import { createBillingService } from './billing/billing-service';
import { loadPriceTable } from './billing/prices';
import type { CacheAdmission } from './cache/cache-admission';
import { createCacheSettingsOps } from './cache/cache-settings';
import { createConsoleService } from './console/console-service';
import { createConsoleSessions } from './console/console-sessions';
import type { Database } from './db/database';
import { createDeadLetters } from './dlq/dead-letters';
import type { SluiceConfig } from './env';
import type { Estimator } from './estimation/estimator';
import { createSubmitUseCase } from './intake/submit';
import { createSubmitRateLimiter, DEFAULT_SUBMIT_RATE } from './intake/submit-rate';
import type { Metrics } from './metrics';
import { checkReadiness } from './observability/health';
import { collectStatus } from './observability/status-store';
import { createResponsesService } from './operations/responses/responses-service';
import type { OutcomeHub } from './outcomes/outcome-hub';
import { isTerminal, type RequestView, toRequestView } from './outcomes/request-view';
import type { Services } from './services';
import type { EventStore } from './store/event-store';
import { evolveRequest, type RequestState } from './store/projections';
import type { StreamIntake } from './streaming/stream-routes';
import type { TenantService } from './tenants/tenant-service';
import { tenantTiers } from './tiers/tenant-tiers';
import { createTierAdmission } from './tiers/tier-admission';
import type { ModelCatalog } from './upstream/model-catalog';
import type { PoolConfig } from './upstream/pools';
import { createUpstreamClient, type UpstreamClient } from './upstream/upstream-client';

export const SYNC_WAIT_TIMEOUT_MS = 10 * 60_000;

export function createAdminOps(tenants: TenantService): Services['admin'] {
  return {
    async createTenant(name) {
      if (await tenants.getTenant(name))
        throw new SluiceError('conflict', `A tenant named ${name} already exists.`);
      const r = await tenants.createTenant(name);
      return { tenantId: r.tenant.id, name: r.tenant.name, apiKey: r.apiKey };
    },
    async listTenants() {
      return (await tenants.listTenants()).map((t) => ({
        id: t.id,
        name: t.name,
        createdAt: new Date(t.createdAt).toISOString(),
        disabled: t.disabledAt !== null,
      }));
    },
    async createKey(tenant) {
      if (tenant === null) {
        const r = await tenants.createAdminKey();
        return { keyId: r.key.id, apiKey: r.apiKey, prefix: r.key.prefix };
      }
      const t = await tenants.getTenant(tenant);
      if (!t)
        throw new SluiceError('not_found', `No tenant ${tenant}. List them with \`sluice tenants list\`.`);
      const r = await tenants.createKey(t.id);
      return { keyId: r.key.id, apiKey: r.apiKey, prefix: r.key.prefix };
    },
    batchApi: (tenant, enabled) => tenantBatchApi(tenants, tenant, enabled),
    tiers: (tenant, patch) => tenantTiers(tenants, tenant, patch),
    async revokeKey(keyIdOrPrefix) {
      const r = await tenants.revokeKey(keyIdOrPrefix);
      if (!r)
        throw new SluiceError('not_found', `No key ${keyIdOrPrefix}. List them with \`sluice keys list\`.`);
      return { keyId: r.id };
    },
    async listKeys(tenant) {
      let tenantId: string | undefined;
      if (tenant) {
        const t = await tenants.getTenant(tenant);
        if (!t) throw new SluiceError('not_found', `No tenant ${tenant}.`);
        tenantId = t.id;
      }
      return (await tenants.listKeys(tenantId)).map((k) => ({
        id: k.id,
        tenantId: k.tenantId,
        role: k.role,
        prefix: k.prefix,
        revoked: k.revokedAt !== null,
      }));
    },
  };
}

export function createServices(deps: {
  config: SluiceConfig;
  database: Database;
  log: EventLog;
  store: EventStore;
  tenants: TenantService;
  hub: OutcomeHub;
  streams: StreamIntake;
  catalog: ModelCatalog;
  pools: readonly PoolConfig[];
  metrics?: Metrics;
  /** The response cache at admission: told when an operator changes a tenant's cache settings. */
  cache?: CacheAdmission;
  /** Sync or Batch API at admission. */
  route?: RouteRequest;
  /** Measures large requests off the serving thread; absent = inline. */
  estimator?: Estimator;
  /** Calls besides the paced ones (a stored response's retrieve, delete, input items); default: the pools' clients. */
  upstream?: UpstreamClient;
}): Services {
  const { store, log } = deps;
  const prices = loadPriceTable(deps.config.pricesFile);
  const billing = createBillingService({
    db: deps.database.db,
    prices,
    tenants: deps.tenants,
    store,
  });

  const submitRate = createSubmitRateLimiter(deps.config.submitRate ?? DEFAULT_SUBMIT_RATE);
  const submissions = createSubmitUseCase({
    log,
    store,
    catalog: deps.catalog,
    pools: deps.pools,
    hub: deps.hub,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.cache ? { cache: deps.cache } : {}),
    ...(deps.route ? { route: deps.route } : {}),
    ...(deps.estimator ? { estimator: deps.estimator } : {}),
    tier: createTierAdmission({
      tenant: (id) => deps.tenants.getTenant(id),
      prices,
      ...(deps.config.tiers ? { settings: deps.config.tiers } : {}),
    }),
    budget: (tenantId, priority) => billing.admit(tenantId, priority),
    submitRate(tenantId) {
      const r = submitRate.take(tenantId);
      if (r.allowed) return;
      const { ratePerSecond, burst } = submitRate.limit;
      throw new SluiceError(
        'rate_limited',
        `Sluice's per-tenant submit rate limit reached (${ratePerSecond} requests/s, burst ${burst}); ` +
          `this is Sluice protecting its request log, not the upstream's (OpenAI's) rate limit. ` +
          `Retry after ${Math.max(1, Math.ceil(r.retryAfterMs / 1000))} s, or ask the operator to raise SLUICE_TENANT_SUBMIT_RPS.`,
        { details: { retryAfterMs: r.retryAfterMs, openaiCode: 'rate_limit_exceeded' } },
      );
    },
    syncWaitTimeoutMs: SYNC_WAIT_TIMEOUT_MS,
    stateOwners: (tenantId, refs) => responses.pin(tenantId, refs),
  });

  /** The stored projection, or, for a request accepted here that is not stored yet, its first state. */
  async function getState(tenantId: string | null, requestId: string): Promise<RequestState | undefined> {
    const row = await store.getRequest(tenantId, requestId);
    if (row) return row;
    const accepted = submissions.recentlySubmitted(tenantId, requestId);
    return accepted ? evolveRequest(undefined, accepted) : undefined;
  }

  async function getView(tenantId: string | null, requestId: string): Promise<RequestView | undefined> {
    const state = await getState(tenantId, requestId);
    return state && toRequestView(state);
  }

  const responses = createResponsesService({
    db: deps.database.db,
    flush: () => store.flush(),
    requestState: getState,
    async submitted(tenantId, requestId) {
      const recent = submissions.recentlySubmitted(tenantId, requestId);
      if (recent) return recent;
      const first = (await store.eventsOf(requestId)).find((e) => e.type === 'request.submitted');
      return first?.type === 'request.submitted' && first.tenantId === tenantId ? first : undefined;
    },
    cancelRequest: (tenantId, requestId) => requests.cancel(tenantId, requestId, 'tenant'),
    upstream: deps.upstream ?? createUpstreamClient(deps.pools),
  });

  const requests: Services['requests'] = {
    get: getView,
    state: getState,
    async list(tenantId, opts) {
      const rows = await store.listRequests({
        tenantId,
        limit: opts.limit,
        ...(opts.status ? { status: opts.status } : {}),
      });
      return rows.map(toRequestView);
    },
    async cancel(tenantId, requestId, by) {
      const accepted = submissions.recentlySubmitted(tenantId, requestId);
      if (accepted) await store.append([accepted]);
      const row = await store.getRequest(tenantId, requestId);
      if (!row) throw new SluiceError('not_found', `No request ${requestId} for this tenant.`);
      const view = toRequestView(row);
      if (isTerminal(view)) return view;
      const event: SluiceEvent = {
        type: 'request.cancelled',
        version: 2,
        endpoint: row.endpoint,
        eventId: eventIdFor('request.cancelled', requestId, row.attempts),
        requestId,
        tenantId: row.tenantId,
        pool: row.pool,
        model: row.model,
        priority: row.priority as RequestView['priority'],
        attempt: row.attempts,
        occurredAt: new Date().toISOString(),
        reason: by === 'tenant' ? 'cancelled by the tenant' : 'cancelled by an operator',
        cancelledBy: by,
      };
      await store.append([event]);
      // Tell the dispatcher holding it; if this notification is lost it is dispatched and billed normally.
      await log.notify([{ topic: TOPICS.outcomes, key: requestId, event }]).catch(() => {});
      return (await getView(tenantId, requestId)) ?? view;
    },
  };

  return {
    authenticate: (key) => deps.tenants.authenticate(key),
    responses,
    submissions,
    hub: deps.hub,
    streams: deps.streams,
    models: deps.catalog,
    syncWaitTimeoutMs: SYNC_WAIT_TIMEOUT_MS,
    requests,
    usage: (q) => (q.tenantId ? billing.tenantReport(q.tenantId, q) : billing.report(q)),
    billing,
    console: createConsoleService({
      db: deps.database.db,
      store,
      prices,
      tenants: deps.tenants,
      billing,
      audit: createAdminActions(deps.database.db),
      sessions: createConsoleSessions(deps.database.db),
      log,
    }),
    admin: createAdminOps(deps.tenants),
    cacheSettings: createCacheSettingsOps(deps.tenants, (id) => deps.cache?.forget(id)),
    health: () => checkReadiness({ database: deps.database, log }),
    status: () => collectStatus({ db: deps.database.db, log }),
    dlq: createDeadLetters({ db: deps.database.db, store, log }),
  };
}
