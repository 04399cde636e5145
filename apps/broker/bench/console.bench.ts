// npm run bench -w @sluice/broker (or bench:console) — the console on 1,000,000 recorded requests:
// explorer searches must answer in < 300 ms and the live view's refresh in < 100 ms. Seeds a fresh
// database on the Postgres server with the `requests` projection of 1M requests (generate_series,
// one statement), 20 tenants, 4 models, 30 days, a few thousand still open, plus dispatcher
// heartbeats and in-flight batches; then times what the console asks, through its own service.
import { createTestDatabase } from '@sluice/test-support';
import { sql } from 'drizzle-orm';
import { createAdminActions } from '../src/audit/admin-actions';
import { createBillingService } from '../src/billing/billing-service';
import { loadPriceTable } from '../src/billing/prices';
import { createConsoleService, type ExplorerPage } from '../src/console/console-service';
import { createConsoleSessions } from '../src/console/console-sessions';
import { openDatabase } from '../src/db/database';
import { migrateDatabase } from '../src/db/migrate';
import { createEventStore } from '../src/store/event-store';
import { createTenantService } from '../src/tenants/tenant-service';

const REQUESTS = Number(process.env.CONSOLE_BENCH_REQUESTS ?? 1_000_000);
const TENANTS = 20;
const DAYS = 30;
const OPEN = 5_000;
const SEARCH_BUDGET_MS = 300;
const LIVE_BUDGET_MS = 100;

