import type { Command } from 'commander';
import type { AuditVerdict } from '../billing/billing-service';
import { withBilling } from './billing-session';
import { out } from './output';

/** Exit status of `sluice audit verify` when a chain is broken (errors exit 1). */
export const CHAIN_BROKEN_EXIT = 2;

export function describeVerdict(v: AuditVerdict): string {
  const scope = v.tenant ? `tenant ${v.tenant}` : `${v.tenants} tenant(s)`;
  const admin = v.adminActions;
  const adminLine = !admin
    ? []
    : admin.ok
      ? [`admin actions chain intact: ${admin.checked} actions verified`]
      : [
          `admin actions chain BROKEN at action ${admin.seq} (position ${admin.position}): ${admin.reason}; ${admin.checked} actions verified before it`,
        ];
  // `ok` covers both chains; with no tenant chain broken, only the admin actions' chain can be.
  if (v.ok || v.breaks.length === 0)
    return [`audit chain intact: ${v.checked} events verified across ${scope}`, ...adminLine].join('\n');
  const lines = [
    `audit chain BROKEN (${v.breaks.length} tenant chain(s)); ${v.checked} events verified before the breaks`,
  ];
  for (const b of v.breaks) {
    lines.push(
      `  tenant ${b.tenantId}: event ${b.eventId} at position ${b.position} of its chain (store seq ${b.seq}): ${b.reason}`,
    );
  }
  return [...lines, ...adminLine].join('\n');
}

/** `sluice audit verify`: walks the per-tenant hash chains and says exactly where each breaks. */
export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description('the verifiable audit trail')
    .command('verify')
    .description(
      `check every tenant's hash chain and the admin actions' chain; exit ${CHAIN_BROKEN_EXIT} and name where one breaks`,
    )
    .option('--tenant <tenant>', 'one tenant (id or name)')
    .option('--json', 'print JSON')
    .action((o: { tenant?: string; json?: boolean }) =>
      withBilling(async (s) => {
        const verdict = await s.auditVerify(o.tenant ? { tenant: o.tenant } : {});
        out(o.json ? JSON.stringify(verdict) : describeVerdict(verdict));
        return verdict.ok ? 0 : CHAIN_BROKEN_EXIT;
      }),
    );
}
