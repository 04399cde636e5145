import { fileURLToPath } from 'node:url';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import type { SluiceDb } from './database';

/** drizzle-kit's migrations, resolved from this file so `sluice migrate` works from any directory. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Applies pending migrations (idempotent). */
export async function migrateDatabase(db: SluiceDb): Promise<void> {
  const client = (db as unknown as { $client: { constructor: { name: string }; waitReady?: unknown } })
    .$client;
  if (client && 'waitReady' in client) {
    // biome-ignore lint/suspicious/noExplicitAny: the migrator is typed per driver
    await migratePglite(db as any, { migrationsFolder: MIGRATIONS_FOLDER });
  } else {
    // biome-ignore lint/suspicious/noExplicitAny: the migrator is typed per driver
    await migratePg(db as any, { migrationsFolder: MIGRATIONS_FOLDER });
  }
}
