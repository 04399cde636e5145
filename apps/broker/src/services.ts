import type { TenantBatchApi } from './batch/tenant-batch-api';
import type { BillingService } from './billing/billing-service';
import type { CacheSettingsOps } from './cache/cache-settings';
import type { ConsoleService } from './console/console-service';
import type { DeadLetters } from './dlq/dead-letters';
import type { SubmitUseCase } from './intake/submit';
import type { StatusReport } from './observability/status';
import type { ResponsesService } from './operations/responses/responses-service';
import type { OutcomeHub } from './outcomes/outcome-hub';
import type { RequestView } from './outcomes/request-view';
import type { ReportGrouping, UsageReportRow } from './reports/usage-report';
import type { RequestState } from './store/projections';
import type { StreamIntake } from './streaming/stream-routes';
import type { TenantTiers } from './tiers/tenant-tiers';
import type { TierPolicy } from './tiers/tier-policy';
import type { ModelCatalog } from './upstream/model-catalog';

export interface AuthResult {
  tenantId: string | null;
  keyId: string;
  role: 'tenant' | 'admin';
}

export interface UsageQuery {
  tenantId?: string;
  from: Date;
  to: Date;
  by: ReportGrouping;
}

/** What the API layer (tRPC and /v1) needs; `runtime.ts` wires the real implementations. */
export interface Services {
  authenticate(presentedKey: string): Promise<AuthResult | null>;
  /** Submission, for both front doors: admission, then the cache or the log (and the wait for an outcome). */
  submissions: SubmitUseCase;
  hub: OutcomeHub;
  /** Callers of this process waiting for streamed answers, and where dispatchers push them. */
  streams: StreamIntake;
  models: ModelCatalog;
  /** The Responses API's stored responses (retrieve, cancel, delete, input items) for their creator. */
  responses: ResponsesService;
  requests: {
    get(tenantId: string | null, requestId: string): Promise<RequestView | undefined>;
    /** The request's projected state (what `get` shows), for the outcome hub to evolve. */
    state(tenantId: string | null, requestId: string): Promise<RequestState | undefined>;
    list(
      tenantId: string | null,
      opts: { limit: number; status?: RequestView['status'] },
    ): Promise<RequestView[]>;
    cancel(tenantId: string | null, requestId: string, by: 'tenant' | 'operator'): Promise<RequestView>;
  };
  usage(query: UsageQuery): Promise<UsageReportRow[]>;
  /** Reports, budgets and the audit check (billing/). */
  billing: BillingService;
  /** The console's reads, its sessions, and the audit trail of administrative actions (console/, audit/). */
  console: ConsoleService;
  admin: {
    createTenant(name: string): Promise<{ tenantId: string; name: string; apiKey: string }>;
    listTenants(): Promise<Array<{ id: string; name: string; createdAt: string; disabled: boolean }>>;
    createKey(tenant: string | null): Promise<{ keyId: string; apiKey: string; prefix: string }>;
    revokeKey(keyIdOrPrefix: string): Promise<{ keyId: string }>;
    /** Shows (`enabled` undefined) or sets the tenant's Batch API routing. */
    batchApi(tenant: string, enabled?: boolean): Promise<TenantBatchApi>;
    /** Shows (no changes) or changes the tenant's service-tier policy (flex, priority, fallback). */
    tiers(tenant: string, patch?: Partial<TierPolicy>): Promise<TenantTiers>;
    listKeys(
      tenant?: string,
    ): Promise<
      Array<{ id: string; tenantId: string | null; role: string; prefix: string; revoked: boolean }>
    >;
  };
  /** Tenants' exact response cache settings (operators). */
  cacheSettings: CacheSettingsOps;
  /** Longest a synchronous call (`chat.completions.create`, `/v1`) waits before answering `timeout`. */
  syncWaitTimeoutMs: number;
  status(): Promise<StatusReport>;
  /** Dead-lettered requests and the operator's retry/discard of them. */
  dlq: DeadLetters;
  health(): Promise<{ ok: boolean; checks: Record<string, boolean> }>;
}
