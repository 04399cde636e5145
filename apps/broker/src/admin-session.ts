import { createTRPCClient, httpLink } from '@trpc/client';
import { openDatabase } from './db/database';
import { migrateDatabase } from './db/migrate';
import type { SluiceConfig } from './env';
import { localState } from './local-state';
import type { AppRouter } from './root';
import { createAdminOps } from './service-impl';
import type { Services } from './services';
import { createTenantService } from './tenants/tenant-service';

export interface AdminSession {
  admin: Services['admin'];
  migrate(): Promise<void>;
  close(): Promise<void>;
}

/**
 * How the CLI reaches the data. Production: the Postgres server directly. Embedded: the running
 * server's admin API when one runs (PGlite lets one process hold the directory), else the directory.
 */
export async function openAdminSession(
  config: SluiceConfig,
  opts: { direct?: boolean } = {},
): Promise<AdminSession> {
  if ('dataDir' in config.database && !opts.direct) {
    const state = localState(config.database.dataDir);
    const server = await state.runningServer();
    if (server) {
      const adminKey = await state.readAdminKey();
      if (!adminKey)
        throw new Error(
          `a server runs (pid ${server.pid}) but ${state.root}/admin.key is missing; restart it`,
        );
      return remoteSession(server.url, adminKey);
    }
  } else if ('dataDir' in config.database) {
    const server = await localState(config.database.dataDir).runningServer();
    if (server)
      throw new Error(`stop the running server (pid ${server.pid}) first: it holds the embedded database`);
  }
  const database = await openDatabase(config.database);
  await migrateDatabase(database.db);
  return {
    admin: createAdminOps(createTenantService(database.db)),
    migrate: () => migrateDatabase(database.db),
    close: () => database.close(),
  };
}

function remoteSession(url: string, adminKey: string): AdminSession {
  const trpc = createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/trpc`, headers: { authorization: `Bearer ${adminKey}` } })],
  });
  return {
    admin: {
      createTenant: (name) => trpc.admin.tenants.create.mutate({ name }),
      listTenants: () => trpc.admin.tenants.list.query(),
      createKey: (tenant) => trpc.admin.keys.create.mutate({ tenant }),
      revokeKey: (key) => trpc.admin.keys.revoke.mutate({ key }),
      listKeys: (tenant) => trpc.admin.keys.list.query(tenant ? { tenant } : undefined),
    },
    migrate: async () => {
      throw new Error('the running server applied migrations on start');
    },
    close: async () => {},
  };
}
