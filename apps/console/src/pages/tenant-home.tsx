import { useQuery } from '@tanstack/react-query';
import { type Session, trpc } from '../api';
import { BudgetCard } from '../budget-card';
import { formatCompact, formatCount, formatUsd } from '../format';
import { ErrorPanel, Loading, Page, Stat } from '../ui';
import { UsageCharts } from '../usage-charts';

const DAYS = 14;

/** A tenant's own view: its usage and cost over time and its budget, behind its own key. */
export function TenantHomePage(props: { session: Session }) {
  const from = new Date(Date.now() - (DAYS - 1) * 86_400_000);
  from.setUTCHours(0, 0, 0, 0);
  const usage = useQuery({
    queryKey: ['usage.mine', DAYS],
    queryFn: () => trpc.usage.mine.query({ by: 'day', from: from.toISOString() }),
  });
  const budget = useQuery({ queryKey: ['usage.budget'], queryFn: () => trpc.usage.budget.query() });
  const rows = usage.data ?? [];
  return (
    <Page
      title={`${props.session.tenantName ?? 'Your'} usage`}
      subtitle={`What this tenant used and spent over the last ${DAYS} days (UTC), and its budget.`}
    >
      {usage.isError ? <ErrorPanel error={usage.error} /> : null}
      {budget.isError ? <ErrorPanel error={budget.error} /> : null}
      {usage.isPending || budget.isPending ? (
        <Loading what="usage" />
      ) : usage.isError || budget.isError ? null : (
        <>
          <div className="stats">
            <Stat
              label="Cost"
              value={formatUsd(rows.reduce((n, r) => n + r.costMicros, 0))}
              hint={`${DAYS} days`}
            />
            <Stat label="Requests" value={formatCount(rows.reduce((n, r) => n + r.requests, 0))} />
            <Stat
              label="Tokens"
              value={formatCompact(rows.reduce((n, r) => n + r.promptTokens + r.completionTokens, 0))}
            />
            <Stat
              label="Budget left"
              value={
                budget.data.limitUsdMicros !== null ? formatUsd(budget.data.remainingUsdMicros) : 'no budget'
              }
              {...(budget.data.exhausted ? { tone: 'bad' as const } : {})}
            />
          </div>
          <BudgetCard budget={budget.data} />
          <UsageCharts rows={rows} days={DAYS} groupBy="model" />
        </>
      )}
    </Page>
  );
}
