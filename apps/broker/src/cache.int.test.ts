import { randomUUID } from 'node:crypto';
import { uniqueName } from '@sluice/test-support';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type HarnessMode, startTestSluice, type TestSluice } from './__tests__/harness';
import { parsePriceTable } from './billing/prices';
import { createResponseCache } from './cache/response-cache';
import { responseCache } from './db/schema';
import { createLogger } from './logger';
import { createMetrics } from './metrics';
import { createUsageReports } from './reports/usage-report';
import type { AppRouter } from './root';

// The exact response cache over the real stack: the official openai SDK on /v1 and tRPC, the log,
// the dispatcher, the simulator as the only upstream, and the cache in Postgres (and Redis).
const trpcFor = (url: string, key: string) =>
  createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/trpc`, headers: { authorization: `Bearer ${key}` } })],
  });

const question = (text: string, over: { temperature?: number } = {}) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content: text }],
  max_tokens: 20,
  temperature: 0,
  ...over,
});

/** The answer of `requestId` is stored (the dispatcher's completion filled the cache). */
async function stored(s: TestSluice, requestId: string) {
  return eventually(async () => {
    const rows = await s.runtime.database.db
      .select()
      .from(responseCache)
      .where(eq(responseCache.sourceRequestId, requestId));
    return rows[0];
  });
}

async function ask(
  openai: OpenAI,
  body: ReturnType<typeof question>,
  headers: Record<string, string> = {},
): Promise<{ data: OpenAI.ChatCompletion; id: string; cache: string | null }> {
  const { data, response } = await openai.chat.completions.create(body, { headers }).withResponse();
  return {
    data,
    id: response.headers.get('x-sluice-request-id')!,
    cache: response.headers.get('x-sluice-cache'),
  };
}

describe.each<HarnessMode>(['embedded', 'kafka'])('exact response cache (%s)', (mode) => {
  let s: TestSluice;
  let openai: OpenAI;
  let tenant: ReturnType<typeof trpcFor>;

  beforeAll(async () => {
    s = await startTestSluice({ mode, simulator: { limits: { default: { rpm: 6_000, tpm: 2_000_000 } } } });
    openai = new OpenAI({ apiKey: s.tenant.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
    tenant = trpcFor(s.url, s.tenant.apiKey);
    await trpcFor(s.url, s.adminKey).admin.tenants.cache.set.mutate({
      tenant: 'acme',
      enabled: true,
      ttlSeconds: 600,
    });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  it('answers a repeated deterministic request from the cache: free, and never sent upstream', async () => {
    const first = await ask(openai, question(`${mode}: what is 2 + 2?`));
    expect(first.cache).toBe('miss');
    await stored(s, first.id);

    const upstream = s.simulator.stats().requests;
    const second = await ask(openai, question(`${mode}: what is 2 + 2?`));
    expect(s.simulator.stats().requests).toBe(upstream);
    expect(second.cache).toBe('hit');
    expect(second.id).not.toBe(first.id);
    expect(second.data).toEqual(first.data);

    const events = await s.runtime.store.eventsOf(second.id);
    expect(events.map((e) => e.type)).toEqual(['request.submitted', 'request.completed', 'usage.recorded']);
    expect(events[0]).toMatchObject({ cache: { mode: 'use', scope: s.tenant.id } });
    expect(events[1]).toMatchObject({ attempt: 0, cache: { hit: true, sourceRequestId: first.id } });
    expect(events[2]).toMatchObject({
      channel: 'cache',
      promptTokens: first.data.usage?.prompt_tokens,
      completionTokens: first.data.usage?.completion_tokens,
    });
    const view = await tenant.requests.get.query({ id: second.id });
    expect(view).toMatchObject({ status: 'completed', cache: 'hit', attempts: 0 });
    expect((await tenant.requests.get.query({ id: first.id })).cache).toBe('miss');
  });

  it('answers a hit as SSE chunks when the request streams', async () => {
    const first = await ask(openai, question(`${mode}: stream me`));
    await stored(s, first.id);
    const upstream = s.simulator.stats().requests;
    const { data: stream, response } = await openai.chat.completions
      .create({ ...question(`${mode}: stream me`), stream: true, stream_options: { include_usage: true } })
      .withResponse();
    expect(response.headers.get('x-sluice-cache')).toBe('hit');
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(first.data.choices[0]?.message.content);
    expect(usage?.total_tokens).toBe(first.data.usage?.total_tokens);
    expect(s.simulator.stats().requests).toBe(upstream);
  });

  it('completes a submitted hit at once: submit, get and wait show it answered from the cache (watch: see the SDK test)', async () => {
    const params = question(`${mode}: submit me`);
    const first = await tenant.requests.submit.mutate({ params });
    expect(first.cache).toBe('miss');
    await tenant.requests.wait.query({ id: first.id });
    await stored(s, first.id);

    const upstream = s.simulator.stats().requests;
    const second = await tenant.requests.submit.mutate({ params, options: { cache: 'use' } });
    expect(second.cache).toBe('hit');
    expect(await tenant.requests.get.query({ id: second.id })).toMatchObject({
      status: 'completed',
      cache: 'hit',
    });
    const waited = await tenant.chat.completions.wait.query({ id: second.id });
    expect(waited.choices[0]?.message.content).toBeTruthy();
    const created = await tenant.chat.completions.create.mutate({ params });
    expect(created.id).toBe(waited.id);
    expect(s.simulator.stats().requests).toBe(upstream);
  });
});

describe('exact response cache: modes, scopes, bounds, billing (embedded)', () => {
  let s: TestSluice;
  let admin: ReturnType<typeof trpcFor>;
  const clients = new Map<string, OpenAI>();
  const tenantIds = new Map<string, string>();

  beforeAll(async () => {
    s = await startTestSluice({ simulator: { limits: { default: { rpm: 6_000, tpm: 2_000_000 } } } });
    admin = trpcFor(s.url, s.adminKey);
    const add = (name: string, t: { id: string; apiKey: string }) => {
      tenantIds.set(name, t.id);
      clients.set(name, new OpenAI({ apiKey: t.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 }));
    };
    add('acme', s.tenant);
    for (const name of ['beta', 'team-a', 'team-b', 'shorty', 'closed']) add(name, await s.newTenant(name));
    for (const name of ['acme', 'beta'])
      await admin.admin.tenants.cache.set.mutate({ tenant: name, enabled: true });
    for (const name of ['team-a', 'team-b'])
      await admin.admin.tenants.cache.set.mutate({ tenant: name, enabled: true, scope: 'team' });
    await admin.admin.tenants.cache.set.mutate({ tenant: 'shorty', enabled: true, ttlSeconds: 1 });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  const client = (name: string) => clients.get(name)!;

  it('refresh goes upstream and replaces the stored answer; bypass goes upstream and stores nothing', async () => {
    const body = question('refresh me');
    const first = await ask(client('acme'), body);
    const entry = await stored(s, first.id);

    let upstream = s.simulator.stats().requests;
    const refreshed = await ask(client('acme'), body, { 'x-sluice-cache': 'refresh' });
    expect(s.simulator.stats().requests).toBe(upstream + 1);
    expect(refreshed.cache).toBe('miss');
    const replaced = await stored(s, refreshed.id);
    expect(replaced.key).toBe(entry.key);

    upstream = s.simulator.stats().requests;
    const bypassed = await ask(client('acme'), body, { 'x-sluice-cache': 'bypass' });
    expect(s.simulator.stats().requests).toBe(upstream + 1);
    expect(bypassed.cache).toBeNull();
    const events = await s.runtime.store.eventsOf(bypassed.id);
    expect(events[0]).toMatchObject({ cache: null });

    // The next use is answered by the refreshed answer.
    const hit = await ask(client('acme'), body);
    expect(hit.cache).toBe('hit');
    expect((await s.runtime.store.eventsOf(hit.id))[1]).toMatchObject({
      cache: { hit: true, sourceRequestId: refreshed.id },
    });
  });

  it('does not cache a sampled request unless it asks explicitly', async () => {
    const sampled = question('tell me a story', { temperature: 0.9 });
    const a = await ask(client('acme'), sampled);
    expect(a.cache).toBeNull();
    const upstream = s.simulator.stats().requests;
    const b = await ask(client('acme'), sampled);
    expect(b.cache).toBeNull();
    expect(s.simulator.stats().requests).toBe(upstream + 1);

    const optedIn = await ask(client('acme'), sampled, { 'x-sluice-cache': 'use' });
    expect(optedIn.cache).toBe('miss');
    await stored(s, optedIn.id);
    const again = await ask(client('acme'), sampled, { 'x-sluice-cache': 'use' });
    expect(again.cache).toBe('hit');
  });

  it('keeps caches per tenant unless an operator shares a scope', async () => {
    const body = question('whose answer is this?');
    const mine = await ask(client('acme'), body);
    await stored(s, mine.id);
    const upstream = s.simulator.stats().requests;
    const theirs = await ask(client('beta'), body);
    expect(theirs.cache).toBe('miss');
    expect(s.simulator.stats().requests).toBe(upstream + 1);
    // A tenant that never opted in is not cached at all, even when it asks.
    const closed = await ask(client('closed'), body, { 'x-sluice-cache': 'use' });
    expect(closed.cache).toBeNull();

    const a = await ask(client('team-a'), question('shared question'));
    expect(a.cache).toBe('miss');
    await stored(s, a.id);
    const before = s.simulator.stats().requests;
    const b = await ask(client('team-b'), question('shared question'));
    expect(b.cache).toBe('hit');
    expect(s.simulator.stats().requests).toBe(before);
    expect(await admin.admin.tenants.cache.get.query({ tenant: 'team-b' })).toMatchObject({
      enabled: true,
      sharedScope: 'team',
    });
  });

  it('lets an answer expire after its TTL', async () => {
    const body = question('short-lived');
    const first = await ask(client('shorty'), body);
    const entry = await stored(s, first.id);
    expect(entry.expiresAt.getTime() - entry.createdAt.getTime()).toBe(1_000);
    await new Promise((r) => setTimeout(r, Math.max(0, entry.expiresAt.getTime() - Date.now()) + 50));
    const upstream = s.simulator.stats().requests;
    const later = await ask(client('shorty'), body);
    expect(later.cache).toBe('miss');
    expect(s.simulator.stats().requests).toBe(upstream + 1);
  });

  it('turning the cache off stops hits at once in this process', async () => {
    const body = question('off switch');
    await admin.admin.tenants.cache.set.mutate({ tenant: 'beta', enabled: true });
    const first = await ask(client('beta'), body);
    await stored(s, first.id);
    await admin.admin.tenants.cache.set.mutate({ tenant: 'beta', enabled: false });
    expect((await ask(client('beta'), body)).cache).toBeNull();
    await admin.admin.tenants.cache.set.mutate({ tenant: 'beta', enabled: true });
    expect((await ask(client('beta'), body)).cache).toBe('hit');
  });

  it('refuses a hit to a tenant whose budget refuses requests (admission comes first)', async () => {
    const body = question('budgeted');
    await admin.admin.tenants.cache.set.mutate({ tenant: 'closed', enabled: true });
    const first = await ask(client('closed'), body);
    await stored(s, first.id);
    await admin.admin.budgets.set.mutate({ tenant: 'closed', tokens: 1, onExhausted: 'refuse' });
    const err = await client('closed')
      .chat.completions.create(body)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('insufficient_quota');
    await admin.admin.budgets.clear.mutate({ tenant: 'closed' });
    expect((await ask(client('closed'), body)).cache).toBe('hit');
  });

  it('refuses a bad x-sluice-cache header and a bad cache option with a 400 naming them', async () => {
    const err = await client('acme')
      .chat.completions.create(question('bad header'), { headers: { 'x-sluice-cache': 'sometimes' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.APIError>).param).toBe('x-sluice-cache');
    expect((err as Error).message).toContain('x-sluice-cache');

    const trpcErr = await trpcFor(s.url, (await s.newTenant('bad-option')).apiKey)
      .requests.submit.mutate({ params: question('bad option'), options: { cache: 'always' as never } })
      .catch((e: unknown) => e);
    expect(trpcErr).toBeInstanceOf(TRPCClientError);
    expect((trpcErr as TRPCClientError<AppRouter>).data?.httpStatus).toBe(400);
    expect((trpcErr as Error).message).toContain('cache');
  });

  it('evicts expired, then least recently used entries beyond the size bound', async () => {
    const db = s.runtime.database.db;
    // Three fresh entries; the oldest of them is then hit, so it is the most recently used.
    const ids: string[] = [];
    for (const text of ['bound one', 'bound two', 'bound three']) {
      const r = await ask(client('acme'), question(text));
      await stored(s, r.id);
      ids.push(r.id);
    }
    expect((await ask(client('acme'), question('bound one'))).cache).toBe('hit');
    await eventually(async () => {
      const [row] = await db.select().from(responseCache).where(eq(responseCache.sourceRequestId, ids[0]!));
      return row && row.hitCount === 1;
    });
    const rows = await db.select().from(responseCache);
    const metrics = createMetrics();
    const bounded = createResponseCache({
      db,
      config: { maxBytes: 1 << 30, maxEntries: 2 },
      logger: createLogger('silent'),
      metrics,
    });
    const r = await bounded.enforceBounds();
    expect(r.evicted).toBe(rows.length - 2);
    const kept = (await db.select().from(responseCache)).map((x) => x.sourceRequestId).sort();
    expect(kept).toEqual([ids[0]!, ids[2]!].sort());
    expect(
      (await metrics.registry.getSingleMetricAsString('sluice_cache_evictions_total')).length,
    ).toBeGreaterThan(0);
    expect((await ask(client('acme'), question('bound two'))).cache).toBe('miss');

    // A byte bound smaller than one answer empties it.
    const tiny = createResponseCache({
      db,
      config: { maxBytes: 1, maxEntries: 1_000 },
      logger: createLogger('silent'),
    });
    await tiny.enforceBounds();
    expect(await db.select().from(responseCache)).toHaveLength(0);
  });

  it('reports hits, misses and the money saved; a hit is billed at the operator’s fraction', async () => {
    const day = new Date();
    const range = {
      from: new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate())).toISOString(),
      to: new Date(Date.now() + 86_400_000).toISOString(),
    };
    const rows = await admin.admin.usage.query({ tenant: 'team-b', ...range, by: 'model' });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ cacheHits: 1, cacheMisses: 0, costMicros: 0 });
    expect(rows[0]!.savedMicros).toBeGreaterThan(0);
    const teamA = (await admin.admin.usage.query({ tenant: 'team-a', ...range, by: 'model' }))[0]!;
    expect(teamA).toMatchObject({ cacheHits: 0, cacheMisses: 1, savedMicros: 0 });
    // The same answer at the synchronous price is what team-a paid for it: the hit saved exactly that.
    expect(rows[0]!.savedMicros).toBe(teamA.costMicros);
    // The tenant's own report (usage.mine) shows the same.
    const mine = await trpcFor(
      s.url,
      (await s.runtime.tenants.createKey(tenantIds.get('team-b')!)).apiKey,
    ).usage.mine.query({
      ...range,
      by: 'model',
    });
    expect(mine[0]).toMatchObject({ cacheHits: 1, savedMicros: rows[0]!.savedMicros });

    // An operator bills hits at 25% of the synchronous price: a new price version, so past reports stay.
    const prices = parsePriceTable({
      cacheHitPercent: 25,
      models: {
        'gpt-4o-mini': [
          { effectiveFrom: '2024-01-01T00:00:00Z', input: '0.15', cachedInput: '0.075', output: '0.60' },
        ],
      },
    });
    const [quarter] = await createUsageReports(s.runtime.database.db, prices).report({
      tenantId: tenantIds.get('team-b')!,
      from: new Date(range.from),
      to: new Date(range.to),
      by: 'model',
    });
    expect(quarter!.costMicros).toBe(Math.round(teamA.costMicros / 4));
    expect(quarter!.savedMicros + quarter!.costMicros).toBe(teamA.costMicros);
  });
});

describe('exact response cache with a Redis front (embedded)', () => {
  const prefix = `sluice-test:${randomUUID()}:`;
  let s: TestSluice;
  let redis: Redis;
  let openai: OpenAI;

  beforeAll(async () => {
    redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    s = await startTestSluice({
      cache: {
        maxBytes: 1 << 30,
        maxEntries: 10_000,
        redisUrl: 'redis://127.0.0.1:6379',
        redisPrefix: prefix,
      },
    });
    openai = new OpenAI({ apiKey: s.tenant.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
    await trpcFor(s.url, s.adminKey).admin.tenants.cache.set.mutate({ tenant: 'acme', enabled: true });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }, 120_000);

  it('mirrors fills into Redis and answers hits from it', async () => {
    const body = question('redis, please');
    const first = await ask(openai, body);
    const entry = await stored(s, first.id);
    const redisKey = `${prefix}${entry.scope}:${entry.key}`;
    await eventually(async () => (await redis.get(redisKey)) !== null);
    const ttl = await redis.pttl(redisKey);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3_600_000);

    // Postgres loses the entry: the hit comes from Redis alone.
    await s.runtime.database.db.delete(responseCache).where(eq(responseCache.key, entry.key));
    const upstream = s.simulator.stats().requests;
    const hit = await ask(openai, body);
    expect(hit.cache).toBe('hit');
    expect(hit.data).toEqual(first.data);
    expect(s.simulator.stats().requests).toBe(upstream);
  });

  it('falls back to Postgres when Redis is unreachable, without failing a request', async () => {
    const body = question('no redis here');
    const first = await ask(openai, body);
    const entry = await stored(s, first.id);
    const metrics = createMetrics();
    const unreachable = createResponseCache({
      db: s.runtime.database.db,
      config: {
        maxBytes: 1 << 30,
        maxEntries: 10_000,
        redisUrl: 'redis://127.0.0.1:1',
        redisPrefix: uniqueName('x'),
      },
      logger: createLogger('silent'),
      metrics,
    });
    try {
      const answer = await unreachable.lookup(entry.scope, entry.key);
      expect(answer?.sourceRequestId).toBe(first.id);
      const errors = await metrics.registry.getSingleMetric('sluice_cache_redis_errors_total')?.get();
      expect(errors?.values[0]?.value ?? 0).toBeGreaterThan(0);
    } finally {
      await unreachable.close();
    }
  });
});

describe('exact response cache size bound in operation (embedded)', () => {
  let s: TestSluice;
  beforeAll(async () => {
    s = await startTestSluice({ cache: { maxBytes: 1 << 30, maxEntries: 2, boundCheckEveryMs: 0 } });
    await trpcFor(s.url, s.adminKey).admin.tenants.cache.set.mutate({ tenant: 'acme', enabled: true });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  it('evicts the least recently used answer once a fill passes the bound', async () => {
    const openai = new OpenAI({ apiKey: s.tenant.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
    const ids: string[] = [];
    for (const text of ['first', 'second', 'third']) {
      const r = await ask(openai, question(`bounded ${text}`));
      await eventually(async () => (await s.runtime.store.getRequest(null, r.id))?.status === 'completed');
      ids.push(r.id);
    }
    const kept = await eventually(async () => {
      const rows = await s.runtime.database.db.select().from(responseCache);
      return rows.length === 2 && rows;
    });
    expect(kept.map((r) => r.sourceRequestId).sort()).toEqual([ids[1]!, ids[2]!].sort());
    const evictions = await s.runtime.metrics.registry.getSingleMetric('sluice_cache_evictions_total')?.get();
    expect(evictions?.values.find((v) => v.labels.reason === 'size')?.value).toBeGreaterThanOrEqual(1);
    expect((await ask(openai, question('bounded first'))).cache).toBe('miss');
  });
});
