import type { UsageRecorded } from '@sluice/events';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { asc, eq } from 'drizzle-orm';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestSluice, type TestSluice } from './__tests__/harness';
import { costMicroMicros, roundToMicros } from './billing/cost';
import { loadPriceTable, priceAt } from './billing/prices';
import { events, requests, responseCache, usageRollup } from './db/schema';
import type { AppRouter } from './root';
import { hourOf } from './store/projections';

// Reports, budgets and replay against a realistic run: several tenants, two models, completions,
// upstream 429s met and retried, terminal failures and cancellations, all through the real broker.
const trpcFor = (url: string, key: string) =>
  createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/trpc`, headers: { authorization: `Bearer ${key}` } })],
  });

async function refused(p: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  const e = await p.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(e).toBeInstanceOf(TRPCClientError);
  return e as TRPCClientError<AppRouter>;
}

describe('usage, billing and replay (embedded)', () => {
  let s: TestSluice;
  let tenants: Array<{ id: string; apiKey: string; name: string }>;
  let admin: ReturnType<typeof trpcFor>;
  const expected = new Map<
    string,
    { requests: number; completed: number; failed: number; cancelled: number }
  >();

  const count = (tenantId: string, k: 'requests' | 'completed' | 'failed' | 'cancelled', n = 1) => {
    const c = expected.get(tenantId) ?? { requests: 0, completed: 0, failed: 0, cancelled: 0 };
    c[k] += n;
    expected.set(tenantId, c);
  };

  async function settled(ids: string[]): Promise<void> {
    await eventually(async () => {
      for (const id of ids) {
        const r = await s.runtime.store.getRequest(null, id);
        if (!r || !['completed', 'failed', 'cancelled'].includes(r.status)) return false;
        if (r.status === 'completed') {
          const evs = await s.runtime.store.eventsOf(id);
          if (!evs.some((e) => e.type === 'usage.recorded')) return false;
        }
      }
      return true;
    }, 60_000);
  }

  beforeAll(async () => {
    s = await startTestSluice({
      simulator: { limits: { default: { rpm: 100_000, tpm: 50_000_000 } }, latency: { baseMs: 15 } },
    });
    tenants = [{ ...s.tenant, name: 'acme' }];
    for (const name of ['beta', 'gamma']) tenants.push({ ...(await s.newTenant(name)), name });
    admin = trpcFor(s.url, s.adminKey);

    const ids: string[] = [];
    // Completions on two models for every tenant, through the OpenAI-compatible API.
    await Promise.all(
      tenants.map(async (t, n) => {
        const openai = new OpenAI({ apiKey: t.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
        for (let i = 0; i < 6 + n * 2; i++) {
          const model = i % 3 === 0 ? 'gpt-4o' : 'gpt-4o-mini';
          const { response } = await openai.chat.completions
            .create({
              model,
              messages: [{ role: 'user', content: `hello ${i} `.repeat(i + 1) }],
              max_tokens: 30,
            })
            .withResponse();
          ids.push(response.headers.get('x-sluice-request-id')!);
          count(t.id, 'requests');
          count(t.id, 'completed');
        }
      }),
    );
    await settled(ids);

    // A response-cache miss and hit for gamma: the hit is recorded (and replayed) like any completion.
    await admin.admin.tenants.cache.set.mutate({ tenant: 'gamma', enabled: true });
    const cached = new OpenAI({ apiKey: tenants[2]!.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
    const ask = () =>
      cached.chat.completions
        .create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'the same question' }],
          max_tokens: 30,
          temperature: 0,
        })
        .withResponse();
    const miss = await ask();
    const missId = miss.response.headers.get('x-sluice-request-id')!;
    await settled([missId]);
    const hit = await ask();
    expect(hit.response.headers.get('x-sluice-cache')).toBe('hit');
    ids.push(missId, hit.response.headers.get('x-sluice-request-id')!);
    count(tenants[2]!.id, 'requests', 2);
    count(tenants[2]!.id, 'completed', 2);

    // Upstream 429s for gamma: met, retried, then completed.
    const gamma = trpcFor(s.url, tenants[2]!.apiKey);
    s.simulator.configure({ faults: { rateLimitStormUntil: Date.now() + 400, stormRetryAfterMs: 150 } });
    const stormed = await Promise.all(
      [0, 1, 2].map((i) =>
        gamma.requests.submit.mutate({
          params: {
            model: 'gpt-4o-mini',
            messages: [{ role: 'user', content: `storm ${i}` }],
            max_tokens: 10,
          },
        }),
      ),
    );
    count(tenants[2]!.id, 'requests', stormed.length);
    count(tenants[2]!.id, 'completed', stormed.length);
    await settled(stormed.map((r) => r.id));
    s.simulator.configure({ faults: { rateLimitStormUntil: 0 } });

    // Terminal upstream failures for beta.
    const beta = trpcFor(s.url, tenants[1]!.apiKey);
    s.simulator.configure({ faults: { forceStatus: 400 } });
    const failed = await Promise.all(
      [0, 1].map((i) =>
        beta.requests.submit.mutate({
          params: {
            model: 'gpt-4o-mini',
            messages: [{ role: 'user', content: `fail ${i}` }],
            max_tokens: 10,
          },
        }),
      ),
    );
    for (const _ of failed) {
      count(tenants[1]!.id, 'requests');
      count(tenants[1]!.id, 'failed');
    }
    await settled(failed.map((r) => r.id));
    s.simulator.configure({ faults: { forceStatus: null } });

    // Cancellations by acme: its requests meet a 429 storm with a long retry-after and are cancelled
    // while they wait (to be retried, or queued behind the pause the 429 set), so no answer can
    // arrive after the cancellation. Only the first to go need meet a 429: the limiter pauses the
    // pool after it, so the others may still be queued.
    const acme = trpcFor(s.url, tenants[0]!.apiKey);
    s.simulator.configure({ faults: { rateLimitStormUntil: Date.now() + 60_000, stormRetryAfterMs: 8_000 } });
    const waiting = await Promise.all(
      [0, 1, 2].map((i) =>
        acme.requests.submit.mutate({
          params: {
            model: 'gpt-4o-mini',
            messages: [{ role: 'user', content: `cancel me ${i}` }],
            max_tokens: 10,
          },
          options: { priority: 'batch' },
        }),
      ),
    );
    await eventually(async () => {
      const rows = await Promise.all(waiting.map((r) => s.runtime.store.getRequest(null, r.id)));
      const statuses = rows.map((r) => r?.status ?? 'not yet projected');
      const waitingStatuses = ['queued', 'dispatched', 'retrying'];
      return statuses.includes('retrying') && statuses.every((st) => waitingStatuses.includes(st));
    }, 30_000);
    for (const r of waiting) {
      expect((await acme.requests.cancel.mutate({ id: r.id })).status).toBe('cancelled');
      count(tenants[0]!.id, 'requests');
      count(tenants[0]!.id, 'cancelled');
    }
    await settled(waiting.map((r) => r.id));
    s.simulator.configure({ faults: { rateLimitStormUntil: 0 } });
  }, 180_000);

  afterAll(async () => {
    await s?.close();
  }, 60_000);

  const range = () => ({
    from: new Date(Date.now() - 86_400_000).toISOString(),
    to: new Date(Date.now() + 3_600_000).toISOString(),
  });

  it('reports per tenant exactly what happened, priced from the reported usage in micro-dollars', async () => {
    const rows = await admin.admin.usage.query({ ...range(), by: 'day' });
    const prices = loadPriceTable();
    const usage = (
      await s.runtime.database.db
        .select({ payload: events.payload })
        .from(events)
        .where(eq(events.type, 'usage.recorded'))
    ).map((r) => r.payload as UsageRecorded);
    expect(usage.length).toBeGreaterThan(20);

    for (const t of tenants) {
      const mine = rows.filter((r) => r.tenantId === t.id);
      const sum = (k: 'requests' | 'completed' | 'failed' | 'cancelled') =>
        mine.reduce((a, r) => a + r[k], 0);
      const want = expected.get(t.id)!;
      expect({
        requests: sum('requests'),
        completed: sum('completed'),
        failed: sum('failed'),
        cancelled: sum('cancelled'),
      }).toEqual(want);
      expect(mine.every((r) => r.tenantName === t.name)).toBe(true);

      for (const r of mine) {
        const used = usage.filter(
          (u) => u.tenantId === t.id && u.model === r.model && u.occurredAt.slice(0, 10) === r.period,
        );
        expect(r.promptTokens).toBe(used.reduce((a, u) => a + u.promptTokens, 0));
        expect(r.completionTokens).toBe(used.reduce((a, u) => a + u.completionTokens, 0));
        // Priced event by event at the price in force in its hour, summed exactly, rounded once per line.
        const exact = used.reduce(
          (a, u) => a + costMicroMicros(u, priceAt(prices, u.model, hourOf(u.occurredAt), u.channel)!),
          0n,
        );
        expect(r.costMicros).toBe(roundToMicros(exact));
        expect(r.costMicros).toBeGreaterThan(0);
        expect(r.costUsd).toMatch(/^\d+\.\d{6}$/);
        if (r.completed > 0) {
          expect(r.upstreamLatencyP50Ms).toBeGreaterThan(0);
          expect(r.upstreamLatencyP95Ms!).toBeGreaterThanOrEqual(r.upstreamLatencyP50Ms!);
          expect(r.queueWaitP95Ms).not.toBeNull();
        }
      }
    }
    const gamma = rows.filter((r) => r.tenantId === tenants[2]!.id);
    expect(gamma.reduce((a, r) => a + r.rateLimited, 0)).toBeGreaterThanOrEqual(1);
    expect(gamma.reduce((a, r) => a + r.retries, 0)).toBeGreaterThanOrEqual(
      gamma.reduce((a, r) => a + r.rateLimited, 0),
    );

    const byModel = await admin.admin.usage.query({ ...range(), by: 'model', tenant: 'beta' });
    expect(new Set(byModel.map((r) => r.model))).toEqual(new Set(['gpt-4o', 'gpt-4o-mini']));
    expect(byModel.every((r) => r.period === 'all' && r.tenantId === tenants[1]!.id)).toBe(true);
    const byHour = await admin.admin.usage.query({ ...range(), by: 'hour', tenant: tenants[1]!.id });
    expect(byHour.every((r) => /^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$/.test(r.period))).toBe(true);
  });

  it('gives a tenant its own usage and budget, and refuses it anyone else’s', async () => {
    const acme = trpcFor(s.url, tenants[0]!.apiKey);
    const mine = await acme.usage.mine.query({ by: 'model' });
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.tenantId === tenants[0]!.id)).toBe(true);

    const e = await refused(acme.admin.usage.query({ tenant: 'beta', by: 'day' }));
    expect(e.data?.code).toBe('FORBIDDEN');
    // Naming another tenant in the tenant's own call changes nothing: the key decides.
    const sneaky = await acme.usage.mine.query({ by: 'model', tenant: tenants[1]!.id } as never);
    expect(sneaky.every((r) => r.tenantId === tenants[0]!.id)).toBe(true);
  });

  it('refuses bad report input with clear errors', async () => {
    const unknown = await refused(admin.admin.usage.query({ tenant: 'no-such-tenant', by: 'day' }));
    expect(unknown.data?.code).toBe('NOT_FOUND');
    expect(unknown.message).toMatch(/No tenant no-such-tenant/);
    const inverted = await refused(
      admin.admin.usage.query({ from: '2025-02-01T00:00:00Z', to: '2025-01-01T00:00:00Z', by: 'day' }),
    );
    expect(inverted.data?.code).toBe('BAD_REQUEST');
    expect(inverted.message).toMatch(/`from` must be before `to`/);
    const grouping = await refused(admin.admin.usage.query({ by: 'week' as never }));
    expect(grouping.data?.code).toBe('BAD_REQUEST');
  });

  it('refuses a tenant whose budget is spent, or lowers it to batch, and shows what remains', async () => {
    const beta = tenants[1]!;
    const client = trpcFor(s.url, beta.apiKey);
    const open = await client.usage.budget.query();
    expect(open.limited).toBe(false);

    const spent = (await admin.admin.budgets.get.query({ tenant: 'beta' })).spentUsdMicros;
    expect(spent).toBeGreaterThan(0);
    const set = await admin.admin.budgets.set.mutate({
      tenant: 'beta',
      usdMicros: spent,
      onExhausted: 'refuse',
    });
    expect(set).toMatchObject({ exhausted: true, remainingUsdMicros: 0, limitUsdMicros: spent });

    const params = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: 'over budget' }],
      max_tokens: 5,
    };
    const e = await refused(client.requests.submit.mutate({ params }));
    // One error table: tRPC answers the same 429 as /v1.
    expect(e.data?.code).toBe('TOO_MANY_REQUESTS');
    expect(e.data?.sluiceCode).toBe('budget_exceeded');
    expect(e.message).toMatch(/Budget exhausted/);
    const openai = new OpenAI({ apiKey: beta.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
    const viaV1 = await openai.chat.completions.create(params).catch((error: unknown) => error);
    expect(viaV1).toBeInstanceOf(OpenAI.RateLimitError);
    expect((viaV1 as InstanceType<typeof OpenAI.APIError>).code).toBe('insufficient_quota');
    expect(await client.usage.budget.query()).toMatchObject({ exhausted: true, remainingUsdMicros: 0 });

    await admin.admin.budgets.set.mutate({ tenant: 'beta', usdMicros: spent, onExhausted: 'downgrade' });
    const lowered = await client.requests.submit.mutate({ params, options: { priority: 'interactive' } });
    expect(lowered.priority).toBe('batch');
    await settled([lowered.id]);

    // A budget with room admits at the asked priority.
    await admin.admin.budgets.set.mutate({
      tenant: 'beta',
      usdMicros: spent + 10_000_000,
      tokens: 10_000_000,
      onExhausted: 'refuse',
    });
    const ok = await client.requests.submit.mutate({ params, options: { priority: 'interactive' } });
    expect(ok.priority).toBe('interactive');
    await settled([ok.id]);
    const after = await client.usage.budget.query();
    expect(after.remainingUsdMicros).toBe(after.limitUsdMicros! - after.spentUsdMicros);
    expect(after.remainingTokens).toBe(10_000_000 - after.spentTokens);
    await admin.admin.budgets.clear.mutate({ tenant: 'beta' });
    expect((await client.usage.budget.query()).limited).toBe(false);
  });

  it('rebuilds projections from the event store alone that equal the live ones', async () => {
    const db = s.runtime.database.db;
    const snapshot = async () => ({
      requests: await db.select().from(requests).orderBy(asc(requests.requestId)),
      rollup: await db
        .select()
        .from(usageRollup)
        .orderBy(
          asc(usageRollup.tenantId),
          asc(usageRollup.bucketStart),
          asc(usageRollup.model),
          asc(usageRollup.channel),
        ),
      cache: await db.select().from(responseCache).orderBy(asc(responseCache.scope), asc(responseCache.key)),
    });
    const live = await snapshot();
    expect(live.requests.length).toBeGreaterThan(30);
    expect(live.requests.filter((r) => r.cache === 'hit')).toHaveLength(1);
    expect(live.cache).toHaveLength(1);
    expect(live.cache[0]!.hitCount).toBe(1);
    expect(new Set(live.requests.map((r) => r.status))).toEqual(
      new Set(['completed', 'failed', 'cancelled']),
    );
    const progress: number[] = [];
    const replayed = await s.runtime.store.rebuildProjections({ onProgress: (n) => progress.push(n) });
    expect(replayed).toBeGreaterThan(100);
    expect(progress.at(-1)).toBe(replayed);
    expect(await snapshot()).toEqual(live);
  });
});
