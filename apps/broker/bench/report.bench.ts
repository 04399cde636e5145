// npm run bench -w @sluice/broker — usage reports over 10 million usage events answer from the
// hourly rollup, not the events. Seeds a fresh database on the Postgres server: 10M synthetic
// usage events (generate_series) aggregated in SQL exactly as the projection would, over 90 days,
// 20 tenants and 4 models; then times the reports an operator and a tenant ask for.
import { createTestDatabase } from '@sluice/test-support';
import { sql } from 'drizzle-orm';
import { createBillingService } from '../src/billing/billing-service';
import { loadPriceTable } from '../src/billing/prices';
import { openDatabase } from '../src/db/database';
import { migrateDatabase } from '../src/db/migrate';
import { createEventStore } from '../src/store/event-store';
import { createTenantService } from '../src/tenants/tenant-service';

const EVENTS = Number(process.env.REPORT_BENCH_EVENTS ?? 10_000_000);
const TENANTS = 20;
const DAYS = 90;
const db = await createTestDatabase('sluice_report_bench');
const database = await openDatabase({ url: db.url });
try {
  await migrateDatabase(database.db);
  const tenants = createTenantService(database.db);
  for (let i = 0; i < TENANTS; i++) await tenants.createTenant(`tenant-${i}`);
  const end = new Date();
  end.setUTCMinutes(0, 0, 0);
  const start = new Date(end.getTime() - DAYS * 86_400_000);
  let t = performance.now();
  // Seeding 10M events takes longer than the service's statement timeout (30 s); the reports do not.
  await database.db.transaction(async (tx) => {
    await tx.execute(sql`SET LOCAL statement_timeout = 0`);
    await tx.execute(sql`
    INSERT INTO usage_rollup (tenant_id, bucket_start, model, channel, requests, completed, failed, retries, rate_limited,
      prompt_tokens, cached_tokens, completion_tokens, latency_count, queue_wait_ms_sum, upstream_latency_ms_sum,
      queue_wait_hist, upstream_latency_hist)
    SELECT tenant_id, bucket_start, model, 'sync', count(*), count(*) FILTER (WHERE NOT failed), count(*) FILTER (WHERE failed),
      count(*) FILTER (WHERE g % 50 = 0), count(*) FILTER (WHERE g % 100 = 0),
      sum(prompt), sum(prompt / 4), sum(completion), count(*) FILTER (WHERE NOT failed), sum(wait), sum(latency),
      ARRAY[0, 0, count(*) FILTER (WHERE wait <= 50), count(*) FILTER (WHERE wait > 50 AND wait <= 100), count(*) FILTER (WHERE wait > 100)]::bigint[],
      ARRAY[0, 0, 0, 0, 0, count(*) FILTER (WHERE latency <= 500), count(*) FILTER (WHERE latency > 500 AND latency <= 1000), count(*) FILTER (WHERE latency > 1000)]::bigint[]
    FROM (
      SELECT g, (SELECT id FROM tenants ORDER BY id OFFSET (g % ${TENANTS}) LIMIT 1) AS tenant_id,
        ${start.toISOString()}::timestamptz + ((g % (${DAYS} * 24)) * interval '1 hour') AS bucket_start,
        (ARRAY['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'o4-mini'])[1 + (g / 7) % 4] AS model,
        g % 97 = 0 AS failed, 200 + g % 800 AS prompt, 50 + g % 300 AS completion,
        g % 150 AS wait, 300 + g % 900 AS latency
      FROM generate_series(1, ${EVENTS}) AS g
    ) e
    GROUP BY tenant_id, bucket_start, model`);
  });
  const seeded = Number(
    (
      (await database.db.execute(
        sql`SELECT count(*)::float8 AS n, sum(requests)::float8 AS r FROM usage_rollup`,
      )) as unknown as {
        rows: Array<{ n: number; r: number }>;
      }
    ).rows[0]!.r,
  );
  console.log(
    `seeded ${seeded.toLocaleString()} usage events into rollups in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  await database.db.execute(sql`ANALYZE usage_rollup`);

  const billing = createBillingService({
    db: database.db,
    prices: loadPriceTable(),
    tenants,
    store: createEventStore(database.db),
  });
  const range = { from: start, to: end };
  const timed = async (label: string, fn: () => Promise<unknown[] | unknown>) => {
    await fn(); // warm
    const runs: number[] = [];
    let rows = 0;
    for (let i = 0; i < 5; i++) {
      t = performance.now();
      const r = await fn();
      runs.push(performance.now() - t);
      rows = Array.isArray(r) ? r.length : 1;
    }
    runs.sort((a, b) => a - b);
    return {
      report: label,
      lines: rows,
      'median (ms)': runs[2]!.toFixed(1),
      'max (ms)': runs[4]!.toFixed(1),
    };
  };
  const table = [
    await timed('all tenants, 90 days, by model', () => billing.report({ ...range, by: 'model' })),
    await timed('all tenants, 90 days, by day', () => billing.report({ ...range, by: 'day' })),
    await timed('one tenant, 90 days, by hour', () =>
      billing.report({ ...range, tenant: 'tenant-3', by: 'hour' }),
    ),
    await timed('budget check (one tenant, month)', () => billing.budget('tenant-3')),
  ];
  console.log(`reports over ${seeded.toLocaleString()} usage events (Postgres, from the hourly rollup):`);
  console.table(table);
} finally {
  await database.close();
  await db.drop();
}
