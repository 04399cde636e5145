import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { type RouterOutputs, trpc } from '../api';
import { formatCount, formatMs, formatTime, formatTimePrecise, formatUsd } from '../format';
import { Badge, Card, Empty, ErrorPanel, Facts, Loaded, Loading, Page, Stat } from '../ui';

type Timeline = RouterOutputs['console']['admin']['requests']['timeline'];
type Entry = Timeline['timeline']['entries'][number];

const TITLES: Record<Entry['type'], string> = {
  'request.submitted': 'Submitted',
  'request.dispatched': 'Dispatched upstream',
  'request.retry_scheduled': 'Retry scheduled',
  'request.completed': 'Completed',
  'request.failed': 'Failed',
  'request.cancelled': 'Cancelled',
  'usage.recorded': 'Usage recorded',
};

const TONES: Record<Entry['type'], string> = {
  'request.submitted': 'info',
  'request.dispatched': 'info',
  'request.retry_scheduled': 'warn',
  'request.completed': 'good',
  'request.failed': 'bad',
  'request.cancelled': 'muted',
  'usage.recorded': 'muted',
};

export function RequestPage(props: { admin: boolean }) {
  const { id = '' } = useParams();
  const { admin } = props;
  const data = useQuery({
    queryKey: ['timeline', admin, id],
    queryFn: () =>
      admin
        ? trpc.console.admin.requests.timeline.query({ id })
        : trpc.console.requests.timeline.query({ id }),
  });
  return (
    <Page
      title="Request"
      subtitle={
        <>
          <Link to="/requests">← Requests</Link> · <code>{id}</code>
        </>
      }
    >
      <Loaded query={data} what="the timeline">
        {(d) => <RequestDetail data={d} admin={admin} />}
      </Loaded>
    </Page>
  );
}

