import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link } from 'react-router';
import { describeError, trpc } from '../api';
import { formatTime, formatUsd } from '../format';
import { NewKeyNotice } from '../new-key';
import { Badge, Card, ErrorPanel, Loaded, Meter, Page } from '../ui';

export function TenantsPage() {
  const client = useQueryClient();
  const tenants = useQuery({
    queryKey: ['console.admin.tenants'],
    queryFn: () => trpc.console.admin.tenants.query(),
  });
  const [created, setCreated] = useState<{ name: string; apiKey: string } | null>(null);
  const create = useMutation({
    mutationFn: (name: string) => trpc.admin.tenants.create.mutate({ name }),
    onSuccess: async (r) => {
      setCreated({ name: r.name, apiKey: r.apiKey });
      await client.invalidateQueries({ queryKey: ['console.admin.tenants'] });
    },
  });
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const input = e.currentTarget.elements.namedItem('name') as HTMLInputElement;
    create.mutate(input.value.trim(), { onSuccess: () => (input.value = '') });
  };

  const subtitle = "The applications that share the organisation's quota, with their policies.";
  // A tenant's session here: the server refused the list, and there is nothing to offer.
  if (tenants.isError && describeError(tenants.error).code === 'FORBIDDEN')
    return (
      <Page title="Tenants" subtitle={subtitle}>
        <ErrorPanel error={tenants.error} />
      </Page>
    );
  return (
    <Page title="Tenants" subtitle={subtitle}>
      <Card title="Create a tenant">
        <form className="inline-form" onSubmit={submit} aria-label="Create a tenant">
          <input
            name="name"
            placeholder="tenant name, e.g. search-app"
            required
            pattern="[a-zA-Z0-9][a-zA-Z0-9._\-]*"
            maxLength={64}
          />
          <button type="submit" className="button button-primary" disabled={create.isPending}>
            Create tenant
          </button>
        </form>
        {create.isError ? <ErrorPanel error={create.error} title="Not created" /> : null}
        {created ? (
          <NewKeyNotice
            apiKey={created.apiKey}
            label={`Tenant ${created.name} created. Its first API key:`}
            onDone={() => setCreated(null)}
          />
        ) : null}
      </Card>
      <Card title="All tenants">
        <Loaded query={tenants} what="tenants" isEmpty={(d) => d.length === 0} empty={<>No tenants yet.</>}>
          {(d) => (
            <table className="table" data-testid="tenants">
              <thead>
                <tr>
                  <th>Tenant</th>
                  <th>Created (UTC)</th>
                  <th className="num">Active keys</th>
                  <th>Budget this month</th>
                  <th>Cache</th>
                  <th>Batch API</th>
                </tr>
              </thead>
              <tbody>
                {d.map((t) => (
                  <tr key={t.id}>
                    <td>
                      <Link to={`/tenants/${encodeURIComponent(t.name)}`}>{t.name}</Link>
                      <div className="sub mono">{t.id}</div>
                    </td>
                    <td>{formatTime(t.createdAt)}</td>
                    <td className="num">{t.activeKeys}</td>
                    <td className="meter-cell">
                      {t.budget.limitUsdMicros !== null ? (
                        <>
                          <Meter ratio={t.budget.spentUsdMicros / Math.max(1, t.budget.limitUsdMicros)} />
                          <span>
                            {formatUsd(t.budget.spentUsdMicros)} of {formatUsd(t.budget.limitUsdMicros)}
                          </span>
                        </>
                      ) : t.budget.limitTokens !== null ? (
                        <span>
                          {t.budget.spentTokens} of {t.budget.limitTokens} tokens
                        </span>
                      ) : (
                        <span className="muted">no budget · {formatUsd(t.budget.spentUsdMicros)} spent</span>
                      )}
                      {t.budget.exhausted ? <Badge value="spent" tone="bad" /> : null}
                    </td>
                    <td>
                      {t.cache.enabled ? (
                        <Badge value={`on · ${t.cache.ttlSeconds} s`} tone="good" />
                      ) : (
                        <Badge value="off" tone="muted" />
                      )}
                    </td>
                    <td>
                      {t.batchApi ? <Badge value="on" tone="good" /> : <Badge value="off" tone="muted" />}
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
