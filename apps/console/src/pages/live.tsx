import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { type RouterOutputs, trpc } from '../api';
import { formatAgo, formatCount, formatMs, formatPercent, formatTime } from '../format';
import { Badge, Card, Empty, Loaded, Meter, Page, Stat } from '../ui';

type Live = RouterOutputs['console']['admin']['live'];

/** Polling, not a stream: the data are a few small reads of state other processes write. */
export const LIVE_REFRESH_MS = 2_000;
const HISTORY = 90;

interface Sample {
  t: string;
  interactive: number;
  standard: number;
  batch: number;
}

export function LivePage() {
  const live = useQuery({
    queryKey: ['console.admin.live'],
    queryFn: () => trpc.console.admin.live.query(),
    refetchInterval: LIVE_REFRESH_MS,
  });
  const [history, setHistory] = useState<Sample[]>([]);
  const seen = useRef<string | null>(null);
  useEffect(() => {
    const d = live.data;
    if (!d || seen.current === d.at) return;
    seen.current = d.at;
    const depth = (p: string) => {
      const q = d.queues.find((x) => x.priority === p);
      return q ? Math.max(q.openInStore, q.heldInDispatchers) : 0;
    };
    setHistory((h) =>
      [
        ...h,
        {
          t: d.at.slice(11, 19),
          interactive: depth('interactive'),
          standard: depth('standard'),
          batch: depth('batch'),
        },
      ].slice(-HISTORY),
    );
  }, [live.data]);

  return (
    <Page
      title="Live"
      subtitle={
        <>
          Queues, quota and batches right now; refreshes every {LIVE_REFRESH_MS / 1000} s
          {live.data ? <span className="muted"> · as of {formatTime(live.data.at)} UTC</span> : null}
        </>
      }
    >
      <Loaded query={live} what="the live view">
        {(d) => <LiveBody data={d} history={history} />}
      </Loaded>
    </Page>
  );
}

