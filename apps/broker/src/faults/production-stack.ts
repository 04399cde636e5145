import { deleteKafkaNamespace } from '@sluice/events/kafka';
import { type RunningSimulator, type SimulatorOptions, startOpenAISimulator } from '@sluice/openai-simulator';
import {
  createTestDatabase,
  freePort,
  kafkaBrokers,
  requireKafka,
  type TestDatabase,
  uniqueName,
} from '@sluice/test-support';
import pg from 'pg';
import { createProcessGroup, type SluiceProcess, until, waitReady } from '../__tests__/processes';
import { startTcpProxy } from '../__tests__/tcp-proxy';

/**
 * Sluice in production mode for fault tests: real `sluice serve` / `sluice dispatch` processes on
 * real Kafka (own namespace) and the machine's Postgres (own database, reached through a proxy the
 * test can cut), with the simulator as the upstream.
 */
export async function startProductionStack(
  opts: { simulator?: SimulatorOptions; env?: Record<string, string> } = {},
) {
  await requireKafka();
  const db: TestDatabase = await createTestDatabase('sluice_fault');
  const dbUrl = new URL(db.url);
  const proxy = await startTcpProxy({ host: dbUrl.hostname, port: Number(dbUrl.port || 5432) });
  const proxiedUrl = new URL(db.url);
  proxiedUrl.hostname = '127.0.0.1';
  proxiedUrl.port = String(proxy.port);
  const sim: RunningSimulator = await startOpenAISimulator({
    limits: { default: { rpm: 6_000, tpm: 6_000_000 } },
    latency: { baseMs: 20 },
    ...opts.simulator,
  });
  const namespace = uniqueName('fault');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const group = createProcessGroup({
    PATH: process.env.PATH,
    DATABASE_URL: proxiedUrl.toString(),
    KAFKA_BROKERS: kafkaBrokers().join(','),
    SLUICE_KAFKA_NAMESPACE: namespace,
    SLUICE_KAFKA_PARTITIONS: '3',
    OPENAI_API_KEY: 'sk-fault-upstream-secret',
    OPENAI_BASE_URL: sim.url,
    PORT: String(port),
    SLUICE_METRICS_PORT: '0',
    SLUICE_TENANT_SUBMIT_RPS: '100000',
    LOG_LEVEL: 'warn',
    ...opts.env,
  });
  // Direct (not proxied) access for assertions, so checks work while the proxy is cut.
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  pool.on('error', () => {});

  await group.cli(['migrate']);
  const tenant = JSON.parse((await group.cli(['tenants', 'create', 'fault-tenant', '--json'])).stdout) as {
    tenantId: string;
    apiKey: string;
  };
  let dispatchers = 0;

  const stack = {
    url,
    sim,
    db,
    proxy,
    group,
    tenant,
    namespace,
    async serve(): Promise<SluiceProcess> {
      const p = group.start('serve', ['serve']);
      await waitReady(url, () => group.output());
      return p;
    },
    /** Starts a dispatcher and waits until it is ready (joined its group, dependencies reachable). */
    async dispatch(): Promise<SluiceProcess> {
      dispatchers++;
      const opsPort = await freePort();
      const p = group.start(`dispatch-${dispatchers}`, ['dispatch'], {
        SLUICE_DISPATCHER_ID: `d${dispatchers}`,
        SLUICE_METRICS_PORT: String(opsPort),
      });
      await waitReady(`http://127.0.0.1:${opsPort}`, () => group.output());
      return p;
    },
    /** tRPC submit with an idempotency key; resolves with the response (ok or not), throws on no answer. */
    async submit(content: string, idempotencyKey: string, priority = 'standard'): Promise<Response> {
      return fetch(`${url}/trpc/requests.submit`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          params: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 8 },
          options: { priority, idempotencyKey },
        }),
        signal: AbortSignal.timeout(15_000),
      });
    },
    async query<T>(text: string, values: unknown[] = []): Promise<T[]> {
      return (await pool.query(text, values)).rows as T[];
    },
    /** Status of each request id in the store's projection. */
    async statuses(
      ids: readonly string[],
    ): Promise<Map<string, { status: string; deadLettered: boolean; reason: string | null }>> {
      const rows = await stack.query<{
        request_id: string;
        status: string;
        dead_lettered: boolean;
        error_reason: string | null;
      }>('SELECT request_id, status, dead_lettered, error_reason FROM requests WHERE request_id = ANY($1)', [
        ids,
      ]);
      return new Map(
        rows.map((r) => [
          r.request_id,
          { status: r.status, deadLettered: r.dead_lettered, reason: r.error_reason },
        ]),
      );
    },
    async waitAllTerminal(ids: readonly string[], timeoutMs = 180_000): Promise<void> {
      await until(
        `${ids.length} requests to finish`,
        async () => {
          const s = await stack.statuses(ids);
          return ids.every((id) => ['completed', 'failed', 'cancelled'].includes(s.get(id)?.status ?? ''));
        },
        { timeoutMs, intervalMs: 1_000, output: () => group.output() },
      );
    },
    /** Per request: how many events of each billing-relevant type the store holds. */
    async eventCounts(ids: readonly string[]) {
      const rows = await stack.query<{ request_id: string; type: string; attempt: number; n: number }>(
        `SELECT request_id, type, attempt, count(*)::int AS n FROM events
         WHERE request_id = ANY($1) AND type IN ('request.completed', 'usage.recorded')
         GROUP BY request_id, type, attempt`,
        [ids],
      );
      return rows;
    },
    async close() {
      await group.stopAll();
      proxy.unblock();
      await proxy.close();
      await sim.close();
      await pool.end().catch(() => {});
      await db.drop().catch(() => {});
      await deleteKafkaNamespace(kafkaBrokers(), namespace).catch(() => {});
    },
  };
  return stack;
}

export type ProductionStack = Awaited<ReturnType<typeof startProductionStack>>;

/** The request id a tRPC submit answered with. */
export async function submittedId(res: Response): Promise<string> {
  const body = (await res.json()) as { result?: { data?: { id?: string } } };
  const id = body.result?.data?.id;
  if (!id) throw new Error(`submit answered ${res.status} without an id: ${JSON.stringify(body)}`);
  return id;
}

/** Asserts the billing invariant: each completed request has exactly one completion and one usage event. */
export function billingViolations(
  ids: readonly string[],
  statuses: Map<string, { status: string }>,
  counts: Array<{ request_id: string; type: string; n: number }>,
): string[] {
  const perRequest = new Map<string, { completed: number; usage: number }>();
  for (const c of counts) {
    const e = perRequest.get(c.request_id) ?? { completed: 0, usage: 0 };
    if (c.type === 'request.completed') e.completed += c.n;
    else e.usage += c.n;
    perRequest.set(c.request_id, e);
  }
  const problems: string[] = [];
  for (const id of ids) {
    const e = perRequest.get(id) ?? { completed: 0, usage: 0 };
    const completed = statuses.get(id)?.status === 'completed';
    const want = completed ? 1 : 0;
    if (e.completed !== want || e.usage !== want)
      problems.push(
        `${id}: ${statuses.get(id)?.status} with ${e.completed} completions and ${e.usage} usage events`,
      );
  }
  return problems;
}
