import { useQuery } from '@tanstack/react-query';
import { trpc } from '../api';
import { formatTime } from '../format';
import { Badge, Card, Loaded, Page } from '../ui';

/** Who did what: every administrative action, from the console, the API or the CLI, hash-chained. */
export function AuditPage() {
  const actions = useQuery({
    queryKey: ['console.admin.audit'],
    queryFn: () => trpc.console.admin.audit.query({ limit: 200 }),
  });
  const verify = useQuery({
    queryKey: ['admin.audit.verify'],
    queryFn: () => trpc.admin.audit.verify.query(),
  });
  return (
    <Page
      title="Audit trail"
      subtitle="Administrative actions, newest first: which admin key did what, from which console session."
    >
      <Card title="Chains">
        <Loaded query={verify} what="the verification">
          {(d) => (
            <div className="chain-status" data-testid="chain-status">
              <div>
                {d.breaks.length === 0 ? (
                  <Badge value="intact" tone="good" />
                ) : (
                  <Badge value="broken" tone="bad" />
                )}{' '}
                Request events: {d.checked} verified across {d.tenants} tenant chains
              </div>
              {d.adminActions ? (
                <div>
                  {d.adminActions.ok ? (
                    <Badge value="intact" tone="good" />
                  ) : (
                    <Badge value="broken" tone="bad" />
                  )}{' '}
                  Admin actions: {d.adminActions.checked} verified
                  {d.adminActions.ok
                    ? ''
                    : ` — breaks at action ${d.adminActions.seq}: ${d.adminActions.reason}`}
                </div>
              ) : null}
            </div>
          )}
        </Loaded>
      </Card>
      <Card title="Actions">
        <Loaded
          query={actions}
          what="actions"
          isEmpty={(d) => d.length === 0}
          empty={<>No administrative action recorded yet.</>}
        >
          {(d) => (
            <table className="table" data-testid="audit">
              <thead>
                <tr>
                  <th className="num">#</th>
                  <th>When (UTC)</th>
                  <th>Action</th>
                  <th>Target</th>
                  <th>Who</th>
                  <th>Outcome</th>
                  <th>Details</th>
                </tr>
              </thead>
              <tbody>
                {d.map((a) => (
                  <tr key={a.seq}>
                    <td className="num">{a.seq}</td>
                    <td>
                      {formatTime(a.at).slice(0, 10)}
                      <div className="sub">{formatTime(a.at).slice(11)}</div>
                    </td>
                    <td className="mono">{a.action}</td>
                    <td className="mono target">{a.target ?? '–'}</td>
                    <td>
                      {a.actorKeyId ? <code>{a.actorKeyId}</code> : 'direct database access'}
                      <div className="sub">
                        {a.via}
                        {a.sessionId ? ` · ${a.sessionId}` : ''}
                      </div>
                    </td>
                    <td>
                      <Badge value={a.outcome} tone={a.outcome === 'ok' ? 'good' : 'bad'} />
                    </td>
                    <td className="details">
                      <DetailChips details={a.details} target={a.target} />
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

/** An action's input and what it produced, as chips (the target is in its own column). */
function DetailChips(props: { details: Record<string, unknown>; target: string | null }) {
  const { result, ...given } = props.details as { result?: Record<string, unknown> } & Record<
    string,
    unknown
  >;
  const chips = [
    ...Object.entries(given).filter(([, v]) => v !== props.target && v !== null),
    ...Object.entries(result ?? {})
      .filter(([, v]) => v !== props.target)
      .map(([k, v]) => [`→ ${k}`, v] as const),
  ];
  if (chips.length === 0) return <span className="muted">–</span>;
  return (
    <div className="chips">
      {chips.map(([k, v]) => (
        <span key={k} className="chip">
          <span className="chip-k">{k}</span> {String(v)}
        </span>
      ))}
    </div>
  );
}
