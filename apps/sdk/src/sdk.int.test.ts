import { startTestSluice, type TestSluice } from '@sluice/broker/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSluiceClient, SluiceClientError, SUBMIT_BATCH } from './index';

// The SDK against a real broker (embedded: PGlite + Postgres-backed log) and the simulator.
describe('@sluice/sdk', () => {
  let s: TestSluice;
  beforeAll(async () => {
    s = await startTestSluice({ simulator: { latency: { baseMs: 150 } } });
  }, 60_000);
  afterAll(async () => {
    await s?.close();
  });

  it('creates a chat completion with the openai SDK shape and a priority', async () => {
    const sluice = createSluiceClient({ url: s.url, apiKey: s.tenant.apiKey });
    const c = await sluice.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }], max_tokens: 20 },
      { priority: 'interactive' },
    );
    expect(c.object).toBe('chat.completion');
    expect(c.choices[0]?.message.content).toBeTruthy();
    expect(c.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('creates, submits and waits for embeddings, completions and moderations, typed like the openai SDK', async () => {
    const sluice = createSluiceClient({ url: s.url, apiKey: s.tenant.apiKey });
    const vectors = await sluice.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['a', 'b'],
      dimensions: 64,
    });
    expect(vectors.data.map((d) => d.embedding.length)).toEqual([64, 64]);
    // Concurrent submits of different endpoints still share HTTP requests.
    const [e, c, m] = await Promise.all([
      sluice.embeddings.submit({ model: 'text-embedding-3-small', input: 'later' }, { priority: 'batch' }),
      sluice.completions.submit({ model: 'gpt-3.5-turbo-instruct', prompt: 'Hi', max_tokens: 4 }),
      sluice.moderations.submit({ input: 'fine words' }),
    ]);
    expect((await sluice.embeddings.wait(e.id)).usage.prompt_tokens).toBeGreaterThan(0);
    expect((await sluice.completions.wait(c.id)).choices[0]?.text).toBeTruthy();
    expect((await sluice.moderations.wait(m.id)).results[0]?.flagged).toBe(false);
    const wrong = await sluice.embeddings
      .create({ model: 'gpt-4o-mini', input: 'x' })
      .catch((x: unknown) => x);
    expect(wrong).toBeInstanceOf(SluiceClientError);
    expect((wrong as SluiceClientError).httpStatus).toBe(400);
    expect((wrong as Error).message).toMatch(/embeddings/);
  });

  it('creates responses, runs one in the background, retrieves, lists its input items, cancels and deletes', async () => {
    const sluice = createSluiceClient({ url: s.url, apiKey: s.tenant.apiKey });
    const r = await sluice.responses.create({
      model: 'gpt-4o-mini',
      input: 'Hello',
      instructions: 'Be brief',
    });
    expect(r).toMatchObject({ object: 'response', status: 'completed' });
    expect(r.usage?.output_tokens).toBeGreaterThan(0);
    const next = await sluice.responses.create({
      model: 'gpt-4o-mini',
      input: 'Again',
      previous_response_id: r.id,
    });
    expect(next.previous_response_id).toBe(r.id);
    const queued = await sluice.responses.create({ model: 'gpt-4o-mini', input: 'Later', background: true });
    expect(queued).toMatchObject({ status: 'queued', background: true });
    let done = queued;
    while (done.status === 'queued' || done.status === 'in_progress') {
      await new Promise((resolve) => setTimeout(resolve, 50));
      done = await sluice.responses.retrieve(queued.id);
    }
    expect(done).toMatchObject({ id: queued.id, status: 'completed' });
    expect((await sluice.responses.inputItems.list(queued.id)).data).toHaveLength(1);
    // A finished background response is returned unchanged; a foreground one cannot be cancelled.
    expect((await sluice.responses.cancel(queued.id)).status).toBe('completed');
    const refused = await sluice.responses.cancel(r.id).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SluiceClientError);
    expect((refused as SluiceClientError).httpStatus).toBe(400);
    const { id } = await sluice.responses.submit(
      { model: 'gpt-4o-mini', input: 'queued' },
      { priority: 'batch' },
    );
    expect((await sluice.responses.wait(id)).status).toBe('completed');
    expect(await sluice.responses.delete(r.id)).toEqual({
      id: r.id,
      object: 'response.deleted',
      deleted: true,
    });
    expect(
      ((await sluice.responses.retrieve(r.id).catch((e: unknown) => e)) as SluiceClientError).httpStatus,
    ).toBe(404);
  });

  it('submits durably, then waits and watches the same request to its outcome', async () => {
    const sluice = createSluiceClient({ url: s.url, apiKey: s.tenant.apiKey });
    const { id } = await sluice.submit(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'later' }], max_tokens: 10 },
      { priority: 'batch', idempotencyKey: 'sdk-submit-1' },
    );
    expect(id).toMatch(/^req_/);
    const again = await sluice.submit(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'later' }], max_tokens: 10 },
      { priority: 'batch', idempotencyKey: 'sdk-submit-1' },
    );
    expect(again).toMatchObject({ id, duplicate: true });

    const statuses: string[] = [];
    for await (const view of sluice.watch(id)) statuses.push(view.status);
    expect(statuses.at(-1)).toBe('completed');
    const done = await sluice.wait(id);
    expect(done).toMatchObject({ status: 'completed', endpoint: '/v1/chat/completions' });
    const completion = await sluice.chat.completions.wait(id);
    expect(completion.choices[0]?.message.role).toBe('assistant');
  });

  it('answers a repeated deterministic request from the cache (cache option) and says so in the view', async () => {
    const tenant = await s.newTenant('sdk-cache');
    await s.runtime.tenants.updateTenantSettings(tenant.id, { cache: { enabled: true, ttlSeconds: 600 } });
    const sluice = createSluiceClient({ url: s.url, apiKey: tenant.apiKey });
    const params = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: 'cache me' }],
      max_tokens: 10,
      temperature: 0,
    };
    const first = await sluice.chat.completions.create(params, { cache: 'use' });
    // The store records the completion and fills the cache in one transaction.
    for (let i = 0; i < 200; i++) {
      const [row] = await s.runtime.store.listRequests({ tenantId: tenant.id, limit: 1 });
      if (row?.status === 'completed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const upstream = s.simulator.stats().requests;
    const hit = await sluice.submit(params);
    expect(hit.cache).toBe('hit');
    const views: string[] = [];
    for await (const view of sluice.watch(hit.id)) views.push(`${view.status}/${view.cache}`);
    expect(views).toEqual(['completed/hit']);
    expect((await sluice.chat.completions.wait(hit.id)).id).toBe(first.id);
    expect(s.simulator.stats().requests).toBe(upstream);

    const err = await sluice.submit(params, { cache: 'always' as never }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceClientError);
    expect((err as SluiceClientError).httpStatus).toBe(400);
    expect((err as Error).message).toContain('cache');
  });

  it('cancels a request that is still queued', async () => {
    s.simulator.configure({
      latency: { baseMs: 150 },
      faults: { rateLimitStormUntil: Date.now() + 3_000, stormRetryAfterMs: 3_000 },
    });
    const sluice = createSluiceClient({ url: s.url, apiKey: s.tenant.apiKey });
    // The storm pauses the pool; the next request waits in the queue, where it can be cancelled.
    await sluice.submit({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'first' }],
      max_tokens: 5,
    });
    await new Promise((r) => setTimeout(r, 300));
    const { id } = await sluice.submit({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'second' }],
      max_tokens: 5,
    });
    const view = await sluice.cancel(id);
    expect(view.status).toBe('cancelled');
    s.simulator.configure({ latency: { baseMs: 150 }, faults: {} });
  });

  it('reports its own usage and refuses a bad key with a typed error', async () => {
    const sluice = createSluiceClient({ url: s.url, apiKey: s.tenant.apiKey });
    const usage = (await sluice.usage({ by: 'model' })) as Array<{
      tenantId: string;
      completionTokens: number;
    }>;
    expect(usage.length).toBeGreaterThan(0);
    expect(usage.every((u) => u.tenantId === s.tenant.id)).toBe(true);
    expect(usage.reduce((a, u) => a + u.completionTokens, 0)).toBeGreaterThan(0);

    const intruder = createSluiceClient({ url: s.url, apiKey: 'sk-sluice-not-a-real-key' });
    const error = await intruder.get('req_whatever').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SluiceClientError);
    expect((error as SluiceClientError).httpStatus).toBe(401);
  });

  it('rejects invalid parameters with a message naming the field', async () => {
    const sluice = createSluiceClient({ url: s.url, apiKey: s.tenant.apiKey });
    const error = await sluice
      .submit({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], max_tokens: 0 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SluiceClientError);
    expect((error as SluiceClientError).code).toBe('BAD_REQUEST');
    expect((error as Error).message).toContain('max_tokens');
  });

  it('sends concurrent submits together, each with its own id or its own error', async () => {
    const httpRequests: string[] = [];
    const sluice = createSluiceClient({
      url: s.url,
      apiKey: s.tenant.apiKey,
      fetch: (input, init) => {
        httpRequests.push(String(input));
        return fetch(input, init);
      },
    });
    const params = (i: number) => ({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: `bulk ${i}` }],
      max_tokens: 5,
      // One invalid submit among them fails alone.
      ...(i === 7 ? { max_tokens: -1 } : {}),
    });
    const n = SUBMIT_BATCH.maxItems + 8;
    const settled = await Promise.allSettled(
      Array.from({ length: n }, (_, i) => sluice.submit(params(i), { priority: 'batch' })),
    );
    expect(httpRequests).toHaveLength(2);

    const rejected = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ i, e: r.reason }] : []));
    expect(rejected.map((r) => r.i)).toEqual([7]);
    const invalid = rejected[0]?.e as SluiceClientError;
    expect(invalid).toBeInstanceOf(SluiceClientError);
    expect(invalid.message).toContain('max_tokens');

    const ids = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value.id] : []));
    expect(new Set(ids).size).toBe(n - 1);
    const done = await Promise.all(ids.map((id) => sluice.wait(id, { timeoutMs: 30_000 })));
    expect(done.every((v) => v.status === 'completed')).toBe(true);

    // A large submit is not held back for a batch: it goes alone.
    httpRequests.length = 0;
    const big = 'word '.repeat(SUBMIT_BATCH.maxInputBytes / 4);
    await Promise.all([
      sluice.submit({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: big }], max_tokens: 5 }),
      sluice.submit(params(100)),
    ]);
    expect(httpRequests).toHaveLength(2);
    expect(httpRequests.filter((u) => u.includes('batch=1'))).toHaveLength(1);
  });

  it('refuses a batch larger than the server allows, saying so', async () => {
    const calls = 65;
    const input = Object.fromEntries(
      Array.from({ length: calls }, (_, i) => [i, { params: { model: 'gpt-4o-mini', messages: [] } }]),
    );
    const res = await fetch(`${s.url}/trpc/${Array(calls).fill('requests.submit').join(',')}?batch=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenant.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(input),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/batch/i);
  });
});
