import { useQuery } from '@tanstack/react-query';
import { trpc } from '../api';
import { formatTime } from '../format';
import { Badge, Card, Loaded, Page } from '../ui';

/**
 * A tenant's own keys, listed. Issuing and revoking stay with operators: a leaked key that could
 * mint new keys would outlive its own revocation.
 */
export function TenantKeysPage() {
  const keys = useQuery({ queryKey: ['console.keys'], queryFn: () => trpc.console.keys.query() });
  return (
    <Page title="Keys" subtitle="This tenant's API keys. Ask an operator to issue a new key or revoke one.">
      <Card>
        <Loaded query={keys} what="keys" isEmpty={(d) => d.length === 0} empty={<>No keys.</>}>
          {(d) => (
            <table className="table" data-testid="own-keys">
              <thead>
                <tr>
                  <th>Key</th>
                  <th>Prefix</th>
                  <th>Created (UTC)</th>
                  <th>State</th>
                </tr>
              </thead>
              <tbody>
                {d.map((k) => (
                  <tr key={k.id}>
                    <td className="mono">{k.id}</td>
                    <td className="mono">{k.prefix}…</td>
                    <td>{formatTime(k.createdAt)}</td>
                    <td>
                      {k.revoked ? (
                        <Badge value={`revoked ${formatTime(k.revokedAt)}`} tone="muted" />
                      ) : (
                        <Badge value="active" tone="good" />
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
