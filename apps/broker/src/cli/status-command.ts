import { setTimeout as sleep } from 'node:timers/promises';
import type { EventLog } from '@sluice/events';
import type { Command } from 'commander';
import type { Database } from '../db/database';
import { loadConfig, type SluiceConfig } from '../env';
import { renderStatus, type StatusReport } from '../observability/status';
import { collectStatus } from '../observability/status-store';
import { openDataAccess } from './data-access';
import { openLog } from './open-log';

/** `sluice status`: queue depths, quota utilisation and dispatcher liveness, in the terminal. */
export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('show queue depths, quota utilisation and dispatcher liveness')
    .option('--json', 'print JSON')
    .option('--watch [seconds]', 'refresh every few seconds until interrupted')
    .action(async (o: { json?: boolean; watch?: boolean | string }) => {
      try {
        const config = loadConfig();
        const source = await statusSource(config);
        const interval = o.watch ? Math.max(1, Number(o.watch === true ? 2 : o.watch) || 2) : 0;
        try {
          do {
            const report = await source.read();
            const text = o.json ? JSON.stringify(report, null, 2) : renderStatus(report);
            if (interval && !o.json) process.stdout.write('\x1b[2J\x1b[H');
            process.stdout.write(`${text}\n`);
            if (interval) await sleep(interval * 1000);
          } while (interval);
        } finally {
          await source.close();
        }
      } catch (error) {
        process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      }
    });
}

async function statusSource(
  config: SluiceConfig,
): Promise<{ read(): Promise<StatusReport>; close(): Promise<void> }> {
  const access = await openDataAccess(config);
  if (access.kind === 'remote')
    return { read: () => access.trpc.admin.status.query(), close: async () => {} };
  const log = await openLogForLag(config, access.database);
  return {
    read: () => collectStatus({ db: access.database.db, ...(log ? { log } : {}) }),
    async close() {
      await log?.close().catch(() => {});
      await access.close();
    },
  };
}

/** The log, for consumer lag; status still prints (lag "n/a") when Kafka is unreachable. */
async function openLogForLag(config: SluiceConfig, database: Database): Promise<EventLog | undefined> {
  try {
    return await openLog(config, database, 'sluice-status');
  } catch {
    process.stderr.write('warning: the log is unreachable; lag not shown\n');
    return undefined;
  }
}
