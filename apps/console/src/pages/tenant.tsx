import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, type ReactNode, useState } from 'react';
import { Link, useParams } from 'react-router';
import { type RouterOutputs, trpc } from '../api';
import { BudgetState, BudgetSummary } from '../budget-card';
import { formatTime, formatUsd, parseUsdInput } from '../format';
import { NewKeyNotice } from '../new-key';
import { Badge, Card, ErrorPanel, Loaded, Page } from '../ui';

type Tenant = RouterOutputs['console']['admin']['tenants'][number];

/**
 * The policies an operator sets per tenant, each a panel calling the admin procedure the CLI uses.
 * A new policy (such as tiers) is one more entry here.
 */
const POLICIES: Array<{ id: string; title: string; Panel: (props: { tenant: Tenant }) => ReactNode }> = [
  { id: 'budget', title: 'Budget', Panel: BudgetPolicy },
  { id: 'cache', title: 'Exact response cache', Panel: CachePolicy },
  { id: 'batch-api', title: 'Batch API', Panel: BatchApiPolicy },
  { id: 'tiers', title: 'Service tiers', Panel: TierPolicyPanel },
];

export function TenantPage() {
  const { name = '' } = useParams();
  const tenants = useQuery({
    queryKey: ['console.admin.tenants'],
    queryFn: () => trpc.console.admin.tenants.query(),
  });
  const tenant = tenants.data?.find((t) => t.name === name);
  return (
    <Page
      title={name}
      subtitle={
        <>
          <Link to="/tenants">← Tenants</Link>
          {tenant ? (
            <>
              {' '}
              · <code>{tenant.id}</code> · created {formatTime(tenant.createdAt)} ·{' '}
              <Link to={`/requests?tenant=${encodeURIComponent(tenant.id)}`}>its requests</Link>
            </>
          ) : null}
        </>
      }
    >
      <Loaded
        query={tenants}
        what="the tenant"
        isEmpty={(list) => !list.some((t) => t.name === name)}
        empty={<>No tenant named {name}.</>}
      >
        {(list) => {
          const tenant = list.find((t) => t.name === name)!;
          return (
            <>
              <Keys tenant={tenant} />
              <div className="grid-3">
                {POLICIES.map(({ id, title, Panel }) => (
                  <Card key={id} title={title} className={`policy policy-${id}`}>
                    <Panel tenant={tenant} />
                  </Card>
                ))}
              </div>
            </>
          );
        }}
      </Loaded>
    </Page>
  );
}

function useRefresh(tenant: Tenant) {
  const client = useQueryClient();
  return async () => {
    await Promise.all([
      client.invalidateQueries({ queryKey: ['console.admin.tenants'] }),
      client.invalidateQueries({ queryKey: ['tenant', tenant.name] }),
    ]);
  };
}

