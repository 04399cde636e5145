import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
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

let shipped: string[] | undefined;

/** Migrations this build ships that the database has not applied yet, by name, in order. */
export async function pendingMigrations(db: SluiceDb): Promise<string[]> {
  shipped ??= (
    JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as {
      entries: Array<{ tag: string }>;
    }
  ).entries.map((e) => e.tag);
  const applied = await db
    .execute(sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`)
    .then((r) =>
      Number(
        ((r as { rows?: Array<{ n: number }> }).rows ?? (r as unknown as Array<{ n: number }>))[0]?.n ?? 0,
      ),
    )
    .catch(() => 0); // no migrations table yet: nothing applied
  return shipped.slice(applied);
}
