import type { TRPCClient } from '@trpc/client';
import { auditedAction, createAdminActions } from '../audit/admin-actions';
import { type CacheSettingsOps, createCacheSettingsOps } from '../cache/cache-settings';
import { loadConfig, type SluiceConfig } from '../env';
import type { AppRouter } from '../root';
import { createAdminOps } from '../service-impl';
import type { Services } from '../services';
import { createTenantService } from '../tenants/tenant-service';
import { openDataAccess } from './data-access';
import { withSession } from './output';

export interface AdminSession {
  admin: Services['admin'];
  /** Tenants' exact response cache settings. */
  cache: Pick<CacheSettingsOps, 'get' | 'set'>;
  close(): Promise<void>;
}

/** Tenants and keys, wherever the data is (see `openDataAccess`). */
export async function openAdminSession(
  config: SluiceConfig,
  opts: { direct?: boolean } = {},
): Promise<AdminSession> {
  const access = await openDataAccess(config, opts);
  if (access.kind === 'remote') return remoteSession(access.trpc);
  const tenants = createTenantService(access.database.db);
  const admin = createAdminOps(tenants);
  const cache = createCacheSettingsOps(tenants);
  // Working on the database directly, the CLI records its actions in the audit trail itself
  // (with no key: the database credential was the authority), named as the API names them.
  const actions = createAdminActions(access.database.db);
  const audited = <T>(action: string, input: unknown, run: () => Promise<T>) =>
    auditedAction(actions, { action, input, via: 'cli' }, run);
  return {
    admin: {
      ...admin,
      createTenant: (name) => audited('admin.tenants.create', { name }, () => admin.createTenant(name)),
      createKey: (tenant) => audited('admin.keys.create', { tenant }, () => admin.createKey(tenant)),
      revokeKey: (key) => audited('admin.keys.revoke', { key }, () => admin.revokeKey(key)),
      batchApi: (tenant, enabled) =>
        enabled === undefined
          ? admin.batchApi(tenant)
          : audited('admin.tenants.batchApi', { tenant, enabled }, () => admin.batchApi(tenant, enabled)),
      tiers: (tenant, patch) =>
        !patch || Object.values(patch).every((v) => v === undefined)
          ? admin.tiers(tenant)
          : audited('admin.tenants.tiers', { tenant, ...patch }, () => admin.tiers(tenant, patch)),
    },
    cache: {
      get: (tenant) => cache.get(tenant),
      set: (tenant, input) =>
        audited('admin.tenants.cache.set', { tenant, ...input }, () => cache.set(tenant, input)),
    },
    close: access.close,
  };
}

function remoteSession(trpc: TRPCClient<AppRouter>): AdminSession {
  return {
    admin: {
      createTenant: (name) => trpc.admin.tenants.create.mutate({ name }),
      listTenants: () => trpc.admin.tenants.list.query(),
      createKey: (tenant) => trpc.admin.keys.create.mutate({ tenant }),
      revokeKey: (key) => trpc.admin.keys.revoke.mutate({ key }),
      batchApi: (tenant, enabled) =>
        trpc.admin.tenants.batchApi.mutate({ tenant, ...(enabled !== undefined ? { enabled } : {}) }),
      tiers: (tenant, patch) => trpc.admin.tenants.tiers.mutate({ tenant, ...patch }),
      listKeys: (tenant) => trpc.admin.keys.list.query(tenant ? { tenant } : undefined),
    },
    cache: {
      get: (tenant) => trpc.admin.tenants.cache.get.query({ tenant }),
      set: (tenant, input) => trpc.admin.tenants.cache.set.mutate({ tenant, ...input }),
    },
    close: async () => {},
  };
}

/** Runs a command against an admin session: errors are printed plainly and exit non-zero. */
export function withAdmin(
  fn: (s: AdminSession) => Promise<void>,
  opts: { direct?: boolean } = {},
): Promise<void> {
  return withSession(() => openAdminSession(loadConfig(), opts), fn);
}
