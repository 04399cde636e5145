import {
  REQUEST_TOPICS,
  type RequestSubmitted,
  requestKey,
  requestTopic,
  type SluiceEvent,
  type UsageRecorded,
} from '@sluice/events';
import { makeSubmittedEvent } from '@sluice/events/testing';
import { createTRPCClient, httpLink } from '@trpc/client';
import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestSluice, type TestSluice } from '../__tests__/harness';
import { costMicroMicros, roundToMicros } from '../billing/cost';
import { loadPriceTable, priceAt } from '../billing/prices';
import { events } from '../db/schema';
import { DISPATCHER_DEFAULTS } from '../dispatcher/defaults';
import { outcome } from '../dispatcher/outcome-events';
import type { AppRouter } from '../root';
import { hourOf } from '../store/projections';
import { BATCH_DEFAULTS } from './batch-settings';
import { createBatchStore, RECORDED } from './batch-store';

// Batch-class work of a tenant that allows it goes through the simulator's Files and Batches API:
// real broker (embedded: PGlite and the Postgres-backed log), real openai SDK, no mocks.
const trpcFor = (url: string, key: string) =>
  createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/trpc`, headers: { authorization: `Bearer ${key}` } })],
  });

const SETTINGS = { ...BATCH_DEFAULTS, flushMs: 200, pollMs: 100, leaseMs: 5_000, maxRequests: 10 };

describe('Batch API routing (embedded)', () => {
  let s: TestSluice;
  // The simulator's stats object is live: compare copies.
  const stats = () => structuredClone(s.simulator.stats());
  let batchTenant: { id: string; apiKey: string };
  let seq = 0;

  beforeAll(async () => {
    s = await startTestSluice({
      simulator: {
        limits: { default: { rpm: 100_000, tpm: 50_000_000 } },
        latency: { baseMs: 5 },
        batch: { completionDelayMs: 300 },
      },
      batch: SETTINGS,
      retryPolicy: { maxAttempts: 6, baseDelayMs: 10, maxDelayMs: 50 },
    });
    batchTenant = await s.newTenant('bulk');
    await s.runtime.tenants.updateTenantSettings(batchTenant.id, { batchApi: true });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);
  afterEach(() => {
    s.simulator.configure({
      batch: { completionDelayMs: 300, lineErrorRate: 0, expireAfterMs: 86_400_000, enqueuedTokenLimit: {} },
    });
  });

  async function submitBacklog(
    key: string,
    n: number,
    options: { priority?: 'batch' | 'standard'; timeoutMs?: number } = {},
  ): Promise<string[]> {
    const client = trpcFor(s.url, key);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await client.requests.submit.mutate({
        params: {
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: `Summarise document ${seq++} in one line.` }],
          max_tokens: 30,
        },
        options: {
          priority: options.priority ?? 'batch',
          ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
        },
      });
      ids.push(r.id);
    }
    return ids;
  }

  async function allSettled(ids: string[], timeoutMs = 60_000): Promise<void> {
    await eventually(async () => {
      const states = await s.runtime.store.requestStates(ids);
      return ids.every((id) => ['completed', 'failed', 'cancelled'].includes(states.get(id)?.status ?? ''));
    }, timeoutMs);
  }

  async function eventsOf(ids: string[]): Promise<Map<string, SluiceEvent[]>> {
    return new Map(
      await Promise.all(ids.map(async (id) => [id, await s.runtime.store.eventsOf(id)] as const)),
    );
  }

  /** Every request completed once, with exactly one usage record, on the Batch channel. */
  function expectCompletedOnceThroughBatches(all: Map<string, SluiceEvent[]>): void {
    for (const [id, evs] of all) {
      const types = evs.map((e) => e.type);
      expect(
        types.filter((t) => t === 'request.completed'),
        id,
      ).toHaveLength(1);
      const usage = evs.filter((e): e is UsageRecorded => e.type === 'usage.recorded');
      expect(usage, id).toHaveLength(1);
      expect(usage[0]?.channel).toBe('batch');
      const dispatched = evs.filter((e) => e.type === 'request.dispatched');
      expect(dispatched.every((d) => d.type === 'request.dispatched' && d.batch !== null)).toBe(true);
    }
  }

  it('sends a batch-class backlog through the Batch API, never synchronously, at half the synchronous price', async () => {
    const before = stats();
    const ids = await submitBacklog(batchTenant.apiKey, 25);
    await allSettled(ids);
    const after = stats();
    expect(after.requests - before.requests).toBe(0); // zero synchronous chat calls
    // 25 requests, at most 10 per batch.
    expect(after.batch.batchesCreated - before.batch.batchesCreated).toBeGreaterThanOrEqual(3);
    expect(after.batch.linesOk - before.batch.linesOk).toBe(25);

    const all = await eventsOf(ids);
    expectCompletedOnceThroughBatches(all);
    for (const evs of all.values())
      expect(evs[0]).toMatchObject({ type: 'request.submitted', route: 'batch_api' });

    // The bill: the usage report prices these tokens at the Batch price, half the synchronous one.
    const prices = loadPriceTable();
    const usage = [...all.values()].flat().filter((e): e is UsageRecorded => e.type === 'usage.recorded');
    const syncCost = roundToMicros(
      usage.reduce(
        (a, u) => a + costMicroMicros(u, priceAt(prices, u.model, hourOf(u.occurredAt), 'sync')!),
        0n,
      ),
    );
    const admin = trpcFor(s.url, s.adminKey);
    const report = await admin.admin.usage.query({
      tenant: batchTenant.id,
      from: new Date(Date.now() - 86_400_000).toISOString(),
      to: new Date(Date.now() + 3_600_000).toISOString(),
      by: 'model',
    });
    const billed = report.reduce((a, r) => a + r.costMicros, 0);
    expect(report.reduce((a, r) => a + r.completed, 0)).toBe(25);
    expect(syncCost).toBeGreaterThan(0);
    // Half, to the rounding of one micro-dollar per report line.
    expect(Math.abs(billed * 2 - syncCost)).toBeLessThanOrEqual(2);

    // Requests in batches show as dispatched while in flight, and every batch ends recorded.
    const rowsLeft = await s.runtime.database.db.query.upstreamBatches.findMany();
    expect(rowsLeft.length).toBeGreaterThanOrEqual(3);
    expect(rowsLeft.every((r) => r.status === RECORDED)).toBe(true);
  }, 90_000);

  it('fills the response cache from a Batch API answer: the same request again is a free hit', async () => {
    const both = await s.newTenant('bulk-cached');
    await s.runtime.tenants.updateTenantSettings(both.id, {
      batchApi: true,
      cache: { enabled: true, ttlSeconds: 3_600 },
    });
    const client = trpcFor(s.url, both.apiKey);
    const params = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: 'Classify ticket 7 as billing, bug or other.' }],
      max_tokens: 20,
      temperature: 0,
    };
    const first = await client.requests.submit.mutate({ params, options: { priority: 'batch' } });
    expect(first.cache).toBe('miss');
    await allSettled([first.id]);
    const before = stats();
    const second = await client.requests.submit.mutate({ params, options: { priority: 'batch' } });
    expect(second.cache).toBe('hit');
    await allSettled([second.id], 5_000);
    const after = stats();
    expect(after.requests - before.requests).toBe(0);
    expect(after.batch.linesOk - before.batch.linesOk).toBe(0);

    const all = await eventsOf([first.id, second.id]);
    const channels = [...all.values()]
      .flat()
      .filter((e): e is UsageRecorded => e.type === 'usage.recorded')
      .map((u) => `${u.requestId === first.id ? 'first' : 'second'}:${u.channel}`)
      .sort();
    expect(channels).toEqual(['first:batch', 'second:cache']);
    const answer = (id: string) => all.get(id)?.find((e) => e.type === 'request.completed')?.response.choices;
    expect(answer(second.id)).toEqual(answer(first.id));
  }, 60_000);

  it('shows requests in a live batch as dispatched, and the batch in sluice status', async () => {
    s.simulator.configure({ batch: { completionDelayMs: 2_000 } });
    const ids = await submitBacklog(batchTenant.apiKey, 3);
    const admin = trpcFor(s.url, s.adminKey);
    const status = await eventually(async () => {
      const st = await admin.admin.status.query();
      return st.batches?.some((b) => b.status === 'in_progress' && b.requests === 3) ? st : undefined;
    }, 30_000);
    expect(status.batches).toContainEqual({ status: 'in_progress', batches: 1, requests: 3 });
    const view = await trpcFor(s.url, batchTenant.apiKey).requests.get.query({ id: ids[0]! });
    expect(view).toMatchObject({ status: 'dispatched', attempts: 1 });
    await allSettled(ids);
  }, 60_000);

  it('keeps a tenant that does not allow it, and a deadline under 24 h, synchronous', async () => {
    const before = stats();
    const plain = await submitBacklog(s.tenant.apiKey, 3);
    const soon = await submitBacklog(batchTenant.apiKey, 2, { timeoutMs: 3_600_000 });
    const standard = await submitBacklog(batchTenant.apiKey, 2, { priority: 'standard' });
    const ids = [...plain, ...soon, ...standard];
    await allSettled(ids);
    const after = stats();
    expect(after.requests - before.requests).toBe(7);
    expect(after.batch.batchesCreated - before.batch.batchesCreated).toBe(0);
    for (const [id, evs] of await eventsOf(ids)) {
      expect(evs[0], id).toMatchObject({ type: 'request.submitted', route: 'sync' });
      expect(
        evs.find((e) => e.type === 'usage.recorded'),
        id,
      ).toMatchObject({ channel: 'sync' });
    }
  }, 60_000);

  it('retries error-file lines into a later batch, where they succeed', async () => {
    s.simulator.configure({ batch: { lineErrorRate: 1 } });
    const before = stats();
    const ids = await submitBacklog(batchTenant.apiKey, 6);
    await eventually(async () => stats().batch.linesErrored - before.batch.linesErrored >= 6, 30_000);
    s.simulator.configure({ batch: { lineErrorRate: 0 } });
    await allSettled(ids);
    const all = await eventsOf(ids);
    expectCompletedOnceThroughBatches(all);
    for (const [id, evs] of all) {
      expect(
        evs.find((e) => e.type === 'request.retry_scheduled'),
        id,
      ).toMatchObject({
        attempt: 1,
        reason: 'server_error',
        status: 500,
      });
      expect(evs.find((e) => e.type === 'request.completed')?.attempt, id).toBeGreaterThanOrEqual(2);
    }
    expect(stats().requests - before.requests).toBe(0);
  }, 60_000);

  it("retries an expired batch's unfinished lines", async () => {
    s.simulator.configure({ batch: { completionDelayMs: 60_000, expireAfterMs: 300 } });
    const before = stats();
    const ids = await submitBacklog(batchTenant.apiKey, 4);
    await eventually(async () => stats().batch.batchesExpired > before.batch.batchesExpired, 30_000);
    s.simulator.configure({ batch: { completionDelayMs: 300, expireAfterMs: 86_400_000 } });
    await allSettled(ids);
    const all = await eventsOf(ids);
    expectCompletedOnceThroughBatches(all);
    for (const [id, evs] of all)
      expect(
        evs.find((e) => e.type === 'request.retry_scheduled'),
        id,
      ).toMatchObject({ reason: 'timeout' });
  }, 60_000);

  it('learns the enqueued-token limit from a refused batch and stays within it', async () => {
    // Each request charges ~45 tokens (prompt estimate + max_tokens): three fit, ten do not.
    s.simulator.configure({ batch: { enqueuedTokenLimit: { default: 150 }, completionDelayMs: 300 } });
    const before = stats();
    const ids = await submitBacklog(batchTenant.apiKey, 10);
    await allSettled(ids, 90_000);
    const after = stats();
    // The first batch (all ten) was refused; once learned, later batches fit.
    expect(after.batch.batchesFailed - before.batch.batchesFailed).toBeGreaterThanOrEqual(1);
    expect(after.batch.batchesCreated - before.batch.batchesCreated).toBeGreaterThanOrEqual(4);
    expectCompletedOnceThroughBatches(await eventsOf(ids));
    const refused = await s.runtime.database.db
      .select({ payload: events.payload })
      .from(events)
      .where(eq(events.type, 'request.retry_scheduled'));
    expect(
      refused.some((r) => (r.payload as { message: string }).message.includes('Enqueued token limit')),
    ).toBe(true);
  }, 120_000);
});

describe('redelivered batch requests (embedded)', () => {
  let s: TestSluice;
  const stats = () => structuredClone(s.simulator.stats());

  beforeAll(async () => {
    s = await startTestSluice({ simulator: { batch: { completionDelayMs: 100 } }, batch: SETTINGS });
    await s.runtime.tenants.updateTenantSettings(s.tenant.id, { batchApi: true });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  /** A dispatcher recorded attempt 1 as sent in batch `localId`, then died; the request is received again. */
  async function redeliveredAfterDispatch(localId: string): Promise<RequestSubmitted> {
    const submitted = makeSubmittedEvent({ tenantId: s.tenant.id, priority: 'batch', route: 'batch_api' });
    await s.runtime.store.append([
      submitted,
      outcome.dispatched(submitted, 1, new Date(), {
        dispatcherId: 'dead-dispatcher',
        serviceTier: null,
        tierFallback: null,
        queueWaitMs: 0,
        reservedTokens: submitted.estimate.tpmCost,
        batch: { localId },
      }),
    ]);
    await s.runtime.log.append([
      { topic: requestTopic('batch'), key: requestKey('default'), event: submitted },
    ]);
    return submitted;
  }

  async function logDrained(): Promise<void> {
    await eventually(async () => {
      const lag = await s.runtime.log.lag(DISPATCHER_DEFAULTS.groupId, REQUEST_TOPICS);
      return lag.every((l) => Number(l.lag) === 0);
    }, 30_000);
  }

  it('retries an attempt whose batch was never stored (the dispatcher died before it): nothing was sent', async () => {
    const before = stats();
    const { requestId } = await redeliveredAfterDispatch('sb_never_stored');
    await eventually(
      async () => (await s.runtime.store.getRequest(null, requestId))?.status === 'completed',
      30_000,
    );
    const evs = await s.runtime.store.eventsOf(requestId);
    expect(evs.find((e) => e.type === 'request.retry_scheduled')).toMatchObject({
      attempt: 1,
      reason: 'dispatcher_lost',
    });
    expect(evs.filter((e) => e.type === 'usage.recorded')).toEqual([
      expect.objectContaining({ attempt: 2, channel: 'batch' }),
    ]);
    const after = stats();
    expect(after.batch.linesOk - before.batch.linesOk).toBe(1);
    expect(after.requests - before.requests).toBe(0);
  }, 60_000);

  it('leaves an attempt carried by a stored batch to that batch: not retried, not sent again', async () => {
    const localId = 'sb_held_elsewhere';
    const before = stats();
    // A live dispatcher holds this batch's lease for a long time: no one else polls it meanwhile.
    await createBatchStore(s.runtime.database.db).insert({
      localId,
      pool: 'default',
      model: 'gpt-4o-mini',
      endpoint: '/v1/chat/completions',
      members: [],
      reservedTokens: 25,
      leaseOwner: 'another-dispatcher',
      leaseUntil: new Date(Date.now() + 3_600_000),
    });
    const { requestId } = await redeliveredAfterDispatch(localId);
    await logDrained();
    const evs = await s.runtime.store.eventsOf(requestId);
    expect(evs.map((e) => e.type)).toEqual(['request.submitted', 'request.dispatched']);
    expect((await s.runtime.store.getRequest(null, requestId))?.status).toBe('dispatched');
    const after = stats();
    expect(after.batch.batchesCreated - before.batch.batchesCreated).toBe(0);
    expect(after.requests - before.requests).toBe(0);
  }, 60_000);
});

describe('Batch API routing with a configured batch queue limit (embedded)', () => {
  let s: TestSluice;
  const stats = () => structuredClone(s.simulator.stats());

  beforeAll(async () => {
    s = await startTestSluice({
      simulator: { batch: { completionDelayMs: 200, enqueuedTokenLimit: { default: 150 } } },
      batch: { ...SETTINGS, queueTokens: 150 },
    });
    await s.runtime.tenants.updateTenantSettings(s.tenant.id, { batchApi: true });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  it('never submits more than the configured limit: no batch is refused', async () => {
    const client = trpcFor(s.url, s.tenant.apiKey);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await client.requests.submit.mutate({
        params: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Item ${i}` }], max_tokens: 30 },
        options: { priority: 'batch' },
      });
      ids.push(r.id);
    }
    await eventually(async () => {
      const states = await s.runtime.store.requestStates(ids);
      return ids.every((id) => states.get(id)?.status === 'completed');
    }, 90_000);
    const after = stats();
    expect(after.batch.batchesFailed).toBe(0);
    expect(after.batch.batchesCreated).toBeGreaterThanOrEqual(3);
    expect(after.requests).toBe(0);
  }, 120_000);
});
