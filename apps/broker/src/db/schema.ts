import { ENDPOINTS, type Endpoint, LEGACY_ENDPOINT, type UpstreamError } from '@sluice/events';
import { sql } from 'drizzle-orm';
import { index, pgTable, primaryKey, uniqueIndex } from 'drizzle-orm/pg-core';

export interface TenantSettings {
  weight?: number;
  caps?: { rpm?: number; tpm?: number };
  budget?: { period: 'month'; usdMicros?: number; tokens?: number; onExhausted: 'refuse' | 'downgrade' };
  /** Exact response cache (cache/): off unless enabled; `scope` set by an operator shares one cache between tenants. */
  cache?: { enabled: boolean; ttlSeconds: number; scope?: string };
  /** Batch-class requests may go through the Batch API (half price, answered within 24 h). Default off. */
  batchApi?: boolean;
  /** Service tiers (tiers/tier-policy): flex and priority `auto` | `allow` | `off`, and flex's deadline fallback. */
  tiers?: { flex?: 'auto' | 'allow' | 'off'; priority?: 'auto' | 'allow' | 'off'; fallback?: boolean };
}

export const tenants = pgTable('tenants', (t) => ({
  id: t.text().primaryKey(),
  name: t.text().notNull().unique(),
  settings: t.jsonb().$type<TenantSettings>().notNull().default({}),
  createdAt: t.timestamp({ withTimezone: true }).notNull().defaultNow(),
  disabledAt: t.timestamp({ withTimezone: true }),
}));

export const apiKeys = pgTable(
  'api_keys',
  (t) => ({
    id: t.text().primaryKey(),
    tenantId: t.text().references(() => tenants.id),
    role: t.text({ enum: ['tenant', 'admin'] }).notNull(),
    /** The first characters, to recognise a key in lists; never enough to use it. */
    prefix: t.text().notNull(),
    /** sha256 of the whole key; the key itself is never stored. */
    hash: t.text().notNull(),
    createdAt: t.timestamp({ withTimezone: true }).notNull().defaultNow(),
    revokedAt: t.timestamp({ withTimezone: true }),
  }),
  (tbl) => [uniqueIndex('api_keys_hash_idx').on(tbl.hash), index('api_keys_tenant_idx').on(tbl.tenantId)],
);

/** The append-only event store: the source of truth every projection is rebuilt from. */
export const events = pgTable(
  'events',
  (t) => ({
    seq: t.bigserial({ mode: 'number' }).primaryKey(),
    eventId: t.text().notNull(),
    type: t.text().notNull(),
    version: t.integer().notNull(),
    requestId: t.text().notNull(),
    tenantId: t.text().notNull(),
    attempt: t.integer().notNull(),
    occurredAt: t.timestamp({ withTimezone: true }).notNull(),
    recordedAt: t.timestamp({ withTimezone: true }).notNull().defaultNow(),
    payload: t.jsonb().notNull(),
    /** Audit chain per tenant: hash = sha256(prevHash + canonical payload). */
    prevHash: t.text().notNull(),
    hash: t.text().notNull(),
  }),
  (tbl) => [
    uniqueIndex('events_event_id_idx').on(tbl.eventId),
    index('events_request_idx').on(tbl.requestId),
    index('events_tenant_seq_idx').on(tbl.tenantId, tbl.seq),
  ],
);

