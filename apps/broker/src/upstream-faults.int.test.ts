import { TOPICS } from '@sluice/events';
import { createTRPCClient, httpLink } from '@trpc/client';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestSluice, type TestSluice } from './__tests__/harness';
import type { AppRouter } from './root';

// Upstream faults from the simulator: what is retried (with backoff, within the quota), what is
// terminal, and how exhausted retries reach the dead-letter queue and come back from it.
describe('upstream faults (embedded)', () => {
  let s: TestSluice;
  let tenant: ReturnType<typeof createTRPCClient<AppRouter>>;
  let admin: ReturnType<typeof createTRPCClient<AppRouter>>;
  const client = (key: string) =>
    createTRPCClient<AppRouter>({
      links: [httpLink({ url: `${s.url}/trpc`, headers: { authorization: `Bearer ${key}` } })],
    });
  const ask = (content: string) =>
    tenant.requests.submit.mutate({
      params: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 8 },
    });
  const settled = async (id: string) => {
    await eventually(
      async () => ['completed', 'failed'].includes((await tenant.requests.get.query({ id })).status),
      30_000,
    );
    return tenant.requests.get.query({ id });
  };
  const usageEvents = async (id: string) =>
    (await s.runtime.store.eventsOf(id)).filter((e) => e.type === 'usage.recorded').length;

  beforeAll(async () => {
    s = await startTestSluice({
      mode: 'embedded',
      simulator: { limits: { default: { rpm: 6_000, tpm: 6_000_000 } }, seed: 7 },
      retryPolicy: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 200 },
    });
    tenant = client(s.tenant.apiKey);
    admin = client(s.adminKey);
  }, 60_000);
  afterAll(async () => {
    await s?.close();
  });

  it('retries 5xx, timeouts, dropped connections and malformed bodies until every request completes, billed once', async () => {
    s.simulator.configure({
      faults: {
        serverErrorRate: 0.2,
        timeoutRate: 0.03,
        timeoutMs: 200,
        dropRate: 0.05,
        malformedRate: 0.05,
      },
    });
    const before = structuredClone(s.simulator.stats());
    const ids = await Promise.all(Array.from({ length: 60 }, (_, i) => ask(`faulty ${i}`).then((r) => r.id)));
    const outcomes = await Promise.all(ids.map(settled));
    s.simulator.configure({ faults: {} });
    const failed = outcomes.filter((o) => o.status !== 'completed');
    // Three attempts at a ~30% fault rate: a few may exhaust them; those are dead-lettered, with a reason.
    expect(failed.length).toBeLessThan(6);
    for (const f of failed) expect(f.error).toMatchObject({ deadLettered: true, reason: expect.any(String) });
    const after = s.simulator.stats();
    expect(after.requests - before.requests).toBeGreaterThan(60); // faults really happened and were retried
    for (const o of outcomes) expect(await usageEvents(o.id)).toBe(o.status === 'completed' ? 1 : 0);
  }, 120_000);

  it('waits out a 429 storm with retry-after instead of hammering the upstream', async () => {
    s.simulator.configure({ faults: { rateLimitStormUntil: Date.now() + 1_500, stormRetryAfterMs: 1_000 } });
    const before = structuredClone(s.simulator.stats());
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => ask(`storm ${i}`).then((r) => r.id)));
    const outcomes = await Promise.all(ids.map(settled));
    s.simulator.configure({ faults: {} });
    expect(outcomes.every((o) => o.status === 'completed')).toBe(true);
    const rejected = s.simulator.stats().rateLimited.storm - before.rateLimited.storm;
    // The limiter pauses on the first 429s (retry-after), so the storm sees a handful, not a flood.
    expect(rejected).toBeGreaterThan(0);
    expect(rejected).toBeLessThanOrEqual(20);
  }, 60_000);

  it.each([400, 401, 404] as const)('never retries a terminal %i and reports it', async (status) => {
    s.simulator.configure({ faults: { forceStatus: status } });
    const before = s.simulator.stats().requests;
    const { id } = await ask(`terminal ${status}`);
    const o = await settled(id);
    s.simulator.configure({ faults: {} });
    expect(o.status).toBe('failed');
    expect(o.error).toMatchObject({ status, deadLettered: false });
    expect(o.error?.message.length).toBeGreaterThan(0);
    expect(s.simulator.stats().requests - before).toBe(1);
  });

  it('never retries insufficient_quota (billing, not rate): one attempt, a clear reason', async () => {
    s.simulator.configure({ faults: { insufficientQuota: true } });
    const before = s.simulator.stats().requests;
    const { id } = await ask('no credit');
    const o = await settled(id);
    s.simulator.configure({ faults: {} });
    expect(o.status).toBe('failed');
    expect(o.error?.message).toMatch(/quota|billing/i);
    expect(s.simulator.stats().requests - before).toBe(1);
  });

  it('dead-letters exhausted retries, and `dlq retry` runs them again exactly once', async () => {
    s.simulator.configure({ faults: { serverErrorRate: 1 } });
    const first = (await ask('doomed one')).id;
    const second = (await ask('doomed two')).id;
    const [a, b] = await Promise.all([settled(first), settled(second)]);
    s.simulator.configure({ faults: {} });
    expect(a.error).toMatchObject({ deadLettered: true, reason: 'server_error' });
    expect(b.error).toMatchObject({ deadLettered: true });
    expect(a.attempts).toBe(3);

    // The dead-letter topic holds both, and the DLQ lists both.
    const topicRows = await s.runtime.database.db.execute(
      sql`SELECT count(*)::int AS n FROM sluice_log_record WHERE topic = ${TOPICS.deadLetter}`,
    );
    expect(
      Number((topicRows as unknown as { rows: Array<{ n: number }> }).rows[0]?.n),
    ).toBeGreaterThanOrEqual(2);
    const listed = await admin.admin.dlq.list.query();
    expect(listed.map((e) => e.requestId)).toEqual(expect.arrayContaining([first, second]));

    // Retry one (twice: the second is a no-op), discard the other.
    const retried = await admin.admin.dlq.retry.mutate({ id: first });
    const again = await admin.admin.dlq.retry.mutate({ id: first });
    expect(again).toEqual({ ...retried, alreadyRetried: true });
    await admin.admin.dlq.discard.mutate({ id: second });
    const rerun = await settled(retried.retryRequestId);
    expect(rerun.status).toBe('completed');
    expect(await usageEvents(retried.retryRequestId)).toBe(1);
    expect((await admin.admin.dlq.list.query()).map((e) => e.requestId)).not.toContain(first);
    expect((await admin.admin.dlq.list.query()).map((e) => e.requestId)).not.toContain(second);
    const all = await admin.admin.dlq.list.query({ all: true });
    expect(all.find((e) => e.requestId === second)?.action).toBe('discarded');
    // A tenant cannot reach the operator's DLQ.
    await expect(tenant.admin.dlq.list.query()).rejects.toThrow(/FORBIDDEN|operator|admin/i);
  }, 60_000);
});
