import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import pg from 'pg';
import * as schema from './schema';

/** The drizzle database, whichever driver is behind it (Postgres server or PGlite). */
export type SluiceDb = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: SluiceDb;
  kind: 'postgres' | 'pglite';
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export type DatabaseConfig = { url: string } | { dataDir: string } | { memory: true };

/**
 * Opens the database: a pool on a Postgres server (production), or PGlite in a directory
 * (embedded; one process per directory) or in memory (tests).
 */
export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  if ('url' in config) {
    const pool = new pg.Pool({
      connectionString: config.url,
      max: 10,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      statement_timeout: 30_000,
    });
    // An idle client losing its server must not crash the process; the next query reports it.
    pool.on('error', () => {});
    const db = drizzlePg(pool, { schema, casing: 'snake_case' }) as unknown as SluiceDb;
    return {
      db,
      kind: 'postgres',
      ping: () => ping(db),
      close: () => pool.end(),
    };
  }
  if ('dataDir' in config) await mkdir(config.dataDir, { recursive: true });
  const client = 'dataDir' in config ? new PGlite(config.dataDir) : new PGlite();
  await client.waitReady;
  const db = drizzlePglite(client, { schema, casing: 'snake_case' }) as unknown as SluiceDb;
  return { db, kind: 'pglite', ping: () => ping(db), close: () => client.close() };
}

async function ping(db: SluiceDb): Promise<boolean> {
  try {
    await db.execute(sql`SELECT 1`);
    return true;
  } catch {
    return false;
  }
}