function Keys(props: { tenant: Tenant }) {
  const { tenant } = props;
  const refresh = useRefresh(tenant);
  const keys = useQuery({
    queryKey: ['tenant', tenant.name, 'keys'],
    queryFn: () => trpc.admin.keys.list.query({ tenant: tenant.name }),
  });
  const [issued, setIssued] = useState<string | null>(null);
  const issue = useMutation({
    mutationFn: () => trpc.admin.keys.create.mutate({ tenant: tenant.name }),
    onSuccess: async (r) => {
      setIssued(r.apiKey);
      await refresh();
    },
  });
  const revoke = useMutation({
    mutationFn: (keyId: string) => trpc.admin.keys.revoke.mutate({ key: keyId }),
    onSuccess: refresh,
  });
  return (
    <Card
      title="API keys"
      aside={
        <button
          type="button"
          className="button button-primary"
          onClick={() => issue.mutate()}
          disabled={issue.isPending}
        >
          Issue a key
        </button>
      }
    >
      {issued ? (
        <NewKeyNotice apiKey={issued} label="New key issued:" onDone={() => setIssued(null)} />
      ) : null}
      {issue.isError ? <ErrorPanel error={issue.error} title="No key issued" /> : null}
      {revoke.isError ? <ErrorPanel error={revoke.error} title="Not revoked" /> : null}
      <Loaded query={keys} what="keys" isEmpty={(d) => d.length === 0} empty={<>No keys: issue one.</>}>
        {(d) => (
          <table className="table" data-testid="keys">
            <thead>
              <tr>
                <th>Key</th>
                <th>Prefix</th>
                <th>State</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {d.map((k) => (
                <tr key={k.id} data-key-id={k.id}>
                  <td className="mono">{k.id}</td>
                  <td className="mono">{k.prefix}…</td>
                  <td>
                    {k.revoked ? (
                      <Badge value="revoked" tone="muted" />
                    ) : (
                      <Badge value="active" tone="good" />
                    )}
                  </td>
                  <td className="actions">
                    {k.revoked ? null : (
                      <button
                        type="button"
                        className="button button-danger"
                        disabled={revoke.isPending}
                        onClick={() => {
                          if (
                            window.confirm(
                              `Revoke ${k.prefix}…? Calls and console sessions using it stop at once.`,
                            )
                          )
                            revoke.mutate(k.id);
                        }}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loaded>
    </Card>
  );
}

function BudgetPolicy(props: { tenant: Tenant }) {
  const { tenant } = props;
  const refresh = useRefresh(tenant);
  const [problem, setProblem] = useState<string | null>(null);
  const set = useMutation({
    mutationFn: (input: {
      usdMicros: number | null;
      tokens: number | null;
      onExhausted: 'refuse' | 'downgrade';
    }) => trpc.admin.budgets.set.mutate({ tenant: tenant.name, ...input }),
    onSuccess: refresh,
  });
  const clear = useMutation({
    mutationFn: () => trpc.admin.budgets.clear.mutate({ tenant: tenant.name }),
    onSuccess: refresh,
  });
  const b = tenant.budget;
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    const usdText = String(data.get('usd') ?? '').trim();
    const tokensText = String(data.get('tokens') ?? '').trim();
    const usdMicros = usdText ? parseUsdInput(usdText) : null;
    const tokens = tokensText ? Number(tokensText) : null;
    if (usdMicros === undefined) return setProblem('Dollars: a number such as 100 or 12.50.');
    if (tokens !== null && (!Number.isInteger(tokens) || tokens < 0))
      return setProblem('Tokens: a whole number.');
    if (usdMicros === null && tokens === null)
      return setProblem('Give a dollar limit, a token limit, or both.');
    setProblem(null);
    set.mutate({
      usdMicros,
      tokens,
      onExhausted: data.get('onExhausted') === 'downgrade' ? 'downgrade' : 'refuse',
    });
  };
  return (
    <>
      <div className="policy-state">
        <span className="muted">This month</span> <BudgetState budget={b} />
      </div>
      <BudgetSummary budget={b} />
      <form className="stack-form" onSubmit={submit} aria-label="Set the budget">
        <label>
          <span>Dollars per month</span>
          <input
            name="usd"
            inputMode="decimal"
            placeholder="e.g. 100"
            defaultValue={b.limitUsdMicros !== null ? formatUsd(b.limitUsdMicros).replace(/[$,]/g, '') : ''}
          />
        </label>
        <label>
          <span>Tokens per month</span>
          <input
            name="tokens"
            inputMode="numeric"
            placeholder="e.g. 50000000"
            defaultValue={b.limitTokens ?? ''}
          />
        </label>
        <label>
          <span>Once spent</span>
          <select name="onExhausted" defaultValue={b.onExhausted ?? 'refuse'}>
            <option value="refuse">refuse requests</option>
            <option value="downgrade">lower them to batch</option>
          </select>
        </label>
        {problem ? <div className="form-error">{problem}</div> : null}
        {set.isError ? <ErrorPanel error={set.error} title="Not set" /> : null}
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={set.isPending}>
            Set budget
          </button>
          {b.limited ? (
            <button
              type="button"
              className="button button-quiet"
              onClick={() => clear.mutate()}
              disabled={clear.isPending}
            >
              Remove budget
            </button>
          ) : null}
        </div>
      </form>
    </>
  );
}

function CachePolicy(props: { tenant: Tenant }) {
  const { tenant } = props;
  const refresh = useRefresh(tenant);
  const set = useMutation({
    mutationFn: (input: { enabled: boolean; ttlSeconds?: number; scope?: string | null }) =>
      trpc.admin.tenants.cache.set.mutate({ tenant: tenant.name, ...input }),
    onSuccess: refresh,
  });
  const c = tenant.cache;
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    const ttl = Number(data.get('ttl'));
    const scope = String(data.get('scope') ?? '').trim();
    set.mutate({
      enabled: data.get('enabled') === 'on',
      ...(Number.isInteger(ttl) && ttl > 0 ? { ttlSeconds: ttl } : {}),
      scope: scope || null,
    });
  };
  return (
    <form className="stack-form" onSubmit={submit} aria-label="Cache settings">
      <p className="muted">
        Deterministic requests (temperature 0) are answered from stored answers; hits are billed at the cache
        price.
      </p>
      <label className="check">
        <input type="checkbox" name="enabled" defaultChecked={c.enabled} />{' '}
        <span>Cache this tenant&apos;s answers</span>
      </label>
      <label>
        <span>Time to live (seconds)</span>
        <input name="ttl" inputMode="numeric" defaultValue={c.ttlSeconds ?? 3600} />
      </label>
      <label>
        <span>Shared scope (optional)</span>
        <input name="scope" placeholder="own cache" defaultValue={c.sharedScope ?? ''} />
      </label>
      {set.isError ? <ErrorPanel error={set.error} title="Not saved" /> : null}
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={set.isPending}>
          Save cache settings
        </button>
        {set.isSuccess ? <span className="saved">Saved</span> : null}
      </div>
    </form>
  );
}

const TIER_MODES = ['auto', 'allow', 'off'] as const;

function TierPolicyPanel(props: { tenant: Tenant }) {
  const { tenant } = props;
  const refresh = useRefresh(tenant);
  const set = useMutation({
    mutationFn: (input: { flex: string; priority: string; fallback: boolean }) =>
      trpc.admin.tenants.tiers.mutate({
        tenant: tenant.name,
        flex: input.flex as (typeof TIER_MODES)[number],
        priority: input.priority as (typeof TIER_MODES)[number],
        fallback: input.fallback,
      }),
    onSuccess: refresh,
  });
  const t = tenant.tiers;
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    set.mutate({
      flex: String(data.get('flex')),
      priority: String(data.get('priority')),
      fallback: data.get('fallback') === 'on',
    });
  };
  return (
    <form className="stack-form" onSubmit={submit} aria-label="Service tiers">
      <p className="muted">
        Auto: Sluice picks the tier (flex for batch-class work with time before its deadline, about the Batch
        API price; priority for interactive work, at a premium). Allow: only when a request names it. Off: a
        request naming it is refused (403).
      </p>
      <TierModeSelect name="flex" label="Flex" value={t.flex} />
      <TierModeSelect name="priority" label="Priority" value={t.priority} />
      <label className="check">
        <input type="checkbox" name="fallback" defaultChecked={t.fallback} />{' '}
        <span>A flex request its deadline no longer fits goes at the default tier</span>
      </label>
      {set.isError ? <ErrorPanel error={set.error} title="Not saved" /> : null}
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={set.isPending}>
          Save service tiers
        </button>
        {set.isSuccess ? <span className="saved">Saved</span> : null}
      </div>
    </form>
  );
}

function TierModeSelect(props: { name: 'flex' | 'priority'; label: string; value: string }) {
  return (
    <label>
      <span>{props.label}</span>
      <select name={props.name} defaultValue={props.value}>
        {TIER_MODES.map((m) => (
          <option key={m} value={m}>
            {m}
          </option>
        ))}
      </select>
    </label>
  );
}

function BatchApiPolicy(props: { tenant: Tenant }) {
  const { tenant } = props;
  const refresh = useRefresh(tenant);
  const set = useMutation({
    mutationFn: (enabled: boolean) => trpc.admin.tenants.batchApi.mutate({ tenant: tenant.name, enabled }),
    onSuccess: refresh,
  });
  return (
    <div className="stack-form">
      <p className="muted">
        Batch-class requests that do not stream and have no deadline under 24 h go through the Batch API: half
        price, answered within 24 hours.
      </p>
      <div className="toggle-row">
        <span>Currently</span>
        {tenant.batchApi ? <Badge value="on" tone="good" /> : <Badge value="off" tone="muted" />}
      </div>
      {set.isError ? <ErrorPanel error={set.error} title="Not changed" /> : null}
      <div className="form-actions">
        <button
          type="button"
          className="button button-primary"
          disabled={set.isPending}
          onClick={() => set.mutate(!tenant.batchApi)}
        >
          {tenant.batchApi ? 'Turn Batch API off' : 'Turn Batch API on'}
        </button>
      </div>
    </div>
  );
}
