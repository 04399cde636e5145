import type { RequestDispatched, RequestRetryScheduled, UsageRecorded } from '@sluice/events';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type HarnessMode, startTestSluice, type TestSluice } from './__tests__/harness';
import { costMicroMicros, roundToMicros } from './billing/cost';
import { billedChannel, type Channel, loadPriceTable, priceAt } from './billing/prices';
import type { AppRouter } from './root';
import { hourOf } from './store/projections';

// Service tiers over the real stack: the broker, its log and store, its dispatcher, and the
// simulator answering flex slower (and sometimes not at all) and priority faster.
const PRICES = loadPriceTable();
const MODEL = 'gpt-5-mini';
const trpcFor = (url: string, key: string) =>
  createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/trpc`, headers: { authorization: `Bearer ${key}` } })],
  });
const ask = (i: number) => ({
  model: MODEL,
  messages: [{ role: 'user' as const, content: `summarise item ${i} `.repeat(3) }],
  max_completion_tokens: 20,
});

/** What a set of usage events cost, each at the channel that bills it. */
function costOf(usage: UsageRecorded[], as?: Channel): number {
  let micro = 0n;
  for (const u of usage) {
    const channel = as ?? billedChannel(u.channel, u.serviceTier);
    micro += costMicroMicros(u, priceAt(PRICES, u.model, hourOf(u.occurredAt), channel)!);
  }
  return roundToMicros(micro);
}

describe.each<HarnessMode>(['embedded', 'kafka'])('service tiers (%s)', (mode) => {
  let s: TestSluice;
  let admin: ReturnType<typeof trpcFor>;

  async function eventsOfAll(ids: string[]) {
    return (await Promise.all(ids.map((id) => s.runtime.store.eventsOf(id)))).flat();
  }

  async function tenantWith(
    name: string,
    tiers: { flex?: 'auto' | 'allow' | 'off'; priority?: 'auto' | 'allow' | 'off'; fallback?: boolean },
  ) {
    const t = await s.newTenant(name);
    await admin.admin.tenants.tiers.mutate({ tenant: name, ...tiers });
    return { ...t, openai: new OpenAI({ apiKey: t.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 }) };
  }

  /** Sends through /v1 and returns the answer with Sluice's request id. */
  async function send(
    openai: OpenAI,
    body: ReturnType<typeof ask> & { service_tier?: 'flex' | 'priority' | 'default' },
    headers: Record<string, string>,
  ) {
    const { data, response } = await openai.chat.completions.create(body, { headers }).withResponse();
    return { answer: data, id: response.headers.get('x-sluice-request-id')! };
  }

  beforeAll(async () => {
    s = await startTestSluice({
      mode,
      simulator: {
        limits: { default: { rpm: 100_000, tpm: 50_000_000 } },
        latency: { baseMs: 10 },
        tiers: { flex: { slowdown: 3 }, priority: { speedup: 0.5 } },
      },
      retryPolicy: { maxAttempts: 40, baseDelayMs: 30, maxDelayMs: 200 },
      tiers: { flexMinLeadMs: 1_500 },
    });
    admin = trpcFor(s.url, s.adminKey);
  }, 120_000);
  afterAll(() => s?.close());

  it('routes a batch-class backlog with a deadline of hours to flex, and bills it at the flex price', async () => {
    const t = await tenantWith('backlog', { flex: 'auto' });
    const before = s.simulator.stats().byTier.flex ?? 0;
    const sent = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        send(t.openai, ask(i), {
          'x-sluice-priority': 'batch',
          'x-sluice-timeout-ms': String(3 * 3_600_000),
        }),
      ),
    );
    expect(sent.every((r) => r.answer.service_tier === 'flex')).toBe(true);
    expect((s.simulator.stats().byTier.flex ?? 0) - before).toBe(12);
    const ids = sent.map((r) => r.id);
    await eventually(
      async () => (await eventsOfAll(ids)).filter((e) => e.type === 'usage.recorded').length === 12,
    );
    const evs = await eventsOfAll(ids);
    const submitted = evs.filter((e) => e.type === 'request.submitted');
    expect(submitted.every((e) => e.tier?.tier === 'flex' && e.tier.chosenBy === 'sluice')).toBe(true);
    // The body is logged as the client sent it; the tier goes on the attempt.
    expect(submitted.every((e) => !('service_tier' in e.body))).toBe(true);
    const dispatched = evs.filter((e): e is RequestDispatched => e.type === 'request.dispatched');
    expect(dispatched.every((e) => e.serviceTier === 'flex' && e.tierFallback === null)).toBe(true);
    const usage = evs.filter((e): e is UsageRecorded => e.type === 'usage.recorded');
    expect(usage.every((u) => u.serviceTier === 'flex')).toBe(true);

    const rows = await admin.admin.usage.query({ tenant: 'backlog', by: 'tier' });
    const row = rows.find((r) => r.tier === 'flex');
    // Request counters sit under the default tier; the tokens and their cost under flex.
    expect(rows.find((r) => r.tier === 'default')).toMatchObject({ requests: 12, costMicros: 0 });
    expect(row?.costMicros).toBe(costOf(usage, 'flex'));
    // Flex costs half the default tier's price for gpt-5-mini (the shipped table).
    const atDefault = costOf(usage, 'sync');
    expect(row!.costMicros).toBeLessThan(atDefault * 0.55);
    expect(row!.savedVsDefaultMicros).toBe(atDefault - row!.costMicros);
  });

  it('retries flex "resource unavailable" 429s with backoff, and the limiter learns no lower limit from them', async () => {
    const t = await tenantWith('unavailable', { flex: 'auto' });
    s.simulator.configure({ tiers: { flex: { slowdown: 3, unavailableRate: 0.5 } } });
    const refusedBefore = s.simulator.stats().flexUnavailable;
    try {
      const sent = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          send(t.openai, ask(100 + i), { 'x-sluice-priority': 'batch', 'x-sluice-timeout-ms': '3600000' }),
        ),
      );
      expect(sent.every((r) => r.answer.service_tier === 'flex')).toBe(true);
      const refused = s.simulator.stats().flexUnavailable - refusedBefore;
      expect(refused).toBeGreaterThan(0);
      const evs = await eventsOfAll(sent.map((r) => r.id));
      const retries = evs.filter((e): e is RequestRetryScheduled => e.type === 'request.retry_scheduled');
      expect(retries).toHaveLength(refused);
      expect(retries.every((e) => e.reason === 'resource_unavailable' && e.status === 429)).toBe(true);
      // Backed off with full jitter (a draw may be near zero, so not every delay is positive).
      expect(retries.some((e) => e.delayMs > 0)).toBe(true);
    } finally {
      s.simulator.configure({ tiers: { flex: { slowdown: 3 }, priority: { speedup: 0.5 } } });
    }
    const [row] = await admin.admin.usage.query({ tenant: 'unavailable', by: 'model' });
    expect(row!.retries).toBeGreaterThan(0);
    expect(row!.rateLimited).toBe(0); // not counted as rate limits
    // The limiter neither paused nor lowered the model's limit: it still holds the upstream's own.
    const metrics = await (
      await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.adminKey}` } })
    ).text();
    const gauge = (name: string, labels: string) =>
      metrics.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    expect(gauge('sluice_limiter_paused', `model="${MODEL}"`)).toMatch(/ 0$/);
    expect(gauge('sluice_quota_limit', `model="${MODEL}",limit="rpm"`)).toMatch(/ 100000$/);
    expect(gauge('sluice_upstream_429_total', `model="${MODEL}"`)).toBeUndefined();
  });

  it('falls back to the default tier when flex can no longer meet the deadline, where the tenant allows it', async () => {
    const t = await tenantWith('fallback', { flex: 'auto', fallback: true });
    const strict = await tenantWith('strict', { flex: 'auto', fallback: false });
    s.simulator.configure({ tiers: { flex: { unavailableRate: 1 } } });
    try {
      const headers = { 'x-sluice-priority': 'batch', 'x-sluice-timeout-ms': '4000' };
      const started = Date.now();
      const { answer, id } = await send(t.openai, ask(200), headers);
      expect(answer.service_tier).toBe('default');
      expect(Date.now() - started).toBeLessThan(4_000);
      // The store may trail the answer by a moment (the outcome is recorded after it is relayed).
      await eventually(async () =>
        (await s.runtime.store.eventsOf(id)).some((e) => e.type === 'usage.recorded'),
      );
      const evs = await s.runtime.store.eventsOf(id);
      const dispatched = evs
        .filter((e): e is RequestDispatched => e.type === 'request.dispatched')
        .sort((a, b) => a.attempt - b.attempt);
      expect(dispatched.length).toBeGreaterThan(1);
      expect(dispatched.slice(0, -1).every((e) => e.serviceTier === 'flex' && e.tierFallback === null)).toBe(
        true,
      );
      expect(dispatched.at(-1)).toMatchObject({ serviceTier: 'default', tierFallback: 'deadline' });
      const usage = evs.find((e): e is UsageRecorded => e.type === 'usage.recorded')!;
      expect(usage.serviceTier).toBe('default');

      // Without the fallback, every attempt stays at flex and the deadline is missed.
      const missed = (await strict.openai.chat.completions
        .create(ask(201), { headers })
        .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(missed).toBeInstanceOf(OpenAI.APIError);
      // Answered as a timeout at the deadline, or as the upstream's failure if its retries ran out first.
      expect([502, 504]).toContain(missed.status);
      const missedId = missed.headers?.get('x-sluice-request-id') ?? '';
      const attempts = (await s.runtime.store.eventsOf(missedId)).filter(
        (e): e is RequestDispatched => e.type === 'request.dispatched',
      );
      expect(attempts.length).toBeGreaterThan(1);
      expect(attempts.every((e) => e.serviceTier === 'flex' && e.tierFallback === null)).toBe(true);
    } finally {
      s.simulator.configure({ tiers: { flex: { slowdown: 3 }, priority: { speedup: 0.5 } } });
    }
  });

  it('refuses priority to a tenant the operator did not enable (403 on /v1 and tRPC), and uses it where enabled', async () => {
    const refusedTenant = await tenantWith('no-priority', {});
    const body = { ...ask(300), service_tier: 'priority' as const };
    const refused = (await refusedTenant.openai.chat.completions
      .create(body, { headers: { 'x-sluice-priority': 'interactive' } })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(refused.status).toBe(403);
    expect(refused.type).toBe('invalid_request_error');
    expect(refused.param).toBe('service_tier');
    expect(refused.message).toMatch(/no-priority may not use the priority service tier/);
    const viaTrpc = await trpcFor(s.url, refusedTenant.apiKey)
      .chat.completions.create.mutate({ params: body, options: { priority: 'interactive' } })
      .catch((e: unknown) => e);
    expect(viaTrpc).toBeInstanceOf(TRPCClientError);
    expect((viaTrpc as TRPCClientError<AppRouter>).data?.code).toBe('FORBIDDEN');

    // Enabled: interactive work goes at priority by itself, and is billed at the priority price.
    const vip = await tenantWith('vip', { priority: 'auto' });
    const { answer, id } = await send(vip.openai, ask(301), { 'x-sluice-priority': 'interactive' });
    expect(answer.service_tier).toBe('priority');
    await eventually(async () =>
      (await s.runtime.store.eventsOf(id)).some((e) => e.type === 'usage.recorded'),
    );
    const usage = (await s.runtime.store.eventsOf(id)).filter(
      (e): e is UsageRecorded => e.type === 'usage.recorded',
    );
    const row = (await admin.admin.usage.query({ tenant: 'vip', by: 'tier' })).find(
      (r) => r.tier !== 'default',
    );
    expect(row).toMatchObject({ tier: 'priority', costMicros: costOf(usage, 'priority') });
    expect(row!.savedVsDefaultMicros).toBeLessThan(0); // the premium
  });

  it('reports spend and savings by tier', async () => {
    const mixed = await tenantWith('mixed', { flex: 'auto', priority: 'auto' });
    const sent = await Promise.all([
      ...Array.from({ length: 4 }, (_, i) =>
        send(mixed.openai, ask(400 + i), { 'x-sluice-priority': 'batch', 'x-sluice-timeout-ms': '3600000' }),
      ),
      ...Array.from({ length: 3 }, (_, i) =>
        send(mixed.openai, ask(410 + i), { 'x-sluice-priority': 'standard' }),
      ),
      ...Array.from({ length: 2 }, (_, i) =>
        send(mixed.openai, ask(420 + i), { 'x-sluice-priority': 'interactive' }),
      ),
    ]);
    const ids = sent.map((r) => r.id);
    await eventually(
      async () => (await eventsOfAll(ids)).filter((e) => e.type === 'usage.recorded').length === 9,
    );
    const usage = (await eventsOfAll(ids)).filter((e): e is UsageRecorded => e.type === 'usage.recorded');
    const rows = await trpcFor(s.url, mixed.apiKey).usage.mine.query({ by: 'tier' });
    const byTier = Object.fromEntries(rows.map((r) => [r.tier, r]));
    expect(Object.keys(byTier).sort()).toEqual(['default', 'flex', 'priority']);
    for (const tier of ['default', 'flex', 'priority'] as const) {
      const mine = usage.filter((u) => (u.serviceTier ?? 'default') === tier);
      expect(mine.length).toBe(tier === 'flex' ? 4 : tier === 'default' ? 3 : 2);
      expect(byTier[tier]!.costMicros).toBe(costOf(mine));
      expect(byTier[tier]!.promptTokens).toBe(mine.reduce((a, u) => a + u.promptTokens, 0));
    }
    expect(byTier.default!.savedVsDefaultMicros).toBe(0);
    expect(byTier.flex!.savedVsDefaultMicros).toBe(
      costOf(
        usage.filter((u) => u.serviceTier === 'flex'),
        'sync',
      ) - byTier.flex!.costMicros,
    );
    // Request counters are counted at submission, under the default tier.
    expect(byTier.default!.requests).toBe(9);
  });
});

