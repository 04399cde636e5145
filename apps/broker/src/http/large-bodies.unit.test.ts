import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { createLargeBodyGate, registerJsonLane } from './large-bodies';

const never = new AbortController().signal;

describe('large body gate', () => {
  it("lets a tenant read `perTenant` large bodies at once, the next in arrival order, others' unaffected", async () => {
    const gate = createLargeBodyGate({ minBytes: 1, perTenant: 2, bytesPerSecond: 1e9 });
    const a = await gate.enter('t1', 1_000, never);
    const b = await gate.enter('t1', 1_000, never);
    const order: string[] = [];
    const queued = (name: string) =>
      gate.enter('t1', 1_000, never).then((release) => {
        order.push(name);
        return release;
      });
    const c = queued('c');
    const d = queued('d');
    expect(await gate.enter('t2', 1_000, never)).toBeTypeOf('function'); // another tenant: no wait
    a!();
    a!(); // releasing twice frees one slot, not two
    await c;
    expect(order).toEqual(['c']);
    b!();
    expect(await d).toBeTypeOf('function');
    expect(order).toEqual(['c', 'd']);
  });

  it('refuses at once past sixteen waiting bodies per slot', async () => {
    const gate = createLargeBodyGate({ minBytes: 1, perTenant: 1, bytesPerSecond: 1e9 });
    const held = await gate.enter('t', 1_000, never);
    const waiting = Array.from({ length: 16 }, () => gate.enter('t', 1_000, never));
    expect(await gate.enter('t', 1_000, never)).toBeUndefined(); // the 17th: no wait
    held!();
    expect(await waiting[0]).toBeTypeOf('function');
  });

  it('gives up after the timeout, or when the caller goes, and keeps the queue consistent', async () => {
    const gate = createLargeBodyGate({ minBytes: 1, perTenant: 1, bytesPerSecond: 1e9 });
    const held = await gate.enter('t', 1_000, never);
    expect(await gate.enter('t', 20, never)).toBeUndefined();
    const gone = new AbortController();
    const waiting = gate.enter('t', 1_000, gone.signal);
    gone.abort();
    expect(await waiting).toBeUndefined();
    held!();
    // Nobody is left waiting: the freed slot is there for the next comer at once.
    expect(await gate.enter('t', 20, never)).toBeTypeOf('function');
  });
});

describe('large body pace', () => {
  it("lets a tenant send a second's worth at once, then spaces its bodies to the rate; others unaffected", () => {
    let now = 10_000;
    const gate = createLargeBodyGate({ minBytes: 1, perTenant: 4, bytesPerSecond: 1_000 }, () => now);
    expect(gate.pace('t', 600)).toBe(0);
    expect(gate.pace('t', 400)).toBe(0); // the second's worth is spent
    expect(gate.pace('t', 500)).toBe(500);
    expect(gate.pace('other', 1_000)).toBe(0);
    now += 2_000; // idle: the budget is back, but not more than a second's worth
    expect(gate.pace('t', 1_000)).toBe(0);
    expect(gate.pace('t', 100)).toBe(100);
  });
});

describe('JSON lane', () => {
  const app = Fastify({ onProtoPoisoning: 'error' });
  registerJsonLane(app, 100);
  app.post('/', async (req) => ({ got: req.body }));
  const post = (payload: string) =>
    app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, payload });

  it('parses large bodies as Fastify does: the same values, poisoning and broken JSON refused', async () => {
    const big = (n: number) => JSON.stringify({ n, text: 'x'.repeat(200) });
    const answers = await Promise.all([post(big(1)), post(big(2)), post('{"small":true}')]);
    expect(answers.map((a) => a.json())).toEqual([
      { got: { n: 1, text: 'x'.repeat(200) } },
      { got: { n: 2, text: 'x'.repeat(200) } },
      { got: { small: true } },
    ]);
    const poisoned = await post(`{"text":"${'x'.repeat(200)}","__proto__":{"admin":true}}`);
    expect(poisoned.statusCode).toBe(400);
    expect((await post(`{"text":"${'x'.repeat(200)}"`)).statusCode).toBe(400); // not JSON
  });
});
