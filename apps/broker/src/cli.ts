// The `sluice` command line. Long-running roles (`serve`, `dispatch`) and operator tasks.
import { Command, InvalidArgumentError } from 'commander';
import { openAdminSession } from './cli/admin-session';
import { registerAuditCommand } from './cli/audit-command';
import { registerBatchApiCommand } from './cli/batch-api-command';
import { registerBudgetCommand } from './cli/budget-command';
import { registerCacheCommand } from './cli/cache-command';
import { registerDlqCommand } from './cli/dlq-command';
import { registerMigrateCommand } from './cli/migrate-command';
import { out, table, withSession } from './cli/output';
import { registerReplayCommand } from './cli/replay-command';
import { registerReportCommand } from './cli/report-command';
import { registerStatusCommand } from './cli/status-command';
import { registerTiersCommand } from './cli/tiers-command';
import { loadConfig } from './env';
import { runServerProcess } from './server-process';

const program = new Command()
  .name('sluice')
  .description('Sluice: a multi-tenant broker in front of the OpenAI API')
  .showHelpAfterError('(run `sluice --help` for usage)');

program
  .command('serve')
  .description('run the API (embedded mode: API and dispatcher in one process)')
  .action(() => runServerProcess(['api']));

program
  .command('dispatch')
  .description('run a dispatcher: drains the priority topics within the upstream quota')
  .action(() => runServerProcess(['dispatcher']));

registerMigrateCommand(program);

const tenants = program.command('tenants').description('manage tenants');
tenants
  .command('create <name>')
  .description('create a tenant and print its first API key (shown once)')
  .option('--json', 'print JSON')
  .action((name: string, o: { json?: boolean }) =>
    withAdmin(async (s) => {
      const t = await s.admin.createTenant(name);
      if (o.json) out(JSON.stringify(t));
      else out(`tenant ${t.name} (${t.tenantId}) created\napi key (shown once, store it now): ${t.apiKey}`);
    }),
  );
tenants
  .command('list')
  .option('--json', 'print JSON')
  .action((o: { json?: boolean }) =>
    withAdmin(async (s) => {
      const list = await s.admin.listTenants();
      if (o.json) return out(JSON.stringify(list));
      out(
        table(
          ['id', 'name', 'created', 'disabled'],
          list.map((t) => [t.id, t.name, t.createdAt, String(t.disabled)]),
        ),
      );
    }),
  );

registerBudgetCommand(tenants);
registerCacheCommand(tenants);
registerBatchApiCommand(tenants);
registerTiersCommand(tenants);

const keys = program.command('keys').description('manage API keys');
keys
  .command('create [tenant]')
  .description('create a key for a tenant (id or name), or an operator key with --admin')
  .option('--admin', 'create an operator (admin) key')
  .option('--json', 'print JSON')
  .action((tenant: string | undefined, o: { admin?: boolean; json?: boolean }) =>
    withAdmin(async (s) => {
      if (!tenant && !o.admin) throw new InvalidArgumentError('name a tenant, or pass --admin');
      const k = await s.admin.createKey(o.admin ? null : (tenant ?? null));
      if (o.json) out(JSON.stringify(k));
      else out(`key ${k.keyId} (${k.prefix}…) created\napi key (shown once, store it now): ${k.apiKey}`);
    }),
  );
keys
  .command('revoke <key>')
  .description('revoke a key by id or prefix; takes effect at once')
  .action((key: string) =>
    withAdmin(async (s) => {
      const r = await s.admin.revokeKey(key);
      out(`key ${r.keyId} revoked`);
    }),
  );
keys
  .command('list [tenant]')
  .option('--json', 'print JSON')
  .action((tenant: string | undefined, o: { json?: boolean }) =>
    withAdmin(async (s) => {
      const list = await s.admin.listKeys(tenant);
      if (o.json) return out(JSON.stringify(list));
      out(
        table(
          ['id', 'tenant', 'role', 'prefix', 'revoked'],
          list.map((k) => [k.id, k.tenantId ?? '-', k.role, k.prefix, String(k.revoked)]),
        ),
      );
    }),
  );

registerReportCommand(program);
registerAuditCommand(program);
registerReplayCommand(program);
registerStatusCommand(program);
registerDlqCommand(program);

type AdminSession = Awaited<ReturnType<typeof openAdminSession>>;

function withAdmin(fn: (s: AdminSession) => Promise<void>, opts: { direct?: boolean } = {}): Promise<void> {
  return withSession(() => openAdminSession(loadConfig(), opts), fn);
}

await program.parseAsync(process.argv);
