import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import { type Database, openDatabase } from '../db/database';
import { migrateDatabase } from '../db/migrate';
import type { SluiceConfig } from '../env';
import { localState } from '../local-state';
import type { AppRouter } from '../root';

export type DataAccess =
  | { kind: 'remote'; trpc: TRPCClient<AppRouter> }
  | { kind: 'direct'; database: Database; close(): Promise<void> };

/**
 * Where an operator command finds the data. Production: the Postgres server directly. Embedded:
 * the running server's admin API when one runs (PGlite lets one process hold the directory), else
 * the directory itself. `direct` refuses a running embedded server instead (for commands that must
 * own the database, such as replay).
 */
export async function openDataAccess(
  config: SluiceConfig,
  opts: { direct?: boolean } = {},
): Promise<DataAccess> {
  if ('dataDir' in config.database) {
    const state = localState(config.database.dataDir);
    const server = await state.runningServer();
    if (server && opts.direct)
      throw new Error(`stop the running server (pid ${server.pid}) first: it holds the embedded database`);
    if (server) {
      const adminKey = await state.readAdminKey();
      if (!adminKey)
        throw new Error(
          `a server runs (pid ${server.pid}) but ${state.root}/admin.key is missing; restart it`,
        );
      const trpc = createTRPCClient<AppRouter>({
        links: [
          httpLink({
            url: `${server.url}/trpc`,
            headers: { authorization: `Bearer ${adminKey}`, 'x-sluice-client': 'cli' },
          }),
        ],
      });
      return { kind: 'remote', trpc };
    }
  }
  const database = await openDatabase(config.database);
  try {
    await migrateDatabase(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }
  return { kind: 'direct', database, close: () => database.close() };
}
