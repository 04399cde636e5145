import type { Command } from 'commander';
import { openDatabase } from '../db/database';
import { migrateDatabase, pendingMigrations } from '../db/migrate';
import { loadConfig } from '../env';
import { localState } from '../local-state';

/** `sluice migrate`: applies pending migrations, saying which and how long they took. */
export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply database migrations (the server also does this on start)')
    .action(async () => {
      try {
        const config = loadConfig();
        if ('dataDir' in config.database) {
          const server = await localState(config.database.dataDir).runningServer();
          if (server) {
            process.stdout.write(`the running server (pid ${server.pid}) applied migrations on start\n`);
            return;
          }
        }
        const database = await openDatabase(config.database);
        try {
          const pending = await pendingMigrations(database.db);
          if (pending.length === 0) {
            process.stdout.write('schema is current: no migrations to apply\n');
            return;
          }
          process.stderr.write(`applying ${pending.length} migration(s): ${pending.join(', ')} …\n`);
          const started = Date.now();
          await migrateDatabase(database.db);
          process.stdout.write(
            `migrations applied (${pending.length}) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
          );
        } finally {
          await database.close();
        }
      } catch (error) {
        process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      }
    });
}
