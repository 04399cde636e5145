import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { HOW_TO_START_POSTGRES, postgresAdminUrl } from './postgres-url';

export interface TestDatabase {
  /** Connection string of the fresh database. */
  url: string;
  name: string;
  /** Drops the database (terminating leftover connections). Safe to call twice. */
  drop(): Promise<void>;
}

/**
 * Creates a database with a unique name on the test server, so no test depends on leftovers
 * and parallel runs never collide. Call `drop()` in `afterAll`.
 */
export async function createTestDatabase(prefix = 'sluice_test'): Promise<TestDatabase> {
  const adminUrl = postgresAdminUrl();
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
  } catch (cause) {
    throw new Error(`Postgres is not reachable at ${redact(adminUrl)}. ${HOW_TO_START_POSTGRES}`, { cause });
  }
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid DATABASE_URL>';
  }
}