function RequestDetail(props: { data: Timeline; admin: boolean }) {
  const { request: r, timeline: t } = props.data;
  const retries = t.attempts.filter((a) => a.outcome === 'retry').length;
  const waterfall = attemptSpans(t);
  return (
    <>
      <div className="stats">
        <Stat
          label="Status"
          value={<Badge value={r.status} />}
          hint={r.deadLettered ? 'dead-lettered' : (r.errorReason ?? undefined)}
        />
        <Stat label="Queue wait" value={formatMs(t.queueWaitMs)} hint="submitted → first dispatch" />
        <Stat label="Upstream latency" value={formatMs(t.upstreamLatencyMs)} hint="answering attempt" />
        <Stat label="Total" value={formatMs(t.totalMs)} hint="submitted → outcome" />
        <Stat
          label="Attempts"
          value={formatCount(r.attempts)}
          hint={retries ? `${retries} retr${retries === 1 ? 'y' : 'ies'}` : 'no retries'}
          {...(retries ? { tone: 'warn' as const } : {})}
        />
        <Stat
          label="Cost"
          value={formatUsd(t.costMicros)}
          hint={t.fullyPriced ? 'price table' : 'partly unpriced'}
        />
      </div>

      <div className="grid-2">
        <Card title="Request">
          <Facts
            items={[
              ['Id', <code key="id">{r.requestId}</code>],
              ...(props.admin ? ([['Tenant', r.tenantName]] as Array<[string, string]>) : []),
              ['Endpoint', <code key="e">{r.endpoint}</code>],
              ['Model', <code key="m">{r.model}</code>],
              ['Pool', r.pool],
              ['Priority', r.priority],
              [
                'Source',
                `${r.source === 'openai' ? '/v1 (OpenAI-compatible)' : 'tRPC'}${r.stream ? ', streamed' : ''}`,
              ],
              ['Idempotency key', r.idempotencyKey ? <code key="k">{r.idempotencyKey}</code> : '–'],
              ['Submitted', formatTime(r.submittedAt)],
              ['Finished', formatTime(r.completedAt)],
              ['Cache', r.cache ?? 'not cached'],
            ]}
          />
        </Card>
        <Card title="Where the time went" aside={<span className="muted">ms since submission</span>}>
          {waterfall.length === 0 ? (
            <Empty>Not dispatched yet{r.cache === 'hit' ? ': answered from the cache' : ''}.</Empty>
          ) : (
            <div className="chart" data-chart="attempts">
              <ResponsiveContainer width="100%" height={Math.max(140, 56 * waterfall.length + 60)}>
                <BarChart
                  data={waterfall}
                  layout="vertical"
                  margin={{ left: 8, right: 24, top: 8, bottom: 8 }}
                >
                  <CartesianGrid strokeDasharray="3 3" horizontal={false} />
                  <XAxis type="number" unit=" ms" tickFormatter={(v: number) => formatCount(v)} />
                  <YAxis type="category" dataKey="name" width={80} />
                  <Tooltip formatter={(v) => formatMs(Number(v))} />
                  <Legend />
                  <Bar dataKey="before" stackId="t" fill="transparent" legendType="none" tooltipType="none" />
                  <Bar
                    dataKey="backoff"
                    name="retry backoff"
                    stackId="t"
                    fill="#e2a03f"
                    isAnimationActive={false}
                  />
                  <Bar
                    dataKey="queue"
                    name="queue wait"
                    stackId="t"
                    fill="#6b8afd"
                    isAnimationActive={false}
                  />
                  <Bar
                    dataKey="upstream"
                    name="upstream call"
                    stackId="t"
                    fill="#22a06b"
                    isAnimationActive={false}
                  />
                </BarChart>
              </ResponsiveContainer>
            </div>
          )}
        </Card>
      </div>

      <Card
        title="Timeline"
        aside={<span className="muted">{t.entries.length} events from the event store</span>}
      >
        <ol className="timeline" data-testid="timeline">
          {t.entries.map((e) => (
            <li
              key={`${e.type}-${e.attempt}-${e.at}`}
              className={`tl tl-${TONES[e.type]}`}
              data-type={e.type}
            >
              <div className="tl-time">
                <div className="mono">{formatTimePrecise(e.at)}</div>
                <div className="sub">
                  +{formatMs(e.offsetMs)}
                  {e.gapMs > 0 && e.offsetMs !== e.gapMs ? ` (${formatMs(e.gapMs)} after the previous)` : ''}
                </div>
              </div>
              <div className="tl-body">
                <div className="tl-title">
                  {TITLES[e.type]}
                  {e.attempt > 0 ? <span className="muted"> · attempt {e.attempt}</span> : null}
                </div>
                <div className="chips">
                  {Object.entries(e.facts)
                    .filter(([, v]) => v !== null && v !== '')
                    .map(([k, v]) => (
                      <span key={k} className="chip">
                        <span className="chip-k">{k}</span> {String(v)}
                      </span>
                    ))}
                </div>
              </div>
            </li>
          ))}
        </ol>
      </Card>

      {t.attempts.some((a) => a.outcome === 'retry') ? (
        <Card title="Retries and why">
          <table className="table">
            <thead>
              <tr>
                <th>Attempt</th>
                <th>Reason</th>
                <th className="num">Status</th>
                <th>Message</th>
                <th className="num">Backoff</th>
              </tr>
            </thead>
            <tbody>
              {t.attempts
                .filter((a) => a.outcome === 'retry')
                .map((a) => (
                  <tr key={a.attempt}>
                    <td>{a.attempt}</td>
                    <td>
                      <Badge value={a.reason ?? 'unknown'} tone="warn" />
                    </td>
                    <td className="num">{a.status ?? '–'}</td>
                    <td className="wrap">{a.message}</td>
                    <td className="num">{formatMs(a.delayMs)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </Card>
      ) : null}

      {t.cancellation ? (
        <Card title="Cancellation">
          <Facts
            items={[
              ['By', t.cancellation.by],
              ['At', formatTime(t.cancellation.at)],
              ['Reason', t.cancellation.reason],
            ]}
          />
        </Card>
      ) : null}

      <Card title="Usage and cost">
        {t.usage.length === 0 ? (
          <Empty>No usage recorded (yet).</Empty>
        ) : (
          <table className="table" data-testid="usage">
            <thead>
              <tr>
                <th>Attempt</th>
                <th>Channel</th>
                <th className="num">Prompt</th>
                <th className="num">of which cached</th>
                <th className="num">Completion</th>
                <th className="num">of which reasoning</th>
                <th className="num">Cost</th>
              </tr>
            </thead>
            <tbody>
              {t.usage.map((u) => (
                <tr key={`${u.attempt}-${u.channel}`}>
                  <td>{u.attempt}</td>
                  <td>
                    {u.channel}
                    {u.estimated ? ' (estimated)' : ''}
                  </td>
                  <td className="num">{formatCount(u.promptTokens)}</td>
                  <td className="num">{formatCount(u.cachedTokens)}</td>
                  <td className="num">{formatCount(u.completionTokens)}</td>
                  <td className="num">{formatCount(u.reasoningTokens)}</td>
                  <td className="num">{u.costMicros === null ? 'not priced' : formatUsd(u.costMicros)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>

      {props.admin ? <Bodies id={r.requestId} /> : null}
    </>
  );
}

/**
 * Each attempt on one time axis (ms since submission): the backoff after the previous attempt's
 * failure, the wait in the queue until dispatch, and the upstream call.
 */
export function attemptSpans(t: Timeline['timeline']) {
  const origin = Date.parse(t.entries[0]?.at ?? new Date(0).toISOString());
  const at = (iso: string | null) => (iso ? Math.max(0, Date.parse(iso) - origin) : null);
  let previousEnd = 0;
  let previousDelay = 0;
  return t.attempts.map((a) => {
    const dispatched = at(a.dispatchedAt) ?? previousEnd;
    const ended = at(a.endedAt) ?? dispatched;
    const backoff = Math.min(previousDelay, Math.max(0, dispatched - previousEnd));
    const span = {
      name: `attempt ${a.attempt}`,
      before: previousEnd,
      backoff,
      queue: Math.max(0, dispatched - previousEnd - backoff),
      upstream: Math.max(0, ended - dispatched),
    };
    previousEnd = ended;
    previousDelay = a.delayMs ?? 0;
    return span;
  });
}

/** Bodies stay on the server until an operator asks, and each look is recorded in the audit trail. */
function Bodies(props: { id: string }) {
  const [asked, setAsked] = useState(false);
  const bodies = useQuery({
    queryKey: ['bodies', props.id],
    queryFn: () => trpc.console.admin.requests.bodies.query({ id: props.id }),
    enabled: asked,
    staleTime: Number.POSITIVE_INFINITY,
  });
  return (
    <Card title="Request and response bodies">
      {!asked ? (
        <div className="reveal">
          <p className="muted">
            Bodies may hold personal or confidential data. They are fetched only when you ask, and your look
            is recorded in the audit trail with your key and session.
          </p>
          <button type="button" className="button" onClick={() => setAsked(true)}>
            Show request and response bodies
          </button>
        </div>
      ) : bodies.isPending ? (
        <Loading what="bodies" />
      ) : bodies.isError ? (
        <ErrorPanel error={bodies.error} />
      ) : (
        <div className="grid-2">
          <div>
            <h3>Request</h3>
            <pre className="code" data-testid="request-body">
              {JSON.stringify(bodies.data.request, null, 2)}
            </pre>
          </div>
          <div>
            <h3>{bodies.data.error ? 'Error' : 'Response'}</h3>
            <pre className="code" data-testid="response-body">
              {JSON.stringify(bodies.data.response ?? bodies.data.error, null, 2)}
            </pre>
          </div>
        </div>
      )}
    </Card>
  );
}