describe('service tiers under a tight quota (embedded)', () => {
  let s: TestSluice;
  beforeAll(async () => {
    s = await startTestSluice({
      simulator: {
        limits: { default: { rpm: 300, tpm: 5_000_000 } },
        latency: { baseMs: 10 },
        tiers: { flex: { slowdown: 3 } },
      },
    });
    await trpcFor(s.url, s.adminKey).admin.tenants.tiers.mutate({
      tenant: 'acme',
      flex: 'auto',
      priority: 'auto',
    });
  }, 60_000);
  afterAll(() => s?.close());

  it('never lets a flex backlog starve priority traffic: interactive requests pass the backlog', async () => {
    const sluice = trpcFor(s.url, s.tenant.apiKey);
    const backlog = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        sluice.chat.completions.submit.mutate({ params: ask(500 + i), options: { priority: 'batch' } }),
      ),
    );
    const openai = new OpenAI({ apiKey: s.tenant.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
    const done = async () => {
      const views = await Promise.all(backlog.map((b) => s.runtime.store.getRequest(null, b.id)));
      return views.filter((v) => v?.status === 'completed').length;
    };
    for (let i = 0; i < 3; i++) {
      const answer = await openai.chat.completions.create(ask(600 + i), {
        headers: { 'x-sluice-priority': 'interactive' },
      });
      expect(answer.service_tier).toBe('priority');
    }
    // The three interactive answers came while most of the flex backlog still waited for quota.
    expect(await done()).toBeLessThan(backlog.length / 2);
    const backlogDone = await eventually(
      async () => ((await done()) === backlog.length ? true : undefined),
      60_000,
    );
    expect(backlogDone).toBe(true);
  }, 90_000);
});

