import { createTRPCClient, httpLink } from '@trpc/client';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type HarnessMode, startTestSluice, type TestSluice } from './__tests__/harness';
import { BATCH_DEFAULTS } from './batch/batch-settings';
import { costMicros } from './billing/cost';
import { loadPriceTable, priceAt } from './billing/prices';
import type { AppRouter } from './root';

// Every endpoint other than chat through the real stack — embedded (PGlite, the Postgres-backed
// log) and production (Postgres server, Kafka) — with the official openai SDK and @sluice/sdk as
// clients and the project's simulator as OpenAI.
const PRICES = loadPriceTable();

const trpcAs = (key: string) =>
  createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/trpc`, headers: { authorization: `Bearer ${key}` } })],
  });
let url = '';

describe.each<HarnessMode>(['embedded', 'kafka'])('embeddings, completions and moderations (%s)', (mode) => {
  let s: TestSluice;
  let openai: OpenAI;
  let admin: ReturnType<typeof trpcAs>;
  let bulk: { id: string; apiKey: string };
  let cached: { id: string; apiKey: string };

  beforeAll(async () => {
    s = await startTestSluice({
      mode,
      simulator: {
        limits: { default: { rpm: 100_000, tpm: 50_000_000 } },
        latency: { baseMs: 2 },
        batch: { completionDelayMs: 200 },
      },
      batch: { ...BATCH_DEFAULTS, flushMs: 150, pollMs: 100, leaseMs: 5_000 },
    });
    url = s.url;
    openai = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.tenant.apiKey, maxRetries: 0 });
    admin = trpcAs(s.adminKey);
    bulk = await s.newTenant('bulk');
    await s.runtime.tenants.updateTenantSettings(bulk.id, { batchApi: true });
    cached = await s.newTenant('cached');
    await s.runtime.tenants.updateTenantSettings(cached.id, { cache: { enabled: true, ttlSeconds: 600 } });
  }, 180_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  const stats = () => structuredClone(s.simulator.stats());
  const usageOf = (requestId: string) =>
    eventually(async () => {
      const evs = await s.runtime.store.eventsOf(requestId);
      return evs.find((e) => e.type === 'usage.recorded');
    });

  it('answers embeddings through the openai SDK unchanged: base64 by default, floats and dimensions', async () => {
    const r = await openai.embeddings
      .create({ model: 'text-embedding-3-small', input: ['first text', 'second'] })
      .withResponse();
    expect(r.data.data).toHaveLength(2);
    expect(r.data.data[0]!.embedding).toHaveLength(1536);
    const norm = Math.hypot(...r.data.data[0]!.embedding);
    expect(norm).toBeCloseTo(1, 4);
    // The SDK asked for base64 (its default) and decoded it: the body reached the upstream as sent.
    expect(stats().lastBodies.embeddings).toMatchObject({
      encoding_format: 'base64',
      input: ['first text', 'second'],
    });
    const requestId = r.response.headers.get('x-sluice-request-id')!;
    expect(requestId).toMatch(/^req_/);
    expect(r.request_id).toMatch(/^req_/); // the upstream's x-request-id, passed through
    expect(r.request_id).not.toBe(requestId);

    const short = await openai.embeddings.create({
      model: 'text-embedding-3-large',
      input: 'shorter',
      dimensions: 256,
      encoding_format: 'float',
      user: 'u-1',
    });
    expect(short.data[0]!.embedding).toHaveLength(256);
    expect(stats().lastBodies.embeddings).toMatchObject({
      dimensions: 256,
      user: 'u-1',
      encoding_format: 'float',
    });

    const usage = await usageOf(requestId);
    expect(usage).toMatchObject({
      endpoint: '/v1/embeddings',
      promptTokens: r.data.usage.prompt_tokens,
      completionTokens: 0,
      estimated: false,
      channel: 'sync',
    });
  });

  it('submits then waits for every operation over tRPC', async () => {
    const tenant = trpcAs(s.tenant.apiKey);
    const e = await tenant.embeddings.submit.mutate({
      params: { model: 'text-embedding-ada-002', input: 'queued' },
      options: { priority: 'batch' },
    });
    const c = await tenant.completions.submit.mutate({
      params: { model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi', max_tokens: 5 },
    });
    const m = await tenant.moderations.submit.mutate({
      params: { input: ['a kind word', 'I will kill the process'] },
    });
    const embedded = await tenant.embeddings.wait.query({ id: e.id });
    expect(embedded.data[0]!.embedding).toHaveLength(1536);
    const completed = await tenant.completions.wait.query({ id: c.id });
    expect(completed.object).toBe('text_completion');
    const moderated = await tenant.moderations.wait.query({ id: m.id });
    expect(moderated.results.map((r) => r.flagged)).toEqual([false, true]);
    expect(await tenant.requests.get.query({ id: m.id })).toMatchObject({
      endpoint: '/v1/moderations',
      status: 'completed',
      model: 'omni-moderation-latest',
    });
    // An id of another endpoint is not this endpoint's.
    await expect(tenant.embeddings.wait.query({ id: c.id })).rejects.toMatchObject({
      data: { code: 'NOT_FOUND' },
    });
    const direct = await tenant.embeddings.create.mutate({
      params: { model: 'text-embedding-3-small', input: [[1, 2, 3]] },
    });
    expect(direct.usage.prompt_tokens).toBe(3);
  });

  it('serves legacy completions and moderations through the openai SDK, streamed completions too', async () => {
    const c = await openai.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Once upon',
      max_tokens: 8,
      n: 2,
    });
    expect(c.choices).toHaveLength(2);
    const stream = await openai.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Once upon',
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: unknown;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(usage).toMatchObject({ completion_tokens: expect.any(Number) });
    const m = await openai.moderations.create({ model: 'omni-moderation-latest', input: 'hello there' });
    expect(m.results[0]!.flagged).toBe(false);
  });

  it('refuses bad input of each kind with an OpenAI-style 4xx naming what is wrong, and logs none of it', async () => {
    const before = stats().requests;
    const refusal = async (p: Promise<unknown>) => {
      const e = (await p.catch((x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
      expect(e).toBeInstanceOf(OpenAI.APIError);
      return e;
    };
    const wrongModel = await refusal(openai.embeddings.create({ model: 'gpt-4o-mini', input: 'x' }));
    expect(wrongModel.status).toBe(400);
    expect(wrongModel.message).toMatch(/not allowed to generate embeddings .*v1\/chat\/completions/);
    expect(wrongModel.param).toBe('model');
    const chatWithEmbedder = await refusal(
      openai.chat.completions.create({
        model: 'text-embedding-3-small',
        messages: [{ role: 'user', content: 'x' }],
      }),
    );
    expect(chatWithEmbedder.status).toBe(404);
    expect(chatWithEmbedder.message).toMatch(/not a chat model .* v1\/embeddings/);
    const instructOnChat = await refusal(openai.completions.create({ model: 'gpt-4o-mini', prompt: 'x' }));
    expect(instructOnChat.message).toMatch(
      /This is a chat model and not supported in the v1\/completions endpoint/,
    );
    const tooMany = await refusal(
      openai.embeddings.create({
        model: 'text-embedding-3-small',
        input: Array.from({ length: 2_049 }, () => 'x'),
      }),
    );
    expect(tooMany.message).toMatch(/at most 2048/);
    const tooLong = await refusal(
      openai.embeddings.create({
        model: 'text-embedding-3-small',
        input: [Array.from({ length: 9_000 }, () => 42)],
      }),
    );
    expect(tooLong.message).toMatch(/maximum context length is 8192/);
    const empty = await refusal(openai.embeddings.create({ model: 'text-embedding-3-small', input: '' }));
    expect(empty.param).toMatch(/^input/);
    const unknown = await refusal(openai.embeddings.create({ model: 'text-embedding-9', input: 'x' }));
    expect(unknown.status).toBe(404);
    const badPrompt = await refusal(
      openai.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 5 as never }),
    );
    expect(badPrompt.param).toBe('prompt');
    const badModeration = await refusal(openai.moderations.create({ input: { text: 'x' } as never }));
    expect(badModeration.param).toBe('input');
    expect(stats().requests).toBe(before);
  });

  it('routes a batch-class embeddings request of an opted-in tenant to the Batch API, billed on the batch channel', async () => {
    const tenant = trpcAs(bulk.apiKey);
    const before = stats().batch.batchesCreated;
    const ids = await Promise.all(
      ['one', 'two', 'three'].map((text) =>
        tenant.embeddings.submit.mutate({
          params: { model: 'text-embedding-3-small', input: `document ${text}` },
          options: { priority: 'batch' },
        }),
      ),
    );
    const results = await Promise.all(
      ids.map((r) => tenant.embeddings.wait.query({ id: r.id, timeoutMs: 60_000 })),
    );
    expect(results.every((r) => r.data[0]!.embedding.length === 1536)).toBe(true);
    expect(stats().batch.batchesCreated).toBeGreaterThan(before);
    const usage = await usageOf(ids[0]!.id);
    expect(usage).toMatchObject({ channel: 'batch', endpoint: '/v1/embeddings' });
    const [row] = await s.runtime.database.db
      .execute('SELECT endpoint FROM upstream_batches ORDER BY created_at DESC LIMIT 1' as never)
      .then((r) => (r as unknown as { rows: Array<{ endpoint: string }> }).rows);
    expect(row?.endpoint).toBe('/v1/embeddings');
  }, 90_000);

  it('answers a repeated embeddings request of an opted-in tenant from the cache, free, without the upstream', async () => {
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: cached.apiKey, maxRetries: 0 });
    const input = { model: 'text-embedding-3-small', input: 'cache this vector' };
    const first = await client.embeddings.create(input).withResponse();
    expect(first.response.headers.get('x-sluice-cache')).toBe('miss');
    await usageOf(first.response.headers.get('x-sluice-request-id')!);
    const upstream = stats().byEndpoint.embeddings?.requests ?? 0;
    const second = await eventually(async () => {
      const r = await client.embeddings.create(input).withResponse();
      return r.response.headers.get('x-sluice-cache') === 'hit' && r;
    });
    expect(second.data.data[0]!.embedding).toEqual(first.data.data[0]!.embedding);
    expect(stats().byEndpoint.embeddings?.requests ?? 0).toBe(upstream);
  });

  it('bills each endpoint from its own prices, and reports usage by endpoint', async () => {
    const tenant = await s.newTenant('billed');
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: tenant.apiKey, maxRetries: 0 });
    const e = await client.embeddings.create({
      model: 'text-embedding-3-large',
      input: 'price me, please',
      encoding_format: 'float',
    });
    const c = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'price me',
      max_tokens: 6,
    });
    await client.moderations.create({ input: 'free of charge' });
    const rows = await eventually(async () => {
      const r = await admin.admin.usage.query({ tenant: 'billed', by: 'endpoint' });
      return r.length === 3 && r.every((x) => x.completed === 1) && r;
    });
    const at = new Date();
    const byEndpoint = Object.fromEntries(rows.map((r) => [r.endpoint, r]));
    const embeddingPrice = priceAt(PRICES, 'text-embedding-3-large', at, 'sync')!;
    expect(byEndpoint['/v1/embeddings']).toMatchObject({
      model: 'all',
      promptTokens: e.usage.prompt_tokens,
      costMicros: costMicros(
        { promptTokens: e.usage.prompt_tokens, cachedTokens: 0, completionTokens: 0 },
        embeddingPrice,
      ),
    });
    const instructPrice = priceAt(PRICES, 'gpt-3.5-turbo-instruct', at, 'sync')!;
    expect(byEndpoint['/v1/completions']?.costMicros).toBe(
      costMicros(
        {
          promptTokens: c.usage!.prompt_tokens,
          cachedTokens: 0,
          completionTokens: c.usage!.completion_tokens,
        },
        instructPrice,
      ),
    );
    expect(byEndpoint['/v1/moderations']).toMatchObject({ requests: 1, costMicros: 0, unpricedTokens: 0 });
  });
});
