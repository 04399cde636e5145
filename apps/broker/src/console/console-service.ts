import { type EventLog, SluiceError, type SluiceEvent, upcastEvent } from '@sluice/events';
import { and, count, eq, inArray, isNull } from 'drizzle-orm';
import type { AdminActions } from '../audit/admin-actions';
import type { BillingService } from '../billing/billing-service';
import type { BudgetStatus } from '../billing/budgets';
import type { PriceTable } from '../billing/prices';
import type { SluiceDb } from '../db/database';
import { apiKeys, requests, tenants } from '../db/schema';
import type { EventStore } from '../store/event-store';
import type { TenantService } from '../tenants/tenant-service';
import { type TierPolicy, tierPolicyOf } from '../tiers/tier-policy';
import type { ConsoleSessions } from './console-sessions';
import { EXPLORER_ORDER, type ExplorerSearch, encodeCursor, explorerWhere } from './explorer-query';
import { collectLiveView, type LiveView } from './live-view';
import { buildTimeline, type RequestTimeline } from './request-timeline';

/** One line of the explorer: the request's projected state, without its answer. */
export interface ExplorerRow {
  requestId: string;
  tenantId: string;
  tenantName: string;
  endpoint: string;
  model: string;
  pool: string;
  priority: string;
  status: string;
  attempts: number;
  submittedAt: string;
  completedAt: string | null;
  queueWaitMs: number | null;
  upstreamLatencyMs: number | null;
  idempotencyKey: string | null;
  source: string;
  stream: boolean;
  errorReason: string | null;
  errorStatus: number | null;
  deadLettered: boolean;
  cache: 'hit' | 'miss' | null;
}

