import { createTRPCClient, httpLink } from '@trpc/client';
import OpenAI from 'openai';
import type { Response } from 'openai/resources/responses/responses';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type HarnessMode, startTestSluice, type TestSluice } from './__tests__/harness';
import { BATCH_DEFAULTS } from './batch/batch-settings';
import { costMicroMicros, roundToMicros } from './billing/cost';
import { loadPriceTable, priceAt, unitPriceAt } from './billing/prices';
import type { AppRouter } from './root';

// The Responses API through the real stack — embedded (PGlite, the Postgres-backed log) and
// production (Postgres server, Kafka) — with the official openai SDK and tRPC as clients and the
// project's simulator as OpenAI.
const PRICES = loadPriceTable();
type ApiError = InstanceType<typeof OpenAI.APIError>;
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e as ApiError,
  );

const trpcAs = (url: string, key: string) =>
  createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/trpc`, headers: { authorization: `Bearer ${key}` } })],
  });

describe.each<HarnessMode>(['embedded', 'kafka'])('the Responses API through Sluice (%s)', (mode) => {
  let s: TestSluice;
  let openai: OpenAI;
  let intruder: OpenAI;
  let bulk: { id: string; apiKey: string };
  let cached: { id: string; apiKey: string };

  beforeAll(async () => {
    s = await startTestSluice({
      mode,
      simulator: {
        limits: { default: { rpm: 100_000, tpm: 50_000_000 }, 'gpt-4.1-mini': { rpm: 1, tpm: 1_000_000 } },
        latency: { baseMs: 2 },
        batch: { completionDelayMs: 200 },
      },
      batch: { ...BATCH_DEFAULTS, flushMs: 150, pollMs: 100, leaseMs: 5_000 },
    });
    openai = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.tenant.apiKey, maxRetries: 0 });
    intruder = new OpenAI({
      baseURL: `${s.url}/v1`,
      apiKey: (await s.newTenant('intruder')).apiKey,
      maxRetries: 0,
    });
    bulk = await s.newTenant('bulk');
    await s.runtime.tenants.updateTenantSettings(bulk.id, { batchApi: true });
    cached = await s.newTenant('cached');
    await s.runtime.tenants.updateTenantSettings(cached.id, { cache: { enabled: true, ttlSeconds: 600 } });
  }, 180_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  const stats = () => structuredClone(s.simulator.stats());
  const eventsOf = (requestId: string) => s.runtime.store.eventsOf(requestId);
  const usageOf = (requestId: string) =>
    eventually(async () => (await eventsOf(requestId)).find((e) => e.type === 'usage.recorded'));

  it('answers a response through the openai SDK, passing every field through and billing its usage', async () => {
    const r = await openai.responses
      .create({
        model: 'gpt-4o-mini',
        input: [{ role: 'user', content: [{ type: 'input_text', text: 'Hello there' }] }],
        instructions: 'Be brief',
        metadata: { order: '42' },
        truncation: 'auto',
        // Unknown to Sluice: reaches the upstream unchanged.
        some_future_parameter: { nested: [1, 2] },
      } as never)
      .withResponse();
    const response = r.data as Response;
    expect(response).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-4o-mini' });
    expect(response.output_text.length).toBeGreaterThan(0);
    expect(stats().lastBodies.responses).toMatchObject({
      instructions: 'Be brief',
      metadata: { order: '42' },
      truncation: 'auto',
      some_future_parameter: { nested: [1, 2] },
    });
    const requestId = r.response.headers.get('x-sluice-request-id')!;
    expect(requestId).toMatch(/^req_/);
    const usage = await usageOf(requestId);
    expect(usage).toMatchObject({
      endpoint: '/v1/responses',
      promptTokens: response.usage!.input_tokens,
      completionTokens: response.usage!.output_tokens,
      estimated: false,
      channel: 'sync',
      units: {},
    });
  });

  it('streams a response as typed events in order, ending with response.completed and its usage', async () => {
    const stream = await openai.responses.create({
      model: 'gpt-4o-mini',
      input: 'Stream this',
      stream: true,
    });
    const events: Array<{ type: string; sequence_number: number; response?: Response }> = [];
    let text = '';
    for await (const event of stream) {
      events.push(event);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.slice(0, 3).map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
    ]);
    const last = events.at(-1) as { type: string; response: Response };
    expect(last.type).toBe('response.completed');
    expect(last.response.usage!.output_tokens).toBeGreaterThan(0);
    expect(text).toBe(
      last.response.output_text ??
        (last.response.output[0] as { content: Array<{ text: string }> }).content[0]!.text,
    );
    // The upstream streamed it: its events were relayed as they came (streaming.int.test.ts times them).
    expect(stats().lastBodies.responses?.stream).toBe(true);
    const refused = await failure(
      openai.responses.create({ model: 'gpt-4o-mini', input: 'x', stream: true, background: true }),
    );
    expect(refused.status).toBe(400);
    expect(refused.error).toMatchObject({ param: 'stream' });
  });

  it('answers GET from its own store, other renderings from the pool; lists input items; deletes upstream', async () => {
    const r = await openai.responses.create({ model: 'gpt-4o', input: 'Keep me' });
    const before = stats().routes;
    const got = await openai.responses.retrieve(r.id);
    expect(got).toMatchObject({ id: r.id, status: 'completed', output: r.output });
    expect(stats().routes['responses.retrieve'] ?? 0).toBe(before['responses.retrieve'] ?? 0);
    await openai.responses.retrieve(r.id, { include: ['message.output_text.logprobs'] });
    expect(stats().routes['responses.retrieve']).toBe((before['responses.retrieve'] ?? 0) + 1);
    const items = await openai.responses.inputItems.list(r.id);
    expect(items.data[0]).toMatchObject({ type: 'message', role: 'user' });
    expect(stats().routes['responses.input_items']).toBe((before['responses.input_items'] ?? 0) + 1);

    await openai.responses.delete(r.id);
    expect(stats().routes['responses.delete']).toBe((before['responses.delete'] ?? 0) + 1);
    expect((await failure(openai.responses.retrieve(r.id))).status).toBe(404);
    const chained = await failure(
      openai.responses.create({ model: 'gpt-4o', input: 'x', previous_response_id: r.id }),
    );
    expect(chained.status).toBe(400);
    expect(chained.error).toMatchObject({
      code: 'previous_response_not_found',
      param: 'previous_response_id',
    });
    // Cancelling needs a background response.
    const plain = await openai.responses.create({ model: 'gpt-4o', input: 'plain' });
    expect((await failure(openai.responses.cancel(plain.id))).status).toBe(400);
  });

  it('runs a background response: queued at once under Sluice’s id, in progress upstream, then completed under the same id', async () => {
    s.simulator.configure({ latency: { firstTokenMs: 300, perTokenMs: 40 } });
    try {
      const queued = await openai.responses.create({
        model: 'gpt-4o',
        input: 'A long job',
        background: true,
      });
      expect(queued).toMatchObject({ object: 'response', status: 'queued', background: true, output: [] });
      expect(queued.id).toMatch(/^resp_sluice_/);
      const seen = new Set<string>();
      const done = await eventually(async () => {
        const r = await openai.responses.retrieve(queued.id);
        seen.add(r.status!);
        return r.status === 'completed' && r;
      }, 30_000);
      expect(seen).toContain('in_progress');
      expect(done).toMatchObject({ id: queued.id, status: 'completed', background: true });
      expect(done.output_text.length).toBeGreaterThan(0);
      // The upstream was asked for a background response and polled until it was final.
      expect(stats().lastBodies.responses).toMatchObject({ background: true });
      expect(stats().routes['responses.retrieve']).toBeGreaterThan(0);

      // The chain continues from Sluice's id: the upstream is given its own.
      const next = await openai.responses.create({
        model: 'gpt-4o',
        input: 'And then?',
        previous_response_id: queued.id,
      });
      expect(next.status).toBe('completed');
      const upstreamId = stats().lastBodies.responses?.previous_response_id;
      expect(upstreamId).toMatch(/^resp_/);
      expect(upstreamId).not.toBe(queued.id);
      // tRPC's wait gives the same id the caller was given.
      const trpc = trpcAs(s.url, s.tenant.apiKey);
      const requestId = `req_${queued.id.slice('resp_sluice_'.length)}`;
      expect((await trpc.responses.wait.query({ id: requestId })).id).toBe(queued.id);
    } finally {
      s.simulator.configure({ latency: { baseMs: 2 } });
    }
  });

  it('cancels a background response queued in Sluice there, and one in progress upstream by forwarding the cancel', async () => {
    // One request a minute for this model: once the limiter has learned it, the next one waits in Sluice.
    await openai.responses.create({ model: 'gpt-4.1-mini', input: 'first' });
    const okBefore = stats().byEndpoint.responses!.ok;
    const waiting = await openai.responses.create({
      model: 'gpt-4.1-mini',
      input: 'second',
      background: true,
    });
    expect((await openai.responses.retrieve(waiting.id)).status).toBe('queued');
    const cancelled = await openai.responses.cancel(waiting.id);
    expect(cancelled).toMatchObject({ id: waiting.id, status: 'cancelled' });
    expect((await openai.responses.retrieve(waiting.id)).status).toBe('cancelled');
    expect(stats().byEndpoint.responses!.ok).toBe(okBefore);

    // Quickly in progress upstream, then slow: the cancel lands while it generates.
    s.simulator.configure({ latency: { firstTokenMs: 20, perTokenMs: 200 } });
    try {
      const running = await openai.responses.create({
        model: 'gpt-4o',
        input: 'A very long job',
        background: true,
      });
      await eventually(
        async () => (await openai.responses.retrieve(running.id)).status === 'in_progress',
        20_000,
      );
      const cancelRoutes = stats().routes['responses.cancel'] ?? 0;
      expect((await openai.responses.cancel(running.id)).status).toBe('cancelled');
      await eventually(async () => (stats().routes['responses.cancel'] ?? 0) > cancelRoutes);
      // The upstream's cancelled response, with what it spent, is what Sluice records and bills.
      const requestId = `req_${running.id.slice('resp_sluice_'.length)}`;
      const usage = await usageOf(requestId);
      expect(usage.promptTokens).toBeGreaterThan(0);
      const final = await openai.responses.retrieve(running.id);
      expect(final).toMatchObject({ id: running.id, status: 'cancelled' });
      expect(final.usage).toBeTruthy();
    } finally {
      s.simulator.configure({ latency: { baseMs: 2 } });
    }
  });

  it('submits then waits over tRPC; create in the background answers queued; retrieve and delete by id', async () => {
    const trpc = trpcAs(s.url, s.tenant.apiKey);
    const submitted = await trpc.responses.submit.mutate({
      params: { model: 'gpt-4o-mini', input: 'queued' },
    });
    const answer = await trpc.responses.wait.query({ id: submitted.id });
    expect(answer).toMatchObject({ object: 'response', status: 'completed' });
    expect(await trpc.responses.retrieve.query({ id: answer.id })).toMatchObject({ id: answer.id });
    const bg = await trpc.responses.create.mutate({
      params: { model: 'gpt-4o-mini', input: 'later', background: true },
    });
    expect(bg).toMatchObject({ status: 'queued', id: expect.stringMatching(/^resp_sluice_/) });
    await eventually(async () => (await trpc.responses.retrieve.query({ id: bg.id })).status === 'completed');
    expect((await trpc.responses.inputItems.query({ id: bg.id })).data).toHaveLength(1);
    expect(await trpc.responses.delete.mutate({ id: bg.id })).toEqual({
      id: bg.id,
      object: 'response.deleted',
      deleted: true,
    });
    await expect(trpc.responses.retrieve.query({ id: bg.id })).rejects.toThrow(/not found/);
  });

  it('routes a batch-class response through the Batch API with url /v1/responses', async () => {
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: bulk.apiKey, maxRetries: 0 });
    const created = stats().batch.batchesCreated;
    const r = await client.responses
      .create({ model: 'gpt-4o-mini', input: 'in a batch' }, { headers: { 'x-sluice-priority': 'batch' } })
      .withResponse();
    expect(r.data).toMatchObject({ object: 'response', status: 'completed' });
    const requestId = r.response.headers.get('x-sluice-request-id')!;
    const submittedEvent = (await eventsOf(requestId)).find((e) => e.type === 'request.submitted');
    expect(submittedEvent).toMatchObject({ route: 'batch_api', endpoint: '/v1/responses' });
    expect(stats().batch.batchesCreated).toBe(created + 1);
    expect(await usageOf(requestId)).toMatchObject({ channel: 'batch', endpoint: '/v1/responses' });
  });

  it('answers an equal deterministic response from the cache', async () => {
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: cached.apiKey, maxRetries: 0 });
    const body = { model: 'gpt-4o-mini', input: 'cache me', temperature: 0 };
    const okBefore = stats().byEndpoint.responses!.ok;
    const first = await client.responses.create(body).withResponse();
    expect(first.response.headers.get('x-sluice-cache')).toBe('miss');
    await eventually(async () => {
      const again = await client.responses.create(body).withResponse();
      return again.response.headers.get('x-sluice-cache') === 'hit' && again;
    });
    expect(stats().byEndpoint.responses!.ok).toBe(okBefore + 1);
    // A response that reads the world (web search) is never cached.
    const search = await client.responses.create({ ...body, tools: [{ type: 'web_search' }] }).withResponse();
    expect(search.response.headers.get('x-sluice-cache')).toBeNull();
  });

  it('gives another tenant a 404 for every route, and refuses to let it continue the response or its items', async () => {
    const r = await openai.responses.create({ model: 'gpt-4o', input: 'mine' });
    const bg = await openai.responses.create({ model: 'gpt-4o', input: 'mine too', background: true });
    for (const id of [r.id, bg.id]) {
      expect((await failure(intruder.responses.retrieve(id))).status).toBe(404);
      expect((await failure(intruder.responses.cancel(id))).status).toBe(404);
      expect((await failure(intruder.responses.delete(id))).status).toBe(404);
      expect((await failure(intruder.responses.inputItems.list(id))).status).toBe(404);
      const chained = await failure(
        intruder.responses.create({ model: 'gpt-4o', input: 'x', previous_response_id: id }),
      );
      expect(chained.error).toMatchObject({ code: 'previous_response_not_found' });
    }
    const item = await failure(
      intruder.responses.create({
        model: 'gpt-4o',
        input: [{ type: 'item_reference', id: r.output[0]!.id! }],
      }),
    );
    expect(item.status).toBe(404);
    expect(item.error).toMatchObject({ param: 'input[0]' });
    // The owner continues both.
    expect(
      (
        await openai.responses.create({
          model: 'gpt-4o',
          input: [
            { type: 'item_reference', id: r.output[0]!.id! },
            { role: 'user', content: 'go on' },
          ],
        })
      ).status,
    ).toBe('completed');
  });

  it('bills cached input, reasoning as output, and built-in tool calls: priced where the table lists them, else flagged', async () => {
    const billed = await s.newTenant('billed');
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: billed.apiKey, maxRetries: 0 });
    const long = await client.responses.create({ model: 'gpt-4o', input: 'lorem ipsum '.repeat(600) });
    const follow = await client.responses.create({
      model: 'gpt-4o',
      input: 'and?',
      previous_response_id: long.id,
    });
    expect(follow.usage!.input_tokens_details.cached_tokens).toBeGreaterThanOrEqual(1_024);
    const reasoned = await client.responses.create({
      model: 'o4-mini',
      input: 'Think hard',
      reasoning: { effort: 'high' },
    });
    expect(reasoned.usage!.output_tokens_details.reasoning_tokens).toBe(256);
    const searched = await client.responses.create({
      model: 'gpt-4o',
      input: 'Search the news',
      tools: [{ type: 'web_search' }],
    });
    expect(searched.output.map((o) => o.type)).toContain('web_search_call');
    const unpriced = await client.responses.create({
      model: 'gpt-4.1-nano',
      input: 'Search too',
      tools: [{ type: 'web_search' }],
    });
    expect(unpriced.output.map((o) => o.type)).toContain('web_search_call');

    const to = new Date(Date.now() + 3_600_000);
    const from = new Date(Date.now() - 3_600_000);
    const rows = await eventually(async () => {
      const r = await s.runtime.http!.inject({
        method: 'GET',
        url: `/trpc/usage.mine?input=${encodeURIComponent(JSON.stringify({ from: from.toISOString(), to: to.toISOString(), by: 'model' }))}`,
        headers: { authorization: `Bearer ${billed.apiKey}` },
      });
      const data = (
        JSON.parse(r.body) as {
          result: {
            data: Array<{
              model: string;
              completed: number;
              units: Record<string, number>;
              unpricedUnits: number;
              costMicros: number;
              reasoningTokens: number;
              cachedTokens: number;
            }>;
          };
        }
      ).result.data;
      const completed = data.reduce((n, row) => n + row.completed, 0);
      return completed === 5 && data;
    });
    const byModel = Object.fromEntries(rows.map((r) => [r.model, r]));
    expect(byModel['gpt-4o']).toMatchObject({ units: { web_search_call: 1 }, unpricedUnits: 0 });
    expect(byModel['gpt-4.1-nano']).toMatchObject({ units: { web_search_call: 1 }, unpricedUnits: 1 });
    expect(byModel['o4-mini']!.reasoningTokens).toBe(256);
    expect(byModel['gpt-4o']!.cachedTokens).toBe(follow.usage!.input_tokens_details.cached_tokens);

    // Each line's cost, recomputed from the answers with the shipped price table.
    const at = new Date();
    const cost = (answers: Response[], model: string) => {
      const price = priceAt(PRICES, model, at, 'sync')!;
      const unit = unitPriceAt(PRICES, model, 'web_search_call', at) ?? 0;
      let total = 0n;
      for (const a of answers) {
        total += costMicroMicros(
          {
            promptTokens: a.usage!.input_tokens,
            cachedTokens: a.usage!.input_tokens_details.cached_tokens,
            completionTokens: a.usage!.output_tokens,
          },
          price,
        );
        total += BigInt(a.output.filter((o) => o.type === 'web_search_call').length * unit) * 1_000_000n;
      }
      return roundToMicros(total);
    };
    expect(byModel['gpt-4o']!.costMicros).toBe(cost([long, follow, searched], 'gpt-4o'));
    expect(unitPriceAt(PRICES, 'gpt-4o', 'web_search_call', at)).toBe(10_000);
    expect(byModel['o4-mini']!.costMicros).toBe(cost([reasoned], 'o4-mini'));
    // The unpriced call is not in the cost: only the tokens are.
    expect(unitPriceAt(PRICES, 'gpt-4.1-nano', 'web_search_call', at)).toBeUndefined();
    expect(byModel['gpt-4.1-nano']!.costMicros).toBe(cost([unpriced], 'gpt-4.1-nano'));
  });
});

describe.each<HarnessMode>(['embedded', 'kafka'])(
  'follow-ups stay on the pool holding their state (%s)',
  (mode) => {
    let s: TestSluice;
    let openai: OpenAI;

    beforeAll(async () => {
      s = await startTestSluice({
        mode,
        simulator: { limits: { default: { rpm: 100_000, tpm: 50_000_000 } }, latency: { baseMs: 2 } },
        // A SLUICE_POOLS_FILE with two pools: `east` serves gpt-4o-mini, `west` everything else.
        pools: [{ name: 'east', models: ['gpt-4o-mini'] }, { name: 'west' }],
      });
      openai = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.tenant.apiKey, maxRetries: 0 });
    }, 180_000);
    afterAll(async () => {
      await s?.close();
    }, 120_000);

    const answered = (pool: string) => s.simulators[pool]!.stats().byEndpoint.responses?.ok ?? 0;
    const poolOf = async (requestId: string) =>
      eventually(async () => (await s.runtime.store.getRequest(null, requestId))?.pool);

    it('keeps a chain of three responses on the first response’s pool, whatever models the follow-ups name', async () => {
      const first = await openai.responses
        .create({ model: 'gpt-4o-mini', input: 'Start here' })
        .withResponse();
      const second = await openai.responses
        .create({ model: 'gpt-4o', input: 'Go on', previous_response_id: first.data.id })
        .withResponse();
      const third = await openai.responses
        .create({ model: 'gpt-4.1', input: 'And finish', previous_response_id: second.data.id })
        .withResponse();
      for (const r of [first, second, third]) {
        expect(r.data.status).toBe('completed');
        expect(await poolOf(r.response.headers.get('x-sluice-request-id')!)).toBe('east');
      }
      expect(answered('east')).toBe(3);
      expect(answered('west')).toBe(0);
      // Without state to continue, gpt-4o goes where the pools file sends it.
      const free = await openai.responses.create({ model: 'gpt-4o', input: 'Fresh' }).withResponse();
      expect(await poolOf(free.response.headers.get('x-sluice-request-id')!)).toBe('west');
      // An item reference pins too, and so does retrieving: the owning pool is asked.
      const byItem = await openai.responses
        .create({
          model: 'gpt-4.1',
          input: [
            { type: 'item_reference', id: third.data.output[0]!.id! },
            { role: 'user', content: 'more' },
          ],
        })
        .withResponse();
      expect(await poolOf(byItem.response.headers.get('x-sluice-request-id')!)).toBe('east');
      const items = await openai.responses.inputItems.list(second.data.id);
      expect(items.data[0]).toMatchObject({ type: 'message' });
      expect(s.simulators.east!.stats().routes['responses.input_items']).toBe(1);
      // State of two pools cannot be continued by one request.
      const mixed = await failure(
        openai.responses.create({
          model: 'gpt-4o',
          previous_response_id: first.data.id,
          input: [{ type: 'item_reference', id: free.data.output[0]!.id! }],
        }),
      );
      expect(mixed.status).toBe(400);
      expect((mixed.error as { message: string }).message).toMatch(/east, west|west, east/);
    });
  },
);
