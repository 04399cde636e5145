import { type Command, InvalidArgumentError, Option } from 'commander';
import type { BudgetStatus } from '../billing/budgets';
import { formatUsd, parseUsd } from '../billing/cost';
import { withBilling } from './billing-session';
import { out } from './output';

export function describeBudget(name: string, b: BudgetStatus): string {
  if (!b.limited) return `tenant ${name}: no budget (unlimited)`;
  const lines = [
    `tenant ${name}: budget per month ${b.periodStart.slice(0, 10)} .. ${b.periodEnd.slice(0, 10)}`,
  ];
  if (b.limitUsdMicros !== null)
    lines.push(
      `  usd     limit ${formatUsd(b.limitUsdMicros)}  spent ${formatUsd(b.spentUsdMicros)}  remaining ${formatUsd(b.remainingUsdMicros ?? 0)}`,
    );
  if (b.limitTokens !== null)
    lines.push(
      `  tokens  limit ${b.limitTokens}  spent ${b.spentTokens}  remaining ${b.remainingTokens ?? 0}`,
    );
  lines.push(`  when spent: ${b.onExhausted}${b.exhausted ? '  (EXHAUSTED now)' : ''}`);
  return lines.join('\n');
}

const usd = (v: string) => {
  try {
    return parseUsd(v);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};
const tokens = (v: string) => {
  if (!/^\d{1,15}$/.test(v)) throw new InvalidArgumentError(`${v} is not a whole number of tokens`);
  return Number(v);
};

/** `sluice tenants budget <tenant>`: show, set or clear a tenant's monthly budget. */
export function registerBudgetCommand(tenants: Command): void {
  tenants
    .command('budget <tenant>')
    .description('show or set a tenant’s monthly budget (dollars and/or tokens); no limits given = show it')
    .option('--usd <dollars>', 'dollar limit per month, e.g. 100 or 12.50', usd)
    .option('--tokens <n>', 'token limit per month (prompt + completion)', tokens)
    .addOption(
      new Option('--on-exceeded <action>', 'when spent: refuse new requests, or lower them to batch')
        .choices(['refuse', 'downgrade'])
        .default('refuse'),
    )
    .option('--clear', 'remove the budget')
    .option('--json', 'print JSON')
    .action(
      (
        tenant: string,
        o: {
          usd?: number;
          tokens?: number;
          onExceeded: 'refuse' | 'downgrade';
          clear?: boolean;
          json?: boolean;
        },
      ) =>
        withBilling(async (s) => {
          const setting = o.usd !== undefined || o.tokens !== undefined;
          if (o.clear && setting) throw new Error('--clear takes no limits');
          const status = o.clear
            ? await s.setBudget(tenant, null)
            : setting
              ? await s.setBudget(tenant, {
                  usdMicros: o.usd ?? null,
                  tokens: o.tokens ?? null,
                  onExhausted: o.onExceeded,
                })
              : await s.budget(tenant);
          out(o.json ? JSON.stringify(status) : describeBudget(tenant, status));
        }),
    );
}