const db = await createTestDatabase('sluice_console_bench');
const database = await openDatabase({ url: db.url });
try {
  await migrateDatabase(database.db);
  const tenants = createTenantService(database.db);
  for (let i = 0; i < TENANTS; i++) await tenants.createTenant(`tenant-${i}`);
  const end = new Date();
  end.setUTCMilliseconds(0);
  const start = new Date(end.getTime() - DAYS * 86_400_000);
  const stepMs = Math.floor((DAYS * 86_400_000) / REQUESTS);

  let t = performance.now();
  // Longer than the service's statement timeout (30 s); the console's reads are not.
  await database.db.transaction(async (tx) => {
    await tx.execute(sql`SET LOCAL statement_timeout = 0`);
    await tx.execute(sql`
    INSERT INTO requests (request_id, tenant_id, pool, model, priority, status, attempts, submitted_at, last_event_at,
      completed_at, queue_wait_ms, upstream_latency_ms, estimated_tokens, idempotency_key, source, stream,
      error_reason, error_message, error_status, dead_lettered)
    SELECT 'req_' || lpad(g::text, 9, '0'), tid, 'default',
      (ARRAY['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'o4-mini'])[1 + (g / 7) % 4],
      (ARRAY['interactive', 'standard', 'standard', 'standard', 'standard', 'standard', 'standard', 'standard', 'batch', 'batch'])[1 + g % 10],
      status, CASE WHEN status = 'queued' THEN 0 ELSE 1 + (g % 50 = 0)::int END, at, at,
      CASE WHEN status IN ('completed', 'failed', 'cancelled') THEN at + interval '1 second' END,
      g % 150, 300 + g % 900, 200 + g % 800,
      CASE WHEN g % 10 = 0 THEN 'order-' || g END, 'openai', false,
      CASE WHEN status = 'failed' THEN 'server_error' END, CASE WHEN status = 'failed' THEN 'gave up' END,
      CASE WHEN status = 'failed' THEN 500 END, status = 'failed'
    FROM (
      SELECT g, (SELECT array_agg(id ORDER BY id) FROM tenants)[1 + g % ${TENANTS}] AS tid,
        ${start.toISOString()}::timestamptz + (g::bigint * ${stepMs}) * interval '1 millisecond' AS at,
        CASE WHEN g > ${REQUESTS - OPEN} THEN (ARRAY['queued', 'queued', 'dispatched', 'retrying'])[1 + g % 4]
             WHEN g % 97 = 0 THEN 'failed' WHEN g % 499 = 0 THEN 'cancelled' ELSE 'completed' END AS status
      FROM generate_series(1, ${REQUESTS}) AS g
    ) r`);
  });
  // What the live view reads besides the projection: two dispatchers' heartbeats, batches in flight.
  const summary = {
    queued: { interactive: 12, standard: 3_400, batch: 900 },
    oldestAgeMs: { interactive: 800, standard: 42_000, batch: 310_000 },
    inFlight: 64,
    pools: ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'o4-mini'].map((model, i) => ({
      pool: 'default',
      model,
      learned: true,
      limits: { rpm: 10_000, tpm: 2_000_000 },
      utilisation: { rpm: 0.4 + i / 10, tpm: 0.6 + i / 20 },
      pausedForMs: i === 0 ? 1_500 : 0,
    })),
  };
  for (const id of ['dispatcher-a', 'dispatcher-b'])
    await database.db.execute(sql`INSERT INTO dispatcher_status (dispatcher_id, started_at, heartbeat_at, summary)
      VALUES (${id}, now(), now(), ${JSON.stringify(summary)}::jsonb)`);
  await database.db.execute(sql`INSERT INTO upstream_batches (local_id, pool, model, request_count, reserved_tokens, members, status)
    SELECT 'batch_' || g, 'default', 'gpt-4o-mini', 1000, 500000, '[]'::jsonb, (ARRAY['in_progress', 'validating', 'finalizing'])[1 + g % 3]
    FROM generate_series(1, 40) AS g`);
  await database.db.execute(sql`ANALYZE`);
  const seeded = (
    (await database.db.execute(sql`SELECT count(*)::float8 AS n FROM requests`)) as unknown as {
      rows: Array<{ n: number }>;
    }
  ).rows[0]!.n;
  console.log(
    `seeded ${seeded.toLocaleString()} requests in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  const store = createEventStore(database.db);
  const prices = loadPriceTable();
  const consoleService = createConsoleService({
    db: database.db,
    store,
    prices,
    tenants,
    billing: createBillingService({ db: database.db, prices, tenants, store }),
    audit: createAdminActions(database.db),
    sessions: createConsoleSessions(database.db),
  });
  const [t3] = (await tenants.listTenants()).filter((x) => x.name === 'tenant-3');
  const mid = new Date(start.getTime() + 12 * 86_400_000);

  const rows: Array<Record<string, string | number>> = [];
  const timed = async (label: string, budgetMs: number, fn: () => Promise<unknown>) => {
    await fn(); // warm
    const runs: number[] = [];
    let lines = 0;
    for (let i = 0; i < 7; i++) {
      t = performance.now();
      const r = await fn();
      runs.push(performance.now() - t);
      lines = (r as Partial<ExplorerPage>).rows?.length ?? 1;
    }
    runs.sort((a, b) => a - b);
    const median = runs[3]!;
    rows.push({
      read: label,
      rows: lines,
      'median (ms)': median.toFixed(1),
      'max (ms)': runs[6]!.toFixed(1),
      budget: Number.isFinite(budgetMs) ? `< ${budgetMs} ms` : '-',
      verdict: Number.isFinite(budgetMs) ? (runs[6]! < budgetMs ? 'ok' : 'OVER') : '-',
    });
  };
  const search = (q: Parameters<typeof consoleService.search>[1]) => () => consoleService.search(null, q);
  let deep: string | undefined;
  for (let i = 0; i < 20; i++)
    deep =
      (await consoleService.search(null, { limit: 50, ...(deep ? { cursor: deep } : {}) })).nextCursor ??
      undefined;

  // Baseline in the same run: one full pass over the projection, what any unindexed search costs.
  await timed('baseline: count(*) over every request', Number.POSITIVE_INFINITY, () =>
    database.db.execute(sql`SELECT count(*) FROM requests`),
  );
  await timed('newest 50, no filter', SEARCH_BUDGET_MS, search({ limit: 50 }));
  await timed('page 21 (keyset cursor)', SEARCH_BUDGET_MS, search({ limit: 50, cursor: deep! }));
  await timed('one tenant', SEARCH_BUDGET_MS, search({ tenantId: t3!.id, limit: 50 }));
  await timed('status failed', SEARCH_BUDGET_MS, search({ status: 'failed', limit: 50 }));
  await timed('model o4-mini', SEARCH_BUDGET_MS, search({ model: 'o4-mini', limit: 50 }));
  await timed(
    'tenant + status + model',
    SEARCH_BUDGET_MS,
    search({ tenantId: t3!.id, status: 'failed', model: 'gpt-4o', limit: 50 }),
  );
  await timed(
    'one day (time range)',
    SEARCH_BUDGET_MS,
    search({ from: mid.toISOString(), to: new Date(mid.getTime() + 86_400_000).toISOString(), limit: 50 }),
  );
  await timed('idempotency key', SEARCH_BUDGET_MS, search({ idempotencyKey: 'order-500000', limit: 50 }));
  await timed('request id', SEARCH_BUDGET_MS, search({ requestId: 'req_000500001', limit: 50 }));
  await timed(
    'rare: cancelled interactive of one tenant and model (no match)',
    SEARCH_BUDGET_MS,
    search({ tenantId: t3!.id, status: 'cancelled', priority: 'interactive', model: 'o4-mini', limit: 50 }),
  );
  await timed('unknown model (no match)', SEARCH_BUDGET_MS, search({ model: 'gpt-none', limit: 50 }));
  await timed(`live view (${OPEN.toLocaleString()} open requests, 40 batches)`, LIVE_BUDGET_MS, () =>
    consoleService.live(),
  );
  console.log(`console reads over ${seeded.toLocaleString()} recorded requests (Postgres):`);
  console.table(rows);
  const over = rows.filter((r) => r.verdict === 'OVER');
  if (over.length) {
    console.error(`over budget: ${over.map((r) => r.read).join(', ')}`);
    process.exitCode = 1;
  }
} finally {
  await database.close();
  await db.drop();
}
