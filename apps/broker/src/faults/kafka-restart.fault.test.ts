import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../__tests__/processes';
import {
  billingViolations,
  type ProductionStack,
  startProductionStack,
  submittedId,
} from './production-stack';

const run = promisify(execFile);
const INFRA = fileURLToPath(new URL('../../../../infra/kafka/', import.meta.url));

// The Kafka broker (infra/kafka) is stopped and started again mid-run. Submits during the outage
// are refused with 503 and retry-after (never a success that was not logged); dispatch resumes.
describe('Kafka restart', () => {
  let stack: ProductionStack;

  beforeAll(async () => {
    // This checkout must own the broker it restarts (another checkout's may be serving the port).
    await run(`${INFRA}stop`, ['--any'], { timeout: 120_000 });
    await run(`${INFRA}start`, [], { timeout: 300_000 });
    stack = await startProductionStack();
    await stack.serve();
    await stack.dispatch();
  }, 420_000);
  afterAll(async () => {
    // Whatever happened, Kafka is running again for whoever comes next.
    await run(`${INFRA}start`, [], { timeout: 180_000 }).catch(() => {});
    await stack?.close();
  }, 240_000);

  it('refuses submits with 503 while Kafka is down and delivers everything accepted after it is back', async () => {
    const before = await Promise.all(
      Array.from({ length: 30 }, async (_, i) =>
        submittedId(await stack.submit(`before ${i}`, `before-${i}`)),
      ),
    );
    await stack.waitAllTerminal(before);

    await run(`${INFRA}stop`, [], { timeout: 120_000 });
    let refusals = 0;
    try {
      const during = await stack.submit('during the outage', 'during-0').catch(() => undefined);
      expect(during?.status).toBe(503);
      expect(Number(during?.headers.get('retry-after'))).toBeGreaterThan(0);
      const body = (await during?.json()) as { error: { message: string; data: { sluiceCode: string } } };
      expect(body.error.data.sluiceCode).toBe('log_unavailable');
      expect(body.error.message).toMatch(/log is unavailable/i);
      refusals++;
    } finally {
      await run(`${INFRA}start`, [], { timeout: 180_000 });
    }
    expect(refusals).toBe(1);

    // Back: new submits are accepted (once the producer reconnects), and all of them complete.
    const after: string[] = [];
    await until(
      'submits to be accepted again',
      async () => {
        const res = await stack.submit('after 0', 'after-0');
        if (res.ok) after.push(await submittedId(res));
        return res.ok;
      },
      { timeoutMs: 120_000, intervalMs: 1_000, output: () => stack.group.output() },
    );
    for (let i = 1; i < 30; i++)
      after.push(await submittedId(await stack.submit(`after ${i}`, `after-${i}`)));
    // The refused submit, retried with its key, is accepted now.
    after.push(await submittedId(await stack.submit('during the outage', 'during-0')));
    await stack.waitAllTerminal(after, 180_000);
    const ids = [...before, ...after];
    const statuses = await stack.statuses(ids);
    expect(ids.filter((id) => statuses.get(id)?.status !== 'completed')).toEqual([]);
    expect(billingViolations(ids, statuses, await stack.eventCounts(ids))).toEqual([]);
  }, 420_000);
});
