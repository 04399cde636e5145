import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../__tests__/processes';
import {
  billingViolations,
  type ProductionStack,
  startProductionStack,
  submittedId,
} from './production-stack';

// Dispatchers die the hard way (SIGKILL) in the middle of a run, or stop gracefully (SIGTERM):
// every accepted request still ends, and none is billed twice.
describe('dispatcher crashes', () => {
  let stack: ProductionStack;

  beforeAll(async () => {
    stack = await startProductionStack({ simulator: { latency: { baseMs: 40 } } });
    await stack.serve();
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  }, 60_000);

  it('loses and double-bills nothing when the dispatcher is SIGKILLed five times during 1,000 requests', async () => {
    let dispatcher = await stack.dispatch();
    const ids: string[] = [];
    // Submitted in waves while dispatchers die, so kills land with requests queued and in flight.
    const submitting = (async () => {
      for (let wave = 0; wave < 10; wave++) {
        const batch = await Promise.all(
          Array.from({ length: 100 }, (_, i) => stack.submit(`crash ${wave}-${i}`, `crash-${wave}-${i}`)),
        );
        for (const res of batch) ids.push(await submittedId(res));
        await new Promise((r) => setTimeout(r, 400));
      }
    })();
    for (let kill = 0; kill < 5; kill++) {
      await new Promise((r) => setTimeout(r, 1_500));
      await dispatcher.kill('SIGKILL');
      dispatcher = await stack.dispatch();
    }
    await submitting;
    expect(ids).toHaveLength(1_000);
    expect(new Set(ids).size).toBe(1_000);

    await stack.waitAllTerminal(ids, 240_000);
    const statuses = await stack.statuses(ids);
    const notCompleted = ids.filter((id) => statuses.get(id)?.status !== 'completed');
    // A healthy upstream: everything completes (a lost attempt is retried as the next one).
    expect(notCompleted.map((id) => ({ id, ...statuses.get(id) }))).toEqual([]);
    expect(billingViolations(ids, statuses, await stack.eventCounts(ids))).toEqual([]);
    // Attempts lost with a killed dispatcher may have reached the upstream: never more than were sent.
    expect(stack.sim.stats().ok).toBeGreaterThanOrEqual(1_000);
    expect((await dispatcher.kill('SIGTERM')).code).toBe(0);
  }, 300_000);

  it('drains in-flight calls on SIGTERM, commits them, and exits in time: nothing is sent again', async () => {
    stack.sim.configure({ latency: { baseMs: 1_500 } });
    const before = stack.sim.stats().requests;
    const running = await stack.dispatch(); // the only dispatcher: it owns every partition
    const ids = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => submittedId(await stack.submit(`drain ${i}`, `drain-${i}`))),
    );
    await until('the calls to be in flight', async () => stack.sim.stats().requests - before >= 20, {
      timeoutMs: 60_000,
      output: () => stack.group.output(),
    });
    const t0 = Date.now();
    const exit = await running.kill('SIGTERM');
    const tookMs = Date.now() - t0;
    expect(exit.code).toBe(0);
    expect(tookMs).toBeLessThan(15_000);
    const statuses = await stack.statuses(ids);
    expect(ids.filter((id) => statuses.get(id)?.status !== 'completed')).toEqual([]);

    // A new dispatcher finds their offsets committed: none of the 20 reaches the upstream again.
    stack.sim.configure({ latency: { baseMs: 20 } });
    const sent = stack.sim.stats().requests;
    await stack.dispatch();
    const probe = await submittedId(await stack.submit('after drain', 'after-drain'));
    await stack.waitAllTerminal([probe], 60_000);
    expect(stack.sim.stats().requests - sent).toBe(1);
  }, 180_000);
});
