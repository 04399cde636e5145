import { type Command, Option } from 'commander';
import { loadConfig } from '../env';
import { TIER_MODES } from '../tiers/tier-policy';
import { openAdminSession } from './admin-session';
import { out, withSession } from './output';

/** `sluice tenants tiers <tenant> [--flex m] [--priority m] [--fallback on|off]`: show or set the tenant's tier policy. */
export function registerTiersCommand(tenants: Command): void {
  tenants
    .command('tiers <tenant>')
    .description(
      'show or set the tenant’s service tiers: auto (Sluice picks it: flex for batch-class work that can wait, priority for interactive), allow (only when the request names it), off (a request naming it is refused, 403)',
    )
    .addOption(new Option('--flex <mode>', 'flex tier').choices(TIER_MODES))
    .addOption(new Option('--priority <mode>', 'priority tier').choices(TIER_MODES))
    .addOption(
      new Option(
        '--fallback <on|off>',
        'a flex request its deadline no longer fits goes at the default tier',
      ).choices(['on', 'off']),
    )
    .option('--json', 'print JSON')
    .action(
      (
        tenant: string,
        o: {
          flex?: (typeof TIER_MODES)[number];
          priority?: (typeof TIER_MODES)[number];
          fallback?: string;
          json?: boolean;
        },
      ) =>
        withSession(
          () => openAdminSession(loadConfig()),
          async (s) => {
            const r = await s.admin.tiers(tenant, {
              ...(o.flex ? { flex: o.flex } : {}),
              ...(o.priority ? { priority: o.priority } : {}),
              ...(o.fallback ? { fallback: o.fallback === 'on' } : {}),
            });
            out(
              o.json
                ? JSON.stringify(r)
                : `tenant ${r.name}: flex ${r.flex}, priority ${r.priority}, deadline fallback to default ${r.fallback ? 'on' : 'off'}`,
            );
          },
        ),
    );
}
