import { type Priority, SluiceError } from '@sluice/events';
import type { TenantSettings } from '../db/schema';
import { formatUsd } from './cost';

export type Budget = NonNullable<TenantSettings['budget']>;

/** What a tenant may still spend this period, as the tenant sees it. */
export interface BudgetStatus {
  tenantId: string;
  /** False when no budget is set: nothing is limited. */
  limited: boolean;
  period: 'month';
  periodStart: string;
  periodEnd: string;
  onExhausted: Budget['onExhausted'] | null;
  limitUsdMicros: number | null;
  spentUsdMicros: number;
  remainingUsdMicros: number | null;
  limitTokens: number | null;
  spentTokens: number;
  remainingTokens: number | null;
  exhausted: boolean;
}

/** The calendar month (UTC) holding `now`: budgets reset at 00:00 UTC on the 1st. */
export function budgetPeriod(now: Date): { start: Date; end: Date } {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return { start, end };
}

export function budgetStatus(
  tenantId: string,
  budget: Budget | undefined,
  spent: { costMicros: number; tokens: number },
  now: Date,
): BudgetStatus {
  const { start, end } = budgetPeriod(now);
  const limitUsd = budget?.usdMicros ?? null;
  const limitTokens = budget?.tokens ?? null;
  const remainingUsd = limitUsd === null ? null : Math.max(0, limitUsd - spent.costMicros);
  const remainingTokens = limitTokens === null ? null : Math.max(0, limitTokens - spent.tokens);
  return {
    tenantId,
    limited: limitUsd !== null || limitTokens !== null,
    period: 'month',
    periodStart: start.toISOString(),
    periodEnd: end.toISOString(),
    onExhausted: budget?.onExhausted ?? null,
    limitUsdMicros: limitUsd,
    spentUsdMicros: spent.costMicros,
    remainingUsdMicros: remainingUsd,
    limitTokens,
    spentTokens: spent.tokens,
    remainingTokens,
    exhausted: remainingUsd === 0 || remainingTokens === 0,
  };
}

/**
 * Admission against a budget: within it, the request goes as asked; once spent, it is refused
 * with `budget_exceeded`, or lowered to `batch` when the tenant's budget says `downgrade`.
 */
export function admitWithinBudget(status: BudgetStatus, priority: Priority): Priority {
  if (!status.exhausted) return priority;
  if (status.onExhausted === 'downgrade') return 'batch';
  const spent =
    status.remainingUsdMicros === 0
      ? `$${formatUsd(status.spentUsdMicros)} of its $${formatUsd(status.limitUsdMicros ?? 0)}`
      : `${status.spentTokens} of its ${status.limitTokens} tokens`;
  throw new SluiceError(
    'budget_exceeded',
    `Budget exhausted: this tenant has spent ${spent} budget for the period ending ${status.periodEnd}. ` +
      'Ask an operator to raise it (`sluice tenants budget`), or wait for the next period.',
    { details: { openaiCode: 'insufficient_quota', periodEnd: status.periodEnd } },
  );
}