export interface ExplorerPage {
  rows: ExplorerRow[];
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export interface TenantOverview {
  id: string;
  name: string;
  createdAt: string;
  disabled: boolean;
  activeKeys: number;
  budget: BudgetStatus;
  cache: { enabled: boolean; ttlSeconds: number | null; sharedScope: string | null };
  batchApi: boolean;
  /** Service tiers: flex and priority `auto` | `allow` | `off`, and flex's deadline fallback. */
  tiers: TierPolicy;
}

export interface OwnKey {
  id: string;
  prefix: string;
  createdAt: string;
  revoked: boolean;
  revokedAt: string | null;
}

const ROW_COLUMNS = {
  requestId: requests.requestId,
  tenantId: requests.tenantId,
  endpoint: requests.endpoint,
  model: requests.model,
  pool: requests.pool,
  priority: requests.priority,
  status: requests.status,
  attempts: requests.attempts,
  submittedAt: requests.submittedAt,
  completedAt: requests.completedAt,
  queueWaitMs: requests.queueWaitMs,
  upstreamLatencyMs: requests.upstreamLatencyMs,
  idempotencyKey: requests.idempotencyKey,
  source: requests.source,
  stream: requests.stream,
  errorReason: requests.errorReason,
  errorStatus: requests.errorStatus,
  deadLettered: requests.deadLettered,
  cache: requests.cache,
};

/**
 * What the console reads beyond the API's own procedures: the request explorer and timelines,
 * request bodies (operators only), the live view, the tenants overview and a tenant's own keys.
 * Every read that a tenant may make takes the caller's tenant (`scope`, null = operator) and
 * never returns another tenant's rows.
 */
export function createConsoleService(deps: {
  db: SluiceDb;
  store: EventStore;
  prices: PriceTable;
  tenants: TenantService;
  billing: BillingService;
  audit: AdminActions;
  sessions: ConsoleSessions;
  log?: EventLog;
}) {
  const { db } = deps;

  async function tenantNames(ids: readonly string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await db
      .select({ id: tenants.id, name: tenants.name })
      .from(tenants)
      .where(inArray(tenants.id, [...new Set(ids)]));
    return new Map(rows.map((t) => [t.id, t.name]));
  }

  async function eventsOf(scope: string | null, requestId: string): Promise<SluiceEvent[]> {
    const row = await deps.store.getRequest(scope, requestId);
    if (!row)
      throw new SluiceError('not_found', `No request ${requestId}${scope ? ' for this tenant' : ''}.`);
    return (await deps.store.eventsOf(requestId)).map((raw) => upcastEvent(raw));
  }

  /** A page of requests matching the search, newest first (keyset pagination: no OFFSET). */
  async function search(
    scope: string | null,
    q: Omit<ExplorerSearch, 'tenantId'> & { tenantId?: string },
  ): Promise<ExplorerPage> {
    await deps.store.flush();
    const found = await db
      .select(ROW_COLUMNS)
      .from(requests)
      .where(explorerWhere(q, scope))
      .orderBy(...EXPLORER_ORDER)
      .limit(q.limit + 1);
    const page = found.slice(0, q.limit);
    const names = await tenantNames(page.map((r) => r.tenantId));
    const rows = page.map((r) => ({
      ...r,
      tenantName: names.get(r.tenantId) ?? r.tenantId,
      submittedAt: new Date(r.submittedAt).toISOString(),
      completedAt: r.completedAt ? new Date(r.completedAt).toISOString() : null,
      cache: (r.cache as ExplorerRow['cache']) ?? null,
    }));
    const last = rows[rows.length - 1];
    return {
      rows,
      nextCursor:
        found.length > q.limit && last
          ? encodeCursor({ submittedAt: last.submittedAt, requestId: last.requestId })
          : null,
    };
  }

  return {
    sessions: deps.sessions,
    audit: deps.audit,

    search,

    /** A request's state and its event timeline with durations, retries, usage and cost; no bodies. */
    async timeline(
      scope: string | null,
      requestId: string,
    ): Promise<{ request: ExplorerRow; timeline: RequestTimeline }> {
      const events = await eventsOf(scope, requestId);
      const [row] = (await search(scope, { requestId, limit: 1 })).rows;
      if (!row) throw new SluiceError('not_found', `No request ${requestId}.`);
      return { request: row, timeline: buildTimeline(events, deps.prices) };
    },

    /**
     * The request's body as submitted and the answer (or error) as the caller got it: operators
     * only, read on purpose (the console asks for them behind a click) and recorded in the audit trail.
     */
    async bodies(requestId: string): Promise<{ request: unknown; response: unknown; error: unknown }> {
      await eventsOf(null, requestId);
      const raw = (await deps.store.eventsOf(requestId)) as unknown as Array<Record<string, unknown>>;
      const submitted = raw.find((e) => e.type === 'request.submitted');
      const completed = raw.findLast((e) => e.type === 'request.completed');
      const failed = raw.findLast((e) => e.type === 'request.failed');
      return {
        request: submitted?.body ?? null,
        response: completed?.response ?? completed?.result ?? null,
        error: failed ? { reason: failed.reason, status: failed.status, message: failed.message } : null,
      };
    },

    live: (): Promise<LiveView> => collectLiveView({ db, ...(deps.log ? { log: deps.log } : {}) }),

    /** Every tenant with its policies (budget and this month's spend, cache, Batch API) and live keys. */
    async tenants(): Promise<TenantOverview[]> {
      const [list, keyCounts] = await Promise.all([
        deps.tenants.listTenants(),
        db
          .select({ tenantId: apiKeys.tenantId, n: count() })
          .from(apiKeys)
          .where(and(isNull(apiKeys.revokedAt), eq(apiKeys.role, 'tenant')))
          .groupBy(apiKeys.tenantId),
      ]);
      const keys = new Map(keyCounts.map((k) => [k.tenantId, Number(k.n)]));
      const out: TenantOverview[] = [];
      for (const t of list) {
        const cache = t.settings.cache;
        out.push({
          id: t.id,
          name: t.name,
          createdAt: new Date(t.createdAt).toISOString(),
          disabled: t.disabledAt !== null,
          activeKeys: keys.get(t.id) ?? 0,
          budget: await deps.billing.budget(t.id),
          cache: {
            enabled: cache?.enabled ?? false,
            ttlSeconds: cache?.ttlSeconds ?? null,
            sharedScope: cache?.scope?.startsWith('shared:') ? cache.scope.slice('shared:'.length) : null,
          },
          batchApi: t.settings.batchApi === true,
          tiers: tierPolicyOf(t.settings.tiers),
        });
      }
      return out;
    },

    /** A tenant's own keys (never their secrets, which are not stored). */
    async ownKeys(tenantId: string): Promise<OwnKey[]> {
      return (await deps.tenants.listKeys(tenantId)).map((k) => ({
        id: k.id,
        prefix: k.prefix,
        createdAt: new Date(k.createdAt).toISOString(),
        revoked: k.revokedAt !== null,
        revokedAt: k.revokedAt ? new Date(k.revokedAt).toISOString() : null,
      }));
    },

    /** Who the caller is, for the console's header: role, key, tenant and session. */
    async whoami(auth: {
      role: 'tenant' | 'admin';
      keyId: string;
      tenantId: string | null;
      sessionId: string | null;
    }) {
      const [key] = await db
        .select({ prefix: apiKeys.prefix })
        .from(apiKeys)
        .where(eq(apiKeys.id, auth.keyId))
        .limit(1);
      const tenant = auth.tenantId ? await deps.tenants.getTenant(auth.tenantId) : undefined;
      return {
        role: auth.role,
        keyId: auth.keyId,
        keyPrefix: key?.prefix ?? null,
        tenantId: auth.tenantId,
        tenantName: tenant?.name ?? null,
        sessionId: auth.sessionId,
      };
    },
  };
}

export type ConsoleService = ReturnType<typeof createConsoleService>;
