import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { trpc } from '../api';
import { formatCompact, formatCount, formatMs, formatUsd } from '../format';
import { Card, Empty, Loaded, Page, Stat } from '../ui';
import { UsageCharts } from '../usage-charts';

const DAYS = 14;

/** The operators' first page: what every tenant used and spent, from the hourly rollups. */
export function OverviewPage() {
  const from = new Date(Date.now() - (DAYS - 1) * 86_400_000);
  from.setUTCHours(0, 0, 0, 0);
  const usage = useQuery({
    queryKey: ['admin.usage', DAYS],
    queryFn: () => trpc.admin.usage.query({ by: 'day', from: from.toISOString() }),
  });
  const tiers = useQuery({
    queryKey: ['admin.usage.tier', DAYS],
    queryFn: () => trpc.admin.usage.query({ by: 'tier', from: from.toISOString() }),
  });
  return (
    <Page
      title="Overview"
      subtitle={`Usage and cost of every tenant over the last ${DAYS} days (UTC), priced with the price table.`}
    >
      <Loaded query={usage} what="usage">
        {(d) => <OverviewBody rows={d} />}
      </Loaded>
      <Loaded query={tiers} what="spend by tier">
        {(d) => <SpendByTier rows={d} />}
      </Loaded>
    </Page>
  );
}

/** Spend and savings by the tier the tokens were bought at (default, flex, priority, Batch API, cache). */
function SpendByTier(props: { rows: Awaited<ReturnType<typeof trpc.admin.usage.query>> }) {
  const byTier = new Map<string, { tokens: number; cost: number; saved: number }>();
  for (const r of props.rows) {
    const t = byTier.get(r.tier) ?? { tokens: 0, cost: 0, saved: 0 };
    t.tokens += r.promptTokens + r.completionTokens;
    t.cost += r.costMicros;
    t.saved += r.savedVsDefaultMicros;
    byTier.set(r.tier, t);
  }
  const list = [...byTier.entries()].filter(([, t]) => t.tokens > 0).sort((a, b) => b[1].cost - a[1].cost);
  return (
    <Card title="Spend by tier">
      {list.length === 0 ? (
        <Empty>No tokens bought yet.</Empty>
      ) : (
        <table className="table" data-testid="spend-by-tier">
          <thead>
            <tr>
              <th>Tier</th>
              <th className="num">Tokens</th>
              <th className="num">Cost</th>
              <th className="num">Saved vs default</th>
            </tr>
          </thead>
          <tbody>
            {list.map(([tier, t]) => (
              <tr key={tier}>
                <td>{tier}</td>
                <td className="num">{formatCompact(t.tokens)}</td>
                <td className="num">{formatUsd(t.cost)}</td>
                <td className="num">{formatUsd(t.saved)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function OverviewBody(props: { rows: Awaited<ReturnType<typeof trpc.admin.usage.query>> }) {
  const { rows } = props;
  const totals = new Map<
    string,
    {
      name: string;
      requests: number;
      tokens: number;
      cost: number;
      failed: number;
      rateLimited: number;
      p95: number | null;
    }
  >();
  for (const r of rows) {
    const t = totals.get(r.tenantId) ?? {
      name: r.tenantName ?? r.tenantId,
      requests: 0,
      tokens: 0,
      cost: 0,
      failed: 0,
      rateLimited: 0,
      p95: null,
    };
    t.requests += r.requests;
    t.tokens += r.promptTokens + r.completionTokens;
    t.cost += r.costMicros;
    t.failed += r.failed;
    t.rateLimited += r.rateLimited;
    if (r.upstreamLatencyP95Ms !== null) t.p95 = Math.max(t.p95 ?? 0, r.upstreamLatencyP95Ms);
    totals.set(r.tenantId, t);
  }
  const list = [...totals.values()].sort((a, b) => b.cost - a.cost);
  const sum = (f: (t: (typeof list)[number]) => number) => list.reduce((n, t) => n + f(t), 0);
  return (
    <>
      <div className="stats">
        <Stat label="Cost" value={formatUsd(sum((t) => t.cost))} hint={`${DAYS} days`} />
        <Stat label="Requests" value={formatCount(sum((t) => t.requests))} />
        <Stat label="Tokens" value={formatCompact(sum((t) => t.tokens))} />
        <Stat
          label="Upstream 429s"
          value={formatCount(sum((t) => t.rateLimited))}
          hint="each retried within quota"
        />
      </div>
      <UsageCharts rows={rows} days={DAYS} groupBy="tenant" />
      <Card title="Tenants">
        {list.length === 0 ? (
          <Empty>
            No tenant used anything yet. <Link to="/tenants">Create a tenant</Link> and send a request with
            its key.
          </Empty>
        ) : (
          <table className="table" data-testid="tenant-totals">
            <thead>
              <tr>
                <th>Tenant</th>
                <th className="num">Requests</th>
                <th className="num">Failed</th>
                <th className="num">429s</th>
                <th className="num">Tokens</th>
                <th className="num">Upstream p95</th>
                <th className="num">Cost</th>
              </tr>
            </thead>
            <tbody>
              {list.map((t) => (
                <tr key={t.name}>
                  <td>
                    <Link to={`/tenants/${encodeURIComponent(t.name)}`}>{t.name}</Link>
                  </td>
                  <td className="num">{formatCount(t.requests)}</td>
                  <td className="num">{formatCount(t.failed)}</td>
                  <td className="num">{formatCount(t.rateLimited)}</td>
                  <td className="num">{formatCompact(t.tokens)}</td>
                  <td className="num">{formatMs(t.p95)}</td>
                  <td className="num">{formatUsd(t.cost)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </>
  );
}