function LiveBody(props: { data: Live; history: Sample[] }) {
  const d = props.data;
  const now = Date.parse(d.at);
  const alive = d.dispatchers.filter((x) => x.alive).length;
  const open = d.queues.reduce((n, q) => n + q.openInStore, 0);
  const paused = d.quota.filter((q) => q.pausedForMs > 0);
  return (
    <>
      <div className="stats">
        <Stat
          label="Dispatchers"
          value={`${alive} alive`}
          hint={
            d.dispatchers.length > alive ? `${d.dispatchers.length - alive} down` : 'all heartbeats fresh'
          }
          {...(alive === 0 ? { tone: 'bad' as const } : {})}
        />
        <Stat label="Open requests" value={formatCount(open)} hint="queued, dispatched or retrying" />
        <Stat
          label="Paused after a 429"
          value={paused.length ? `${paused.length} model${paused.length > 1 ? 's' : ''}` : 'none'}
          {...(paused.length ? { tone: 'warn' as const } : {})}
        />
        <Stat label="Batches in flight" value={formatCount(d.batchesInFlight)} hint="Batch API" />
      </div>

      <Card title="Queues by priority">
        <table className="table" data-testid="queues">
          <thead>
            <tr>
              <th>Priority</th>
              <th className="num">Held by dispatchers</th>
              <th className="num">Oldest wait</th>
              <th className="num">Open in store</th>
              <th className="num">Oldest open</th>
              <th className="num">Unread in log</th>
            </tr>
          </thead>
          <tbody>
            {d.queues.map((q) => (
              <tr key={q.priority}>
                <td>{q.priority}</td>
                <td className="num">{formatCount(q.heldInDispatchers)}</td>
                <td className="num">{q.oldestWaitMs > 0 ? formatMs(q.oldestWaitMs) : '–'}</td>
                <td className="num">{formatCount(q.openInStore)}</td>
                <td className="num">{q.oldestOpenAt ? formatAgo(q.oldestOpenAt, now) : '–'}</td>
                <td className="num">{q.notYetRead === null ? 'n/a' : formatCount(q.notYetRead)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
      <div className="grid-2">
        <Card
          title="Queue depth"
          aside={<span className="muted">open requests, since this page opened</span>}
        >
          <div className="chart" data-chart="queue-depth">
            <ResponsiveContainer width="100%" height={220}>
              <LineChart data={props.history} margin={{ left: 0, right: 16, top: 8, bottom: 0 }}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="t" minTickGap={40} />
                <YAxis
                  allowDecimals={false}
                  width={48}
                  label={{ value: 'requests', angle: -90, position: 'insideLeft' }}
                />
                <Tooltip />
                <Legend />
                <Line
                  type="monotone"
                  dataKey="interactive"
                  stroke="#d6455d"
                  dot={false}
                  isAnimationActive={false}
                />
                <Line
                  type="monotone"
                  dataKey="standard"
                  stroke="#6b8afd"
                  dot={false}
                  isAnimationActive={false}
                />
                <Line
                  type="monotone"
                  dataKey="batch"
                  stroke="#e2a03f"
                  dot={false}
                  isAnimationActive={false}
                />
              </LineChart>
            </ResponsiveContainer>
          </div>
        </Card>
        <Card title="Quota use" aside={<span className="muted">% of the learned limit, last minute</span>}>
          {d.quota.length === 0 ? (
            <Empty>No live dispatcher has reported a pool yet.</Empty>
          ) : (
            <div className="chart" data-chart="quota">
              <ResponsiveContainer width="100%" height={220}>
                <BarChart
                  data={d.quota.map((q) => ({
                    name: `${q.model} (${q.pool})`,
                    rpm: Math.round(q.rpmUtilisation * 1000) / 10,
                    tpm: Math.round(q.tpmUtilisation * 1000) / 10,
                  }))}
                  margin={{ left: 0, right: 16, top: 8, bottom: 0 }}
                >
                  <CartesianGrid strokeDasharray="3 3" vertical={false} />
                  <XAxis dataKey="name" />
                  <YAxis unit="%" domain={[0, 100]} width={52} />
                  <Tooltip formatter={(v) => `${v}%`} />
                  <Legend />
                  <Bar dataKey="rpm" name="requests / min" fill="#6b8afd" isAnimationActive={false} />
                  <Bar dataKey="tpm" name="tokens / min" fill="#22a06b" isAnimationActive={false} />
                </BarChart>
              </ResponsiveContainer>
            </div>
          )}
        </Card>
      </div>

      <Card
        title="Quota per pool and model"
        aside={<span className="muted">last minute, against the limits the limiter learned</span>}
      >
        {d.quota.length === 0 ? (
          <Empty>No live dispatcher has reported a pool yet: limits appear with the first traffic.</Empty>
        ) : (
          <table className="table" data-testid="quota">
            <thead>
              <tr>
                <th>Pool</th>
                <th>Model</th>
                <th>Requests / min</th>
                <th>Tokens / min</th>
                <th>Limits</th>
                <th>429 pause</th>
                <th>Dispatcher</th>
              </tr>
            </thead>
            <tbody>
              {d.quota.map((q) => (
                <tr key={`${q.dispatcherId}-${q.pool}-${q.model}`}>
                  <td>{q.pool}</td>
                  <td className="mono">{q.model}</td>
                  <td className="meter-cell">
                    <Meter ratio={q.rpmUtilisation} />
                    <span>
                      {formatPercent(q.rpmUtilisation)} of{' '}
                      {q.rpmLimit === null ? '?' : formatCount(q.rpmLimit)}
                    </span>
                  </td>
                  <td className="meter-cell">
                    <Meter ratio={q.tpmUtilisation} />
                    <span>
                      {formatPercent(q.tpmUtilisation)} of{' '}
                      {q.tpmLimit === null ? '?' : formatCount(q.tpmLimit)}
                    </span>
                  </td>
                  <td>
                    {q.learned ? (
                      <Badge value="learned" tone="good" />
                    ) : (
                      <Badge value="probing" tone="muted" />
                    )}
                  </td>
                  <td>
                    {q.pausedForMs > 0 ? (
                      <Badge value={`paused ${formatMs(q.pausedForMs)}`} tone="warn" />
                    ) : (
                      '–'
                    )}
                  </td>
                  <td className="sub mono">{q.dispatcherId}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>

      <div className="grid-2">
        <Card title="Open requests by tenant">
          {d.byTenant.length === 0 ? (
            <Empty>Nothing is waiting: every request has its outcome.</Empty>
          ) : (
            <table className="table" data-testid="by-tenant">
              <thead>
                <tr>
                  <th>Tenant</th>
                  <th>Priority</th>
                  <th className="num">Queued</th>
                  <th className="num">In flight</th>
                  <th className="num">Retrying</th>
                  <th className="num">Oldest wait</th>
                </tr>
              </thead>
              <tbody>
                {d.byTenant.map((l) => (
                  <tr key={`${l.tenantId}-${l.priority}`}>
                    <td>{l.tenantName}</td>
                    <td>{l.priority}</td>
                    <td className="num">{formatCount(l.queued)}</td>
                    <td className="num">{formatCount(l.dispatched)}</td>
                    <td className="num">{formatCount(l.retrying)}</td>
                    <td className="num">{formatMs(Math.max(0, now - Date.parse(l.oldestSubmittedAt)))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
        <Card title="Batch API batches in flight">
          {d.batches.length === 0 ? (
            <Empty>No batch in flight.</Empty>
          ) : (
            <table className="table" data-testid="batches">
              <thead>
                <tr>
                  <th>Batch</th>
                  <th>Model</th>
                  <th>Status</th>
                  <th className="num">Requests</th>
                  <th className="num">Done / failed</th>
                  <th className="num">Age</th>
                </tr>
              </thead>
              <tbody>
                {d.batches.map((b) => (
                  <tr key={b.localId}>
                    <td className="mono">
                      {b.localId}
                      {b.upstreamBatchId ? <div className="sub">{b.upstreamBatchId}</div> : null}
                    </td>
                    <td className="mono">{b.model}</td>
                    <td>
                      <Badge value={b.status} tone="info" />
                    </td>
                    <td className="num">{formatCount(b.requestCount)}</td>
                    <td className="num">
                      {formatCount(b.completedCount)} / {formatCount(b.failedCount)}
                    </td>
                    <td className="num">{formatAgo(b.createdAt, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
      </div>
    </>
  );
}
