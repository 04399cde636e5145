import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../__tests__/processes';
import {
  billingViolations,
  type ProductionStack,
  startProductionStack,
  submittedId,
} from './production-stack';

// Postgres is unreachable for 30 s (its port is cut for Sluice's processes by a proxy): no outcome
// is lost, usage is recorded once Postgres is back, and health says "degraded" meanwhile.
describe('Postgres outage', () => {
  let stack: ProductionStack;

  beforeAll(async () => {
    stack = await startProductionStack({ simulator: { latency: { baseMs: 500 } } });
    await stack.serve();
    await stack.dispatch();
  }, 120_000);
  afterAll(async () => {
    stack?.proxy.unblock();
    await stack?.close();
  }, 60_000);

  it('records every outcome once Postgres is back, and reports degraded health during the outage', async () => {
    const ids = await Promise.all(
      Array.from({ length: 40 }, async (_, i) =>
        submittedId(await stack.submit(`outage ${i}`, `outage-${i}`)),
      ),
    );
    // Cut Postgres while these are in flight upstream (500 ms each).
    stack.proxy.block();
    const cutAt = Date.now();
    try {
      await until(
        '/readyz to report the database down',
        async () => {
          const r = await fetch(`${stack.url}/readyz`);
          const body = (await r.json()) as { status: string; checks: { database: boolean } };
          return r.status === 503 && body.status === 'degraded' && body.checks.database === false;
        },
        { timeoutMs: 20_000, output: () => stack.group.output() },
      );
      // New submits cannot be authenticated: a retriable 503 that says why, never a 500.
      const refused = await stack.submit('while down', 'outage-down');
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).not.toBeNull();
      expect(await refused.text()).toMatch(/database is unreachable/i);
      await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - cutAt))));
    } finally {
      stack.proxy.unblock();
    }

    await stack.waitAllTerminal(ids, 120_000);
    const statuses = await stack.statuses(ids);
    expect(ids.filter((id) => statuses.get(id)?.status !== 'completed')).toEqual([]);
    expect(billingViolations(ids, statuses, await stack.eventCounts(ids))).toEqual([]);
    expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
  }, 240_000);
});
