import type { TRPCClient } from '@trpc/client';
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
  return {
    admin: createAdminOps(tenants),
    cache: createCacheSettingsOps(tenants),
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
