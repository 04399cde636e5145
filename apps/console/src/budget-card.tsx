import type { RouterOutputs } from './api';
import { formatCompact, formatTime, formatUsd } from './format';
import { Badge, Card, Meter } from './ui';

type Budget = RouterOutputs['usage']['budget'];

/** A tenant's budget this month: limits, what is spent and left, and what happens once it is spent. */
export function BudgetCard(props: { budget: Budget }) {
  return (
    <Card title="Budget this month" aside={<BudgetState budget={props.budget} />}>
      <BudgetSummary budget={props.budget} />
    </Card>
  );
}

export function BudgetState(props: { budget: Budget }) {
  const b = props.budget;
  return b.limited ? (
    b.exhausted ? (
      <Badge
        value={b.onExhausted === 'downgrade' ? 'spent: lowered to batch' : 'spent: requests refused'}
        tone="bad"
      />
    ) : (
      <Badge value="within budget" tone="good" />
    )
  ) : (
    <Badge value="no budget" tone="muted" />
  );
}

export function BudgetSummary(props: { budget: Budget }) {
  const b = props.budget;
  return (
    <div className="budget" data-testid="budget">
      <div className="budget-line">
        <div className="budget-label">Dollars</div>
        <Meter ratio={b.limitUsdMicros ? b.spentUsdMicros / b.limitUsdMicros : null} />
        <div className="budget-figures">
          {formatUsd(b.spentUsdMicros)} spent
          {b.limitUsdMicros !== null
            ? ` of ${formatUsd(b.limitUsdMicros)} · ${formatUsd(b.remainingUsdMicros)} left`
            : ' · no limit'}
        </div>
      </div>
      <div className="budget-line">
        <div className="budget-label">Tokens</div>
        <Meter ratio={b.limitTokens ? b.spentTokens / b.limitTokens : null} />
        <div className="budget-figures">
          {formatCompact(b.spentTokens)} used
          {b.limitTokens !== null
            ? ` of ${formatCompact(b.limitTokens)} · ${formatCompact(b.remainingTokens ?? 0)} left`
            : ' · no limit'}
        </div>
      </div>
      <p className="fine">
        Period {formatTime(b.periodStart).slice(0, 10)} to {formatTime(b.periodEnd).slice(0, 10)} (UTC).
        {b.limited
          ? ` Once spent, requests are ${b.onExhausted === 'downgrade' ? 'lowered to the batch priority' : 'refused'}.`
          : ''}
      </p>
    </div>
  );
}
