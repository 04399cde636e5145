import { startTestSluice, type TestSluice } from '@sluice/broker/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSluiceClient, SluiceClientError } from './index';

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
    expect(done.status).toBe('completed');
    expect(done.result?.choices[0]?.message.role).toBe('assistant');
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
    expect((await sluice.wait(hit.id)).result?.id).toBe(first.id);
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
      .submit({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], temperature: 7 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SluiceClientError);
    expect((error as SluiceClientError).code).toBe('BAD_REQUEST');
    expect((error as Error).message).toContain('temperature');
  });
});
