import type { TRPCClient } from '@trpc/client';
import { auditedAction, createAdminActions } from '../audit/admin-actions';
import { type BillingService, createBillingService } from '../billing/billing-service';
import { loadPriceTable } from '../billing/prices';
import { loadConfig, type SluiceConfig } from '../env';
import type { AppRouter } from '../root';
import { createEventStore } from '../store/event-store';
import { createTenantService } from '../tenants/tenant-service';
import { openDataAccess } from './data-access';
import { withSession } from './output';

/** What the billing commands need, wherever the data is. */
export type BillingOps = Pick<BillingService, 'report' | 'budget' | 'setBudget' | 'auditVerify'> & {
  /** Direct sessions only: a running server's projections are rebuilt with that server stopped. */
  replay?: BillingService['replay'];
  close(): Promise<void>;
};

/**
 * Billing, wherever the data is (see `openDataAccess`). `direct` refuses a running embedded server
 * instead (replay rewrites its projections under it).
 */
export async function openBillingSession(
  config: SluiceConfig,
  opts: { direct?: boolean } = {},
): Promise<BillingOps> {
  const access = await openDataAccess(config, opts);
  if (access.kind === 'remote') return remoteSession(access.trpc);
  const { db } = access.database;
  const billing = createBillingService({
    db,
    prices: loadPriceTable(config.pricesFile),
    tenants: createTenantService(db),
    store: createEventStore(db),
  });
  const actions = createAdminActions(db);
  return {
    ...billing,
    // The CLI on the database directly records its actions itself (see admin-session.ts).
    setBudget: (tenant, input) =>
      input
        ? auditedAction(
            actions,
            { action: 'admin.budgets.set', input: { tenant, ...input }, via: 'cli' },
            () => billing.setBudget(tenant, input),
          )
        : auditedAction(actions, { action: 'admin.budgets.clear', input: { tenant }, via: 'cli' }, () =>
            billing.setBudget(tenant, null),
          ),
    close: access.close,
  };
}

function remoteSession(trpc: TRPCClient<AppRouter>): BillingOps {
  return {
    report: (q) =>
      trpc.admin.usage.query({
        ...(q.tenant ? { tenant: q.tenant } : {}),
        from: q.from.toISOString(),
        to: q.to.toISOString(),
        by: q.by,
      }),
    budget: (tenant) => trpc.admin.budgets.get.query({ tenant }),
    setBudget: (tenant, input) =>
      input
        ? trpc.admin.budgets.set.mutate({ tenant, ...input })
        : trpc.admin.budgets.clear.mutate({ tenant }),
    auditVerify: (q = {}) => trpc.admin.audit.verify.query(q.tenant ? { tenant: q.tenant } : undefined),
    close: async () => {},
  };
}

/** Runs a command against a billing session: errors are printed plainly and exit non-zero. */
export function withBilling(
  fn: (s: BillingOps) => Promise<unknown>,
  opts: { direct?: boolean } = {},
): Promise<void> {
  return withSession(() => openBillingSession(loadConfig(), opts), fn);
}