/** Projection: the state of each request. */
export const requests = pgTable(
  'requests',
  (t) => ({
    requestId: t.text().primaryKey(),
    tenantId: t.text().notNull(),
    endpoint: t.text({ enum: ENDPOINTS }).$type<Endpoint>().notNull().default(LEGACY_ENDPOINT),
    pool: t.text().notNull(),
    model: t.text().notNull(),
    priority: t.text().notNull(),
    status: t.text().notNull(),
    attempts: t.integer().notNull().default(0),
    submittedAt: t.timestamp({ withTimezone: true }).notNull(),
    lastEventAt: t.timestamp({ withTimezone: true }).notNull(),
    completedAt: t.timestamp({ withTimezone: true }),
    queueWaitMs: t.integer(),
    upstreamLatencyMs: t.integer(),
    estimatedTokens: t.integer().notNull().default(0),
    idempotencyKey: t.text(),
    /** sha256 of the endpoint and body (`requestFingerprint`): a reused idempotency key must match it. */
    fingerprint: t.text(),
    source: t.text().notNull(),
    stream: t.boolean().notNull().default(false),
    errorReason: t.text(),
    errorMessage: t.text(),
    errorStatus: t.integer(),
    deadLettered: t.boolean().notNull().default(false),
    /** The upstream's own error of the failing attempt, relayed to the caller as it was sent. */
    upstreamError: t.jsonb().$type<UpstreamError>(),
    /** The upstream's `x-request-id` and `openai-processing-ms` of the answering attempt. */
    upstreamRequestId: t.text(),
    upstreamProcessingMs: t.integer(),
    response: t.jsonb(),
    /** `hit` = answered from the exact response cache, `miss` = eligible but went upstream; null = not eligible. */
    cache: t.text({ enum: ['hit', 'miss'] }),
  }),
  (tbl) => [
    index('requests_tenant_submitted_idx').on(tbl.tenantId, tbl.submittedAt),
    // The console's request explorer: newest first, by any one filter, in keyset pages.
    index('requests_submitted_idx').on(tbl.submittedAt, tbl.requestId),
    index('requests_status_submitted_idx').on(tbl.status, tbl.submittedAt),
    index('requests_model_submitted_idx').on(tbl.model, tbl.submittedAt),
    index('requests_endpoint_submitted_idx').on(tbl.endpoint, tbl.submittedAt),
    index('requests_idempotency_key_idx')
      .on(tbl.idempotencyKey)
      .where(sql`${tbl.idempotencyKey} IS NOT NULL`),
    // Queue depth and oldest wait by priority and tenant (status, live view): only the few open
    // requests are indexed, with what those reads need.
    index('requests_open_idx')
      .on(tbl.priority, tbl.status, tbl.tenantId, tbl.submittedAt)
      .where(sql`${tbl.status} NOT IN ('completed', 'failed', 'cancelled')`),
    uniqueIndex('requests_idempotency_idx')
      .on(tbl.tenantId, tbl.idempotencyKey)
      .where(sql`${tbl.idempotencyKey} IS NOT NULL`),
  ],
);

/** Projection: usage per tenant, hour and model — what reports read (never the raw events). */
export const usageRollup = pgTable(
  'usage_rollup',
  (t) => ({
    tenantId: t.text().notNull(),
    bucketStart: t.timestamp({ withTimezone: true }).notNull(),
    model: t.text().notNull(),
    endpoint: t.text({ enum: ENDPOINTS }).$type<Endpoint>().notNull().default(LEGACY_ENDPOINT),
    /**
     * How the tokens were bought (`usage.recorded`'s channel, a synchronous one split by the tier the
     * upstream reported: `billedChannel`): it picks the price. Request counters sit under `sync`.
     */
    channel: t
      .text({ enum: ['sync', 'flex', 'priority', 'batch', 'cache'] })
      .notNull()
      .default('sync'),
    requests: t.bigint({ mode: 'number' }).notNull().default(0),
    completed: t.bigint({ mode: 'number' }).notNull().default(0),
    failed: t.bigint({ mode: 'number' }).notNull().default(0),
    cancelled: t.bigint({ mode: 'number' }).notNull().default(0),
    retries: t.bigint({ mode: 'number' }).notNull().default(0),
    rateLimited: t.bigint({ mode: 'number' }).notNull().default(0),
    promptTokens: t.bigint({ mode: 'number' }).notNull().default(0),
    cachedTokens: t.bigint({ mode: 'number' }).notNull().default(0),
    completionTokens: t.bigint({ mode: 'number' }).notNull().default(0),
    reasoningTokens: t.bigint({ mode: 'number' }).notNull().default(0),
    estimatedUsage: t.bigint({ mode: 'number' }).notNull().default(0),
    queueWaitMsSum: t.bigint({ mode: 'number' }).notNull().default(0),
    upstreamLatencyMsSum: t.bigint({ mode: 'number' }).notNull().default(0),
    latencyCount: t.bigint({ mode: 'number' }).notNull().default(0),
    /** Completions answered from the exact response cache, and eligible ones that went upstream. */
    cacheHits: t.bigint({ mode: 'number' }).notNull().default(0),
    cacheMisses: t.bigint({ mode: 'number' }).notNull().default(0),
    /** Fixed-bucket histograms (bounds: LATENCY_BUCKETS_MS): percentiles from rollups, never raw events. */
    queueWaitHist: t.bigint({ mode: 'number' }).array().notNull().default(sql`'{}'::bigint[]`),
    upstreamLatencyHist: t.bigint({ mode: 'number' }).array().notNull().default(sql`'{}'::bigint[]`),
  }),
  (tbl) => [primaryKey({ columns: [tbl.tenantId, tbl.bucketStart, tbl.model, tbl.endpoint, tbl.channel] })],
);

