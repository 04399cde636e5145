import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { trpc } from '../api';
import { formatTime } from '../format';
import { Badge, Card, ErrorPanel, Loaded, Page } from '../ui';

/** Requests whose retries ran out: run one again as a new request, or close it. */
export function DeadLettersPage() {
  const client = useQueryClient();
  const [all, setAll] = useState(false);
  const list = useQuery({
    queryKey: ['admin.dlq.list', all],
    queryFn: () => trpc.admin.dlq.list.query({ all }),
  });
  const refresh = () => client.invalidateQueries({ queryKey: ['admin.dlq.list'] });
  const retry = useMutation({
    mutationFn: (id: string) => trpc.admin.dlq.retry.mutate({ id }),
    onSuccess: refresh,
  });
  const discard = useMutation({
    mutationFn: (id: string) => trpc.admin.dlq.discard.mutate({ id }),
    onSuccess: refresh,
  });
  return (
    <Page
      title="Dead letters"
      subtitle="Requests whose upstream retries were exhausted. A retry submits the request again as a new request (retrying twice runs it once)."
      actions={
        <label className="check">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} />{' '}
          <span>Include handled ones</span>
        </label>
      }
    >
      {retry.data ? (
        <div className="notice" role="status" data-testid="retried">
          {retry.data.requestId} {retry.data.alreadyRetried ? 'was already retried' : 'retried'} as{' '}
          <Link to={`/requests/${retry.data.retryRequestId}`} className="mono">
            {retry.data.retryRequestId}
          </Link>
        </div>
      ) : null}
      {retry.isError ? <ErrorPanel error={retry.error} title="Not retried" /> : null}
      {discard.isError ? <ErrorPanel error={discard.error} title="Not discarded" /> : null}
      <Card>
        <Loaded
          query={list}
          what="dead letters"
          isEmpty={(entries) => entries.length === 0}
          empty={<>The dead-letter queue is empty.</>}
        >
          {(entries) => (
            <table className="table" data-testid="dead-letters">
              <thead>
                <tr>
                  <th>Request</th>
                  <th>Tenant</th>
                  <th>Model</th>
                  <th className="num">Attempts</th>
                  <th>Why</th>
                  <th>Failed (UTC)</th>
                  <th>Handled</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {entries.map((d) => (
                  <tr key={d.requestId} data-request-id={d.requestId}>
                    <td>
                      <Link to={`/requests/${d.requestId}`} className="mono">
                        {d.requestId}
                      </Link>
                    </td>
                    <td className="mono">{d.tenantId}</td>
                    <td className="mono">{d.model}</td>
                    <td className="num">{d.attempts}</td>
                    <td className="wrap">
                      <Badge value={d.reason ?? 'unknown'} tone="bad" />{' '}
                      <span className="sub">{d.message}</span>
                    </td>
                    <td className="nowrap">{formatTime(d.failedAt)}</td>
                    <td>{d.action ? <Badge value={d.action} tone="muted" /> : '–'}</td>
                    <td className="actions">
                      {d.action ? null : (
                        <>
                          <button
                            type="button"
                            className="button button-primary"
                            onClick={() => retry.mutate(d.requestId)}
                            disabled={retry.isPending}
                          >
                            Retry
                          </button>
                          <button
                            type="button"
                            className="button button-quiet"
                            onClick={() => discard.mutate(d.requestId)}
                            disabled={discard.isPending}
                          >
                            Discard
                          </button>
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Loaded>
      </Card>
    </Page>
  );
}
