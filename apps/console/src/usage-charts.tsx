import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { RouterOutputs } from './api';
import { formatCompact, formatUsd } from './format';
import { Card, Empty } from './ui';

type UsageRow = RouterOutputs['admin']['usage'][number];

const PALETTE = ['#6b8afd', '#22a06b', '#e2a03f', '#d6455d', '#8f6bd6', '#2fa4b8', '#b5651d', '#6c757d'];

/** The days of the last `days` days, oldest first, as report periods (`YYYY-MM-DD`, UTC). */
export function lastDays(days: number, now = Date.now()): string[] {
  const out: string[] = [];
  for (let i = days - 1; i >= 0; i--) out.push(new Date(now - i * 86_400_000).toISOString().slice(0, 10));
  return out;
}

/** Report lines pivoted for a stacked chart: one point per day, one series per group (tenant or model). */
export function pivotByDay(
  rows: readonly UsageRow[],
  days: readonly string[],
  groupOf: (r: UsageRow) => string,
  amountOf: (r: UsageRow) => number,
): { points: Array<Record<string, number | string>>; series: string[] } {
  const series = [...new Set(rows.map(groupOf))].sort();
  const points = days.map((day) => {
    const p: Record<string, number | string> = { day: day.slice(5) };
    for (const s of series) p[s] = 0;
    return p;
  });
  const index = new Map(days.map((d, i) => [d, i]));
  for (const r of rows) {
    const i = index.get(r.period);
    if (i === undefined) continue;
    const p = points[i]!;
    const g = groupOf(r);
    p[g] = (p[g] as number) + amountOf(r);
  }
  return { points, series };
}

export function UsageCharts(props: { rows: readonly UsageRow[]; days: number; groupBy: 'tenant' | 'model' }) {
  const days = lastDays(props.days);
  const groupOf = (r: UsageRow) => (props.groupBy === 'tenant' ? (r.tenantName ?? r.tenantId) : r.model);
  const cost = pivotByDay(props.rows, days, groupOf, (r) => r.costMicros / 1_000_000);
  const tokens = pivotByDay(props.rows, days, groupOf, (r) => r.promptTokens + r.completionTokens);
  const label = props.groupBy === 'tenant' ? 'per tenant' : 'per model';
  if (props.rows.length === 0)
    return (
      <Card title="Cost and tokens per day">
        <Empty>No usage in the last {props.days} days.</Empty>
      </Card>
    );
  return (
    <div className="grid-2">
      <Card title={`Cost per day, ${label}`} aside={<span className="muted">USD, UTC days</span>}>
        <StackedDays
          chart="cost"
          data={cost}
          axisWidth={72}
          tick={(v) => formatUsd(Math.round(v * 1_000_000))}
          tip={(v) => formatUsd(Math.round(v * 1_000_000))}
        />
      </Card>
      <Card title={`Tokens per day, ${label}`} aside={<span className="muted">prompt + completion</span>}>
        <StackedDays
          chart="tokens"
          data={tokens}
          axisWidth={56}
          tick={formatCompact}
          tip={(v) => `${formatCompact(v)} tokens`}
        />
      </Card>
    </div>
  );
}

/** One stacked bar per day, a series per tenant or model. */
function StackedDays(props: {
  chart: string;
  data: ReturnType<typeof pivotByDay>;
  axisWidth: number;
  tick: (v: number) => string;
  tip: (v: number) => string;
}) {
  return (
    <div className="chart" data-chart={props.chart}>
      <ResponsiveContainer width="100%" height={260}>
        <BarChart data={props.data.points} margin={{ left: 8, right: 8, top: 8, bottom: 0 }}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          <XAxis dataKey="day" minTickGap={16} />
          <YAxis width={props.axisWidth} tickFormatter={(v: number) => props.tick(v)} />
          <Tooltip formatter={(v) => props.tip(Number(v))} />
          <Legend />
          {props.data.series.map((s, i) => (
            <Bar
              key={s}
              dataKey={s}
              stackId="s"
              fill={PALETTE[i % PALETTE.length]}
              isAnimationActive={false}
            />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
