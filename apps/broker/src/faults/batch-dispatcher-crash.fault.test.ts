import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../__tests__/processes';
import {
  billingViolations,
  type ProductionStack,
  startProductionStack,
  submittedId,
} from './production-stack';

// A dispatcher dies the hard way (SIGKILL) while its Batch API batches are in flight upstream: a new
// dispatcher takes the batches over once their lease expires, polls them to the end, and records
// every request once, with nothing sent upstream twice.
describe('dispatcher crash with batches in flight', () => {
  let stack: ProductionStack;

  beforeAll(async () => {
    stack = await startProductionStack({
      // Long enough that the kill lands while the batches run.
      simulator: { batch: { completionDelayMs: 6_000 } },
      env: {
        SLUICE_BATCH_FLUSH_MS: '300',
        SLUICE_BATCH_POLL_MS: '200',
        SLUICE_BATCH_LEASE_MS: '3000',
        SLUICE_BATCH_MAX_REQUESTS: '20',
      },
    });
    const on = await stack.group.cli(['tenants', 'batch-api', 'fault-tenant', '--on', '--json']);
    expect(JSON.parse(on.stdout)).toMatchObject({ name: 'fault-tenant', batchApi: true });
    await stack.serve();
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  }, 60_000);

  it('resumes polling with a new dispatcher: every request completes exactly once, usage once', async () => {
    const first = await stack.dispatch();
    const ids = await Promise.all(
      Array.from({ length: 50 }, async (_, i) =>
        submittedId(await stack.submit(`bulk ${i}`, `bulk-${i}`, 'batch')),
      ),
    );
    // Every request is in a batch created upstream, and none of them has finished.
    await until(
      'the batches to be in flight upstream',
      async () => {
        const rows = await stack.query<{ n: number; carried: number }>(
          `SELECT count(*)::int AS n, coalesce(sum(request_count), 0)::int AS carried FROM upstream_batches
           WHERE upstream_batch_id IS NOT NULL AND status <> 'recorded'`,
        );
        return rows[0]!.carried === 50;
      },
      { timeoutMs: 60_000, output: () => stack.group.output() },
    );
    const inFlight = await stack.query<{ status: string }>('SELECT status FROM upstream_batches');
    expect(inFlight.every((r) => !['recorded', 'completed'].includes(r.status))).toBe(true);
    await first.kill('SIGKILL');

    const second = await stack.dispatch();
    await stack.waitAllTerminal(ids, 120_000);
    const statuses = await stack.statuses(ids);
    expect(ids.filter((id) => statuses.get(id)?.status !== 'completed')).toEqual([]);
    expect(billingViolations(ids, statuses, await stack.eventCounts(ids))).toEqual([]);
    const channels = await stack.query<{ channel: string; n: number }>(
      `SELECT payload->>'channel' AS channel, count(*)::int AS n FROM events
       WHERE type = 'usage.recorded' AND request_id = ANY($1) GROUP BY 1`,
      [ids],
    );
    expect(channels).toEqual([{ channel: 'batch', n: 50 }]);

    // Nothing went upstream twice: no synchronous call, each line run once, one upstream batch per local one.
    const stats = structuredClone(stack.sim.stats());
    expect(stats.requests).toBe(0);
    expect(stats.batch.linesOk).toBe(50);
    const batches = await stack.query<{ n: number; distinct_upstream: number; recorded: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT upstream_batch_id)::int AS distinct_upstream,
              count(*) FILTER (WHERE status = 'recorded')::int AS recorded FROM upstream_batches`,
    );
    expect(batches[0]).toEqual({
      n: stats.batch.batchesCreated,
      distinct_upstream: stats.batch.batchesCreated,
      recorded: stats.batch.batchesCreated,
    });
    // The second dispatcher recorded them: the first died before any batch finished.
    const recordedBy = await stack.query<{ owner: string }>(
      'SELECT DISTINCT lease_owner AS owner FROM upstream_batches',
    );
    expect(recordedBy.map((r) => r.owner)).toEqual(['d2']);
    expect((await second.kill('SIGTERM')).code).toBe(0);
  }, 240_000);
});
