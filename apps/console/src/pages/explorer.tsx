import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { type RouterInputs, trpc } from '../api';
import { formatMs, formatTime, localInputToIso } from '../format';
import { Badge, Card, Loaded, Page } from '../ui';

type Search = RouterInputs['console']['admin']['requests']['search'];

const STATUSES = ['queued', 'dispatched', 'retrying', 'completed', 'failed', 'cancelled'] as const;
const PRIORITIES = ['interactive', 'standard', 'batch'] as const;
/** The brokered endpoints (checked against the search procedure's input). */
const ENDPOINTS = [
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/completions',
  '/v1/moderations',
] as const satisfies ReadonlyArray<NonNullable<Search['endpoint']>>;

/** The URL's query string (filters only: never a key) as a search. */
function searchOf(params: URLSearchParams, admin: boolean): Omit<Search, 'cursor' | 'limit'> {
  const text = params.get('q')?.trim();
  const status = params.get('status');
  const priority = params.get('priority');
  const endpoint = params.get('endpoint');
  return {
    ...(text ? (text.startsWith('req_') ? { requestId: text } : { idempotencyKey: text }) : {}),
    ...(admin && params.get('tenant') ? { tenantId: params.get('tenant')! } : {}),
    ...(status && (STATUSES as readonly string[]).includes(status)
      ? { status: status as (typeof STATUSES)[number] }
      : {}),
    ...(priority && (PRIORITIES as readonly string[]).includes(priority)
      ? { priority: priority as (typeof PRIORITIES)[number] }
      : {}),
    ...(params.get('model') ? { model: params.get('model')! } : {}),
    ...(endpoint && (ENDPOINTS as readonly string[]).includes(endpoint)
      ? { endpoint: endpoint as (typeof ENDPOINTS)[number] }
      : {}),
    ...(params.get('from') ? { from: localInputToIso(params.get('from')!) } : {}),
    ...(params.get('to') ? { to: localInputToIso(params.get('to')!) } : {}),
  };
}

export function ExplorerPage(props: { admin: boolean }) {
  const { admin } = props;
  const [params, setParams] = useSearchParams();
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const search = { ...searchOf(params, admin), limit: 50, ...(cursor ? { cursor } : {}) };
  const page = useQuery({
    queryKey: ['explorer', admin, search],
    queryFn: () =>
      admin ? trpc.console.admin.requests.search.query(search) : trpc.console.requests.search.query(search),
    placeholderData: keepPreviousData,
  });
  const tenants = useQuery({
    queryKey: ['admin.tenants.list'],
    queryFn: () => trpc.admin.tenants.list.query(),
    enabled: admin,
  });

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    const next = new URLSearchParams();
    for (const [k, v] of data.entries()) if (typeof v === 'string' && v.trim()) next.set(k, v.trim());
    setCursors([]);
    setParams(next);
  };

  return (
    <Page
      title="Requests"
      subtitle={
        admin
          ? 'Every request of every tenant, newest first. Search by id, idempotency key, tenant, status, endpoint, model and time (UTC).'
          : 'Your requests, newest first. Search by id, idempotency key, status, endpoint, model and time (UTC).'
      }
    >
      <Card>
        <form className="filters" onSubmit={submit} aria-label="Search requests">
          <label className="grow">
            <span>Request id or idempotency key</span>
            <input name="q" defaultValue={params.get('q') ?? ''} placeholder="req_… or order-42" />
          </label>
          {admin ? (
            <label>
              <span>Tenant</span>
              <select name="tenant" defaultValue={params.get('tenant') ?? ''}>
                <option value="">All tenants</option>
                {(tenants.data ?? []).map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.name}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <label>
            <span>Status</span>
            <select name="status" defaultValue={params.get('status') ?? ''}>
              <option value="">Any</option>
              {STATUSES.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
          <label>
            <span>Priority</span>
            <select name="priority" defaultValue={params.get('priority') ?? ''}>
              <option value="">Any</option>
              {PRIORITIES.map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          </label>
          <label>
            <span>Endpoint</span>
            <select name="endpoint" defaultValue={params.get('endpoint') ?? ''}>
              <option value="">Any</option>
              {ENDPOINTS.map((e) => (
                <option key={e}>{e}</option>
              ))}
            </select>
          </label>
          <label>
            <span>Model</span>
            <input name="model" defaultValue={params.get('model') ?? ''} placeholder="gpt-4o-mini" />
          </label>
          <label>
            <span>From (UTC)</span>
            <input name="from" type="datetime-local" defaultValue={params.get('from') ?? ''} />
          </label>
          <label>
            <span>To (UTC)</span>
            <input name="to" type="datetime-local" defaultValue={params.get('to') ?? ''} />
          </label>
          <div className="filter-actions">
            <button type="submit" className="button button-primary">
              Search
            </button>
            <button
              type="button"
              className="button button-quiet"
              onClick={() => {
                setCursors([]);
                setParams(new URLSearchParams());
              }}
            >
              Clear
            </button>
          </div>
        </form>
      </Card>

      <Card
        title="Results"
        aside={
          <div className="pager">
            <button
              type="button"
              className="button button-quiet"
              disabled={cursors.length === 0}
              onClick={() => setCursors(cursors.slice(0, -1))}
            >
              ← Newer
            </button>
            <span className="muted">Page {cursors.length + 1}</span>
            <button
              type="button"
              className="button button-quiet"
              disabled={!page.data?.nextCursor}
              onClick={() => page.data?.nextCursor && setCursors([...cursors, page.data.nextCursor])}
            >
              Older →
            </button>
          </div>
        }
      >
        <Loaded
          query={page}
          what="requests"
          isEmpty={(d) => d.rows.length === 0}
          empty={<>No request matches this search.</>}
        >
          {(d) => (
            <div className="table-wrap">
              <table className="table" data-testid="explorer-results">
                <thead>
                  <tr>
                    <th>Submitted (UTC)</th>
                    <th>Request</th>
                    {admin ? <th>Tenant</th> : null}
                    <th>Endpoint</th>
                    <th>Model</th>
                    <th>Priority</th>
                    <th>Status</th>
                    <th className="num">Attempts</th>
                    <th className="num">Queue wait</th>
                    <th className="num">Upstream</th>
                    <th>Error</th>
                  </tr>
                </thead>
                <tbody>
                  {d.rows.map((r) => (
                    <tr key={r.requestId}>
                      <td className="nowrap">{formatTime(r.submittedAt)}</td>
                      <td>
                        <Link to={`/requests/${r.requestId}`} className="mono">
                          {r.requestId}
                        </Link>
                        {r.idempotencyKey ? <div className="sub mono">{r.idempotencyKey}</div> : null}
                      </td>
                      {admin ? <td>{r.tenantName}</td> : null}
                      <td className="mono">{r.endpoint.replace(/^\/v1\//, '')}</td>
                      <td className="mono">{r.model}</td>
                      <td>{r.priority}</td>
                      <td>
                        <Badge value={r.status} />
                        {r.deadLettered ? <Badge value="dead letter" tone="bad" /> : null}
                        {r.cache === 'hit' ? <Badge value="cache hit" tone="info" /> : null}
                      </td>
                      <td className="num">{r.attempts}</td>
                      <td className="num">{formatMs(r.queueWaitMs)}</td>
                      <td className="num">{formatMs(r.upstreamLatencyMs)}</td>
                      <td className="sub">{r.errorReason ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Loaded>
      </Card>
    </Page>
  );
}
