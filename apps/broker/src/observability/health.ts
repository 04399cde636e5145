import type { EventLog } from '@sluice/events';
import type { Database } from '../db/database';
import { pendingMigrations } from '../db/migrate';

export interface Readiness {
  ok: boolean;
  checks: { database: boolean; migrations: boolean; log: boolean; dispatcher?: boolean };
}

/**
 * Readiness of a process: its database and log are reachable and the schema has every migration
 * this build ships; a dispatcher process also needs its consumer running. Each check is bounded,
 * so a hung dependency makes the probe fail, not hang.
 */
export async function checkReadiness(deps: {
  database: Database;
  log: EventLog;
  dispatcherRunning?: () => boolean;
  timeoutMs?: number;
}): Promise<Readiness> {
  const timeoutMs = deps.timeoutMs ?? 2_000;
  const bounded = (p: Promise<boolean>) =>
    Promise.race([
      p.catch(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref()),
    ]);
  const [database, migrations, log] = await Promise.all([
    bounded(deps.database.ping()),
    bounded(pendingMigrations(deps.database.db).then((pending) => pending.length === 0)),
    bounded(deps.log.healthy()),
  ]);
  const checks: Readiness['checks'] = { database, migrations, log };
  if (deps.dispatcherRunning) checks.dispatcher = deps.dispatcherRunning();
  return { ok: Object.values(checks).every(Boolean), checks };
}
