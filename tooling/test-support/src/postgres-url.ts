/** The server tests run against: the machine's Postgres unless DATABASE_URL says otherwise. */
export function postgresAdminUrl(): string {
  return process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

export const HOW_TO_START_POSTGRES =
  'Start PostgreSQL (on this machine: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) ' +
  'or point DATABASE_URL at a reachable server.';
