import type { TRPCClient } from '@trpc/client';
import type { SluiceConfig } from '../env';
import type { AppRouter } from '../root';
import { createAdminOps } from '../service-impl';
import type { Services } from '../services';
import { createTenantService } from '../tenants/tenant-service';
import { openDataAccess } from './data-access';

export interface AdminSession {
  admin: Services['admin'];
  close(): Promise<void>;
}

/** Tenants and keys, wherever the data is (see `openDataAccess`). */
export async function openAdminSession(
  config: SluiceConfig,
  opts: { direct?: boolean } = {},
): Promise<AdminSession> {
  const access = await openDataAccess(config, opts);
  if (access.kind === 'remote') return remoteSession(access.trpc);
  return {
    admin: createAdminOps(createTenantService(access.database.db)),
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
      listKeys: (tenant) => trpc.admin.keys.list.query(tenant ? { tenant } : undefined),
    },
    close: async () => {},
  };
}
