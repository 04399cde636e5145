import type { Command } from 'commander';
import type { AuditVerdict } from '../billing/billing-service';
import { withBilling } from './billing-session';
import { out } from './output';

/** Exit status of `sluice audit verify` when a chain is broken (errors exit 1). */
export const CHAIN_BROKEN_EXIT = 2;

export function describeVerdict(v: AuditVerdict): string {
  const scope = v.tenant ? `tenant ${v.tenant}` : `${v.tenants} tenant(s)`;
  if (v.ok) return `audit chain intact: ${v.checked} events verified across ${scope}`;
  const lines = [
    `audit chain BROKEN (${v.breaks.length} tenant chain(s)); ${v.checked} events verified before the breaks`,
  ];
  for (const b of v.breaks) {
    lines.push(
      `  tenant ${b.tenantId}: event ${b.eventId} at position ${b.position} of its chain (store seq ${b.seq}): ${b.reason}`,
    );
  }
  return lines.join('\n');
}

/** `sluice audit verify`: walks the per-tenant hash chains and says exactly where each breaks. */
export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description('the verifiable audit trail')
    .command('verify')
    .description(
      `check every tenant's hash chain; exit ${CHAIN_BROKEN_EXIT} and name the event where one breaks`,
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
