import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotentRequestId } from '../intake/idempotency';
import {
  billingViolations,
  type ProductionStack,
  startProductionStack,
  submittedId,
} from './production-stack';

// The API process is SIGKILLed while clients submit. A submit that returned an id is in the log;
// a client that got no answer retries with its idempotency key and gets the same request back.
describe('API process crash', () => {
  let stack: ProductionStack;

  beforeAll(async () => {
    stack = await startProductionStack();
    await stack.dispatch();
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  }, 60_000);

  it('keeps every acknowledged submit, and a retried submit is the same request, not a copy', async () => {
    let api = await stack.serve();
    const clients = 40;
    const perClient = 10;
    const answered = new Map<string, string>(); // idempotency key → id the API answered with
    let retriedAfterNoAnswer = 0;

    const client = async (c: number) => {
      for (let i = 0; i < perClient; i++) {
        const key = `api-crash-${c}-${i}`;
        for (let tries = 0; ; tries++) {
          const res = await stack.submit(`client ${c} request ${i}`, key).catch(() => undefined);
          if (res?.ok) {
            answered.set(key, await submittedId(res));
            break;
          }
          retriedAfterNoAnswer++;
          if (tries > 200) throw new Error(`${key}: no answer after ${tries} tries`);
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 30));
      }
    };
    const running = Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
    await new Promise((r) => setTimeout(r, 1_000));
    await api.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    api = await stack.serve();
    await running;

    expect(retriedAfterNoAnswer).toBeGreaterThan(0); // the kill really cut some clients off
    expect(answered.size).toBe(clients * perClient);
    // The same key always names the same request, whichever API process answered.
    for (const [key, id] of answered) expect(id).toBe(idempotentRequestId(stack.tenant.tenantId, key));
    const ids = [...answered.values()];
    await stack.waitAllTerminal(ids);
    const statuses = await stack.statuses(ids);
    expect(ids.filter((id) => statuses.get(id)?.status !== 'completed')).toEqual([]);
    // No copies: exactly one request per key in the store, each billed once.
    const stored = await stack.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM requests WHERE tenant_id = $1 AND idempotency_key LIKE 'api-crash-%'`,
      [stack.tenant.tenantId],
    );
    expect(stored[0]?.n).toBe(clients * perClient);
    expect(billingViolations(ids, statuses, await stack.eventCounts(ids))).toEqual([]);
    expect(stack.sim.stats().ok).toBe(clients * perClient);
  }, 240_000);
});
