import { type Priority, SluiceError } from '@sluice/events';
import { type AdminChainVerdict, createAdminActions } from '../audit/admin-actions';
import { cachedRead } from '../cached-read';
import type { SluiceDb } from '../db/database';
import { createUsageReports, type ReportGrouping, type UsageReportRow } from '../reports/usage-report';
import type { ChainVerdict, EventStore } from '../store/event-store';
import type { TenantService } from '../tenants/tenant-service';
import { admitWithinBudget, type Budget, type BudgetStatus, budgetPeriod, budgetStatus } from './budgets';
import type { PriceTable } from './prices';

export interface BillingDeps {
  db: SluiceDb;
  prices: PriceTable;
  tenants: TenantService;
  store: EventStore;
  clock?: () => number;
  /** How long admission trusts a tenant's budget status before reading it again. */
  admissionCacheMs?: number;
}

export interface OperatorReportQuery {
  /** A tenant's id or name; absent = every tenant. */
  tenant?: string;
  from: Date;
  to: Date;
  by: ReportGrouping;
}

export interface BudgetInput {
  /** Integer micro-dollars per period; null = no dollar limit. */
  usdMicros: number | null;
  tokens: number | null;
  onExhausted: Budget['onExhausted'];
}

/**
 * The operator's verdict on the audit chains, with the tenant named: the tenants' event chains and,
 * unless one tenant is asked for, the chain of administrative actions (`ok` covers both).
 */
export type AuditVerdict = ChainVerdict & { tenant?: string; adminActions?: AdminChainVerdict };

/**
 * Usage reports, budgets, the audit check and replay: what tenants, operators and finance read,
 * all from projections and the event store.
 */
export function createBillingService(deps: BillingDeps) {
  const reports = createUsageReports(deps.db, deps.prices);
  const clock = deps.clock ?? Date.now;
  const cacheMs = deps.admissionCacheMs ?? 2_000;
  // Without a budget nothing is summed: one cached settings read per tenant and window.
  const admissionStatus = cachedRead(
    async (tenantId): Promise<BudgetStatus | undefined> => {
      const budget = (await deps.tenants.getTenant(tenantId))?.settings.budget;
      return budget ? statusOf(tenantId, budget) : undefined;
    },
    cacheMs,
    clock,
  );

  async function resolveTenant(idOrName: string): Promise<{ id: string; name: string; budget?: Budget }> {
    const t = await deps.tenants.getTenant(idOrName);
    if (!t)
      throw new SluiceError('not_found', `No tenant ${idOrName}. List them with \`sluice tenants list\`.`, {
        details: { param: 'tenant' },
      });
    return { id: t.id, name: t.name, ...(t.settings.budget ? { budget: t.settings.budget } : {}) };
  }

  function checkRange(from: Date, to: Date): void {
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()))
      throw new SluiceError('invalid_request', 'from and to must be ISO dates such as 2025-07-01');
    if (from.getTime() >= to.getTime())
      throw new SluiceError(
        'invalid_request',
        `The range is inverted or empty: from (${from.toISOString()}) must be before to (${to.toISOString()}).`,
        { details: { param: 'from' } },
      );
  }

  async function statusOf(tenantId: string, budget: Budget | undefined): Promise<BudgetStatus> {
    const now = new Date(clock());
    const { start, end } = budgetPeriod(now);
    return budgetStatus(tenantId, budget, await reports.spent(tenantId, start, end), now);
  }

  return {
    /** One tenant's own report (the caller is that tenant). */
    async tenantReport(tenantId: string, q: Omit<OperatorReportQuery, 'tenant'>): Promise<UsageReportRow[]> {
      checkRange(q.from, q.to);
      await deps.store.flush(); // the dispatcher's latest outcomes count
      return reports.report({ tenantId, from: q.from, to: q.to, by: q.by });
    },

    /** Any tenant's report, or all tenants' (operators). */
    async report(q: OperatorReportQuery): Promise<UsageReportRow[]> {
      checkRange(q.from, q.to);
      await deps.store.flush();
      const tenantId = q.tenant ? (await resolveTenant(q.tenant)).id : undefined;
      return reports.report({ ...(tenantId ? { tenantId } : {}), from: q.from, to: q.to, by: q.by });
    },

    /** The budget and what remains of it this period (fresh, not the admission cache). */
    async budget(tenant: string): Promise<BudgetStatus> {
      const t = await resolveTenant(tenant);
      await deps.store.flush();
      return statusOf(t.id, t.budget);
    },

    async setBudget(tenant: string, input: BudgetInput | null): Promise<BudgetStatus> {
      const t = await resolveTenant(tenant);
      if (input && input.usdMicros === null && input.tokens === null)
        throw new SluiceError(
          'invalid_request',
          'Give a dollar limit (--usd), a token limit (--tokens), or both.',
        );
      const current = (await deps.tenants.getTenant(t.id))!.settings;
      const { budget: _old, ...rest } = current;
      const budget: Budget | undefined = input
        ? {
            period: 'month',
            ...(input.usdMicros !== null ? { usdMicros: input.usdMicros } : {}),
            ...(input.tokens !== null ? { tokens: input.tokens } : {}),
            onExhausted: input.onExhausted,
          }
        : undefined;
      await deps.tenants.updateTenantSettings(t.id, budget ? { ...rest, budget } : rest);
      admissionStatus.forget(t.id);
      return statusOf(t.id, budget);
    },

    /**
     * Budget admission for one submission: the priority to use, or `budget_exceeded`. Reads the
     * status at most every `admissionCacheMs` per tenant, so a tenant may overrun by what it
     * submits in that window (and by what is in flight: usage counts once it is recorded).
     */
    async admit(tenantId: string, priority: Priority): Promise<Priority> {
      const status = await admissionStatus(tenantId);
      return status ? admitWithinBudget(status, priority) : priority;
    },

    async auditVerify(
      q: { tenant?: string; onProgress?: (checked: number) => void } = {},
    ): Promise<AuditVerdict> {
      const t = q.tenant ? await resolveTenant(q.tenant) : undefined;
      const verdict = await deps.store.verifyChain({
        ...(t ? { tenantId: t.id } : {}),
        ...(q.onProgress ? { onProgress: q.onProgress } : {}),
      });
      if (t) return { ...verdict, tenant: t.name };
      const adminActions = await createAdminActions(deps.db).verify();
      return { ...verdict, ok: verdict.ok && adminActions.ok, adminActions } as AuditVerdict;
    },

    replay: (onProgress?: (done: number, total: number) => void) =>
      deps.store.rebuildProjections(onProgress ? { onProgress } : {}),
  };
}

export type BillingService = ReturnType<typeof createBillingService>;