/**
 * Each dispatcher's heartbeat with a summary of its limiter (queues, limits, utilisation), for
 * `sluice status` and the dashboard: operational state, not an event, so it is overwritten.
 */
export const dispatcherStatus = pgTable('dispatcher_status', (t) => ({
  dispatcherId: t.text().primaryKey(),
  startedAt: t.timestamp({ withTimezone: true }).notNull(),
  heartbeatAt: t.timestamp({ withTimezone: true }).notNull(),
  summary: t.jsonb().notNull(),
}));

/** What an operator did with a dead-lettered request (`sluice dlq retry|discard`): one action each. */
export const deadLetterActions = pgTable('dead_letter_actions', (t) => ({
  requestId: t.text().primaryKey(),
  action: t.text({ enum: ['retried', 'discarded'] }).notNull(),
  /** The new request a retry submitted (its idempotency key is derived from the original's id). */
  retryRequestId: t.text(),
  actedAt: t.timestamp({ withTimezone: true }).notNull().defaultNow(),
}));

/**
 * The exact response cache (cache/): a projection of `request.completed` events that carry a cache
 * directive (filled by misses, hit counts from hits), so `sluice replay` rebuilds it. One answer per
 * scope and key; TTL enforced on read, size bound by evicting expired then least recently used entries.
 */
export const responseCache = pgTable(
  'response_cache',
  (t) => ({
    scope: t.text().notNull(),
    key: t.text().notNull(),
    model: t.text().notNull(),
    /** The request whose upstream answer this is. */
    sourceRequestId: t.text().notNull(),
    response: t.jsonb().notNull(),
    promptTokens: t.integer().notNull(),
    cachedTokens: t.integer().notNull(),
    completionTokens: t.integer().notNull(),
    reasoningTokens: t.integer().notNull(),
    bytes: t.integer().notNull(),
    createdAt: t.timestamp({ withTimezone: true }).notNull(),
    expiresAt: t.timestamp({ withTimezone: true }).notNull(),
    hitCount: t.bigint({ mode: 'number' }).notNull().default(0),
    lastHitAt: t.timestamp({ withTimezone: true }),
  }),
  (tbl) => [
    primaryKey({ columns: [tbl.scope, tbl.key] }),
    index('response_cache_expires_idx').on(tbl.expiresAt),
  ],
);
/**
 * Projection: counted units that are not tokens (built-in tool calls such as `web_search_call`),
 * per tenant, hour, model, endpoint and channel — priced per unit where the price table lists one.
 */
export const usageUnits = pgTable(
  'usage_units',
  (t) => ({
    tenantId: t.text().notNull(),
    bucketStart: t.timestamp({ withTimezone: true }).notNull(),
    model: t.text().notNull(),
    endpoint: t.text({ enum: ENDPOINTS }).$type<Endpoint>().notNull(),
    channel: t.text({ enum: ['sync', 'flex', 'priority', 'batch', 'cache'] }).notNull(),
    /** The kind of unit, e.g. `web_search_call`. */
    unit: t.text().notNull(),
    count: t.bigint({ mode: 'number' }).notNull().default(0),
  }),
  (tbl) => [
    primaryKey({ columns: [tbl.tenantId, tbl.bucketStart, tbl.model, tbl.endpoint, tbl.channel, tbl.unit] }),
  ],
);

export { type AdminActionRow, adminActions } from '../audit/admin-action-schema';
export { type UpstreamBatchRow, upstreamBatches } from '../batch/batch-schema';
export { type ConsoleSessionRow, consoleSessions } from '../console/console-schema';
export {
  type ResponseOwnerRow,
  responseDeletions,
  responseOwners,
} from '../operations/responses/response-schema';

export type Tenant = typeof tenants.$inferSelect;
export type ApiKey = typeof apiKeys.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type RequestRow = typeof requests.$inferSelect;
export type UsageRollupRow = typeof usageRollup.$inferSelect;
export type UsageUnitsRow = typeof usageUnits.$inferSelect;
export type ResponseCacheRow = typeof responseCache.$inferSelect;

/**
 * Secrets every Sluice process of a deployment shares, created once by whichever starts first:
 * `stream_push` signs a dispatcher's push of a streamed answer to the API process whose caller
 * waits for it (`streaming/stream-writer.ts`). Never in an event, a log line or a response.
 */
export const clusterSecrets = pgTable('cluster_secrets', (t) => ({
  name: t.text().primaryKey(),
  value: t.text().notNull(),
  createdAt: t.timestamp({ withTimezone: true }).notNull().defaultNow(),
}));
