import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { SluiceError } from '@sluice/events';
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
    // A client losing its server (idle, or checked out between two queries of a transaction) must
    // not crash the process: the query in progress or the next one reports the error instead.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
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

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

/** True when an error (or one of its causes) says the database cannot be reached right now. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    const message = e instanceof Error ? e.message : '';
    if (
      /Connection terminated|timeout exceeded when trying to connect|connection error|Connection refused/i.test(
        message,
      )
    )
      return true;
  }
  return false;
}

/** The error callers see while the database is down: retriable, with a hint of when. */
export function databaseUnavailable(cause: unknown): SluiceError {
  return new SluiceError(
    'database_unavailable',
    'The database is unreachable; nothing was changed. Retry shortly.',
    {
      cause,
      details: { retryAfterMs: 2_000 },
    },
  );
}

/** The rows of a raw `db.execute`, whichever driver answered (node-postgres and PGlite shape them differently). */
export function rowsOf<T>(result: unknown): T[] {
  return ((result as { rows?: T[] }).rows ?? (result as T[])) as T[];
}
