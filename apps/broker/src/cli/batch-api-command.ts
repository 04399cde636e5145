import type { Command } from 'commander';
import { loadConfig } from '../env';
import { openAdminSession } from './admin-session';
import { out, withSession } from './output';

/** `sluice tenants batch-api <tenant> [--on|--off]`: show or set the tenant's Batch API routing. */
export function registerBatchApiCommand(tenants: Command): void {
  tenants
    .command('batch-api <tenant>')
    .description(
      'show or set whether the tenant’s batch-class requests may go through the Batch API (half price, within 24 h)',
    )
    .option('--on', 'allow it')
    .option('--off', 'keep every request synchronous')
    .option('--json', 'print JSON')
    .action((tenant: string, o: { on?: boolean; off?: boolean; json?: boolean }) =>
      withSession(
        () => openAdminSession(loadConfig()),
        async (s) => {
          if (o.on && o.off) throw new Error('give --on or --off, not both');
          const r = await s.admin.batchApi(tenant, o.on ? true : o.off ? false : undefined);
          out(
            o.json
              ? JSON.stringify(r)
              : `tenant ${r.name}: Batch API routing ${r.batchApi ? 'on' : 'off'} for batch-class requests`,
          );
        },
      ),
    );
}