describe('a tier with limits of its own (embedded)', () => {
  let s: TestSluice;
  beforeAll(async () => {
    s = await startTestSluice({
      simulator: { limits: { default: { rpm: 100_000, tpm: 50_000_000 } }, latency: { baseMs: 5 } },
      pools: [{ name: 'main', tierLimits: { flex: { [MODEL]: { rpm: 120, tpm: 1_000_000 } } } }],
    });
    await trpcFor(s.url, s.adminKey).admin.tenants.tiers.mutate({ tenant: 'acme', flex: 'auto' });
  }, 60_000);
  afterAll(() => s?.close());

  it('paces that tier in a limiter pool of its own, apart from the default tier', async () => {
    const openai = new OpenAI({ apiKey: s.tenant.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
    const flex = await openai.chat.completions.create(ask(700), {
      headers: { 'x-sluice-priority': 'batch' },
    });
    const standard = await openai.chat.completions.create(ask(701));
    expect([flex.service_tier, standard.service_tier]).toEqual(['flex', 'default']);
    const metrics = await (
      await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.adminKey}` } })
    ).text();
    const rpm = (pool: string) =>
      metrics
        .split('\n')
        .find((l) => l.startsWith(`sluice_quota_limit{pool="${pool}",model="${MODEL}",limit="rpm"}`));
    // The flex pool holds its own limit; the pool's other traffic keeps the upstream's.
    expect(rpm('main~flex')).toMatch(/ 120$/);
    expect(rpm('main')).toMatch(/ 100000$/);
  });
});
