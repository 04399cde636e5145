import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startOpenAISimulator } from './index';

type ApiError = InstanceType<typeof OpenAI.APIError>;
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e as ApiError,
  );

/** The raw server-sent events of a streamed response: each `event:` name and its parsed `data:`. */
async function rawEvents(sim: RunningSimulator, key: string, body: object) {
  const res = await fetch(`${sim.url}/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const text = await res.text();
  const blocks = text.split('\n\n').filter((b) => b.trim());
  return {
    text,
    events: blocks.map((b) => {
      const event = /^event: (.+)$/m.exec(b)?.[1];
      const data = JSON.parse(/^data: (.+)$/m.exec(b)?.[1] ?? 'null') as {
        type: string;
        sequence_number: number;
      };
      return { event, data };
    }),
  };
}

describe('the Responses API, driven by the official openai SDK', () => {
  let sim: RunningSimulator;
  let client: OpenAI;
  let other: OpenAI;
  beforeAll(async () => {
    sim = await startOpenAISimulator({ limits: { default: { rpm: 10_000, tpm: 10_000_000 } } });
    client = new OpenAI({ apiKey: 'sk-responses', baseURL: sim.url, maxRetries: 0 });
    other = new OpenAI({ apiKey: 'sk-someone-else', baseURL: sim.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('answers a string input, stores it, lists its input items, and deletes it', async () => {
    const r = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'Say hello',
      instructions: 'Be brief',
    });
    expect(r).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-4o-mini', store: true });
    expect(r.id).toMatch(/^resp_/);
    expect(r.output_text.length).toBeGreaterThan(0);
    expect(r.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed' });
    expect(r.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });
    expect(r.usage!.total_tokens).toBe(r.usage!.input_tokens + r.usage!.output_tokens);
    expect(await client.responses.retrieve(r.id)).toEqual(r);
    const items = await client.responses.inputItems.list(r.id);
    expect(items.data).toHaveLength(1);
    expect(items.data[0]).toMatchObject({
      type: 'message',
      role: 'user',
      content: [{ type: 'input_text', text: 'Say hello' }],
    });
    // Another key of another organisation does not see it.
    expect((await failure(other.responses.retrieve(r.id))).status).toBe(404);
    await client.responses.delete(r.id);
    expect((await failure(client.responses.retrieve(r.id))).status).toBe(404);
    expect(sim.stats().routes).toMatchObject({
      'responses.retrieve': 3,
      'responses.input_items': 1,
      'responses.delete': 1,
    });
  });

  it('continues a chain from previous_response_id and refuses an id it does not hold, as OpenAI does', async () => {
    const first = await client.responses.create({ model: 'gpt-4o', input: 'My name is Ada.' });
    const second = await client.responses.create({
      model: 'gpt-4o',
      input: 'What is my name?',
      previous_response_id: first.id,
    });
    expect(second.previous_response_id).toBe(first.id);
    // The second saw the first's input and output as context: more input tokens than its own words.
    expect(second.usage!.input_tokens).toBeGreaterThan(first.usage!.input_tokens);
    const unknown = await failure(
      client.responses.create({ model: 'gpt-4o', input: 'x', previous_response_id: 'resp_nope' }),
    );
    expect(unknown.status).toBe(400);
    expect(unknown.error).toMatchObject({
      code: 'previous_response_not_found',
      param: 'previous_response_id',
    });
    const foreign = await failure(
      other.responses.create({ model: 'gpt-4o', input: 'x', previous_response_id: first.id }),
    );
    expect(foreign.error).toMatchObject({ code: 'previous_response_not_found' });
    const unstored = await client.responses.create({ model: 'gpt-4o', input: 'x', store: false });
    expect((await failure(client.responses.retrieve(unstored.id))).status).toBe(404);
  });

  it('reports a long chain prefix as cached input, in steps of 128 tokens', async () => {
    const first = await client.responses.create({ model: 'gpt-4o-mini', input: 'lorem ipsum '.repeat(600) });
    const next = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'and?',
      previous_response_id: first.id,
    });
    const cached = next.usage!.input_tokens_details.cached_tokens;
    expect(cached).toBeGreaterThanOrEqual(1_024);
    expect(cached % 128).toBe(0);
    expect(cached).toBeLessThanOrEqual(next.usage!.input_tokens);
    expect(first.usage!.input_tokens_details.cached_tokens).toBe(0);
  });

  it('calls a function tool, then answers from its output', async () => {
    const tools = [
      {
        type: 'function' as const,
        name: 'get_weather',
        description: 'Weather in a city',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' } },
          required: ['city'],
          additionalProperties: false,
        },
        strict: true,
      },
    ];
    const call = await client.responses.create({
      model: 'gpt-4.1',
      input: 'What is the weather in Paris?',
      tools,
    });
    const fc = call.output.find((o) => o.type === 'function_call');
    expect(fc).toMatchObject({ type: 'function_call', name: 'get_weather', status: 'completed' });
    if (fc?.type !== 'function_call') throw new Error('no function call');
    expect(JSON.parse(fc.arguments)).toHaveProperty('city');
    const answer = await client.responses.create({
      model: 'gpt-4.1',
      previous_response_id: call.id,
      input: [{ type: 'function_call_output', call_id: fc.call_id, output: 'sunny, 24 C' }],
      tools,
    });
    expect(answer.output_text).toContain('sunny, 24 C');
    // The same with the whole context sent again instead of the chain.
    const inline = await client.responses.create({
      model: 'gpt-4.1',
      input: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { type: 'function_call', call_id: fc.call_id, name: 'get_weather', arguments: fc.arguments },
        { type: 'function_call_output', call_id: fc.call_id, output: 'rainy' },
      ],
      tools,
    });
    expect(inline.output_text).toContain('rainy');
  });

  it('answers text.format json_schema with an instance of the schema', async () => {
    const schema = {
      type: 'object',
      properties: {
        title: { type: 'string' },
        year: { type: 'integer', minimum: 1900 },
        tags: { type: 'array', items: { type: 'string' } },
      },
      required: ['title', 'year', 'tags'],
      additionalProperties: false,
    };
    const r = await client.responses.create({
      model: 'gpt-4o',
      input: 'A film',
      text: { format: { type: 'json_schema', name: 'film', schema, strict: true } },
    });
    const value = JSON.parse(r.output_text) as unknown;
    expect(new Ajv().validate(schema, value)).toBe(true);
    const missing = await failure(
      client.responses.create({
        model: 'gpt-4o',
        input: 'x',
        text: { format: { type: 'json_schema', schema } as never },
      }),
    );
    expect(missing.error).toMatchObject({ param: 'text.format.name' });
  });

  it('reports reasoning tokens of reasoning models, and an incomplete answer when max_output_tokens runs out', async () => {
    const r = await client.responses.create({
      model: 'o4-mini',
      input: 'Think',
      reasoning: { effort: 'high', summary: 'auto' },
    });
    expect(r.usage!.output_tokens_details.reasoning_tokens).toBe(256);
    expect(r.output[0]).toMatchObject({ type: 'reasoning', summary: [{ type: 'summary_text' }] });
    const visible = r.output.find((o) => o.type === 'message');
    expect(visible).toBeDefined();
    expect(r.usage!.output_tokens).toBeGreaterThan(256);
    const cut = await client.responses.create({ model: 'o4-mini', input: 'Think', max_output_tokens: 70 });
    expect(cut).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    expect(cut.usage!.output_tokens).toBeLessThanOrEqual(70);
    const plain = await failure(
      client.responses.create({ model: 'gpt-4o', input: 'x', reasoning: { effort: 'low' } }),
    );
    expect(plain.error).toMatchObject({ param: 'reasoning.effort', code: 'unsupported_parameter' });
  });

  it('searches the web with the built-in tool: a web_search_call item and a cited answer', async () => {
    const r = await client.responses.create({
      model: 'gpt-4.1',
      input: 'Latest news about Sluice',
      tools: [{ type: 'web_search' }],
    });
    expect(r.output.map((o) => o.type)).toEqual(['web_search_call', 'message']);
    expect(r.output[0]).toMatchObject({
      status: 'completed',
      action: { type: 'search', query: expect.any(String) },
    });
    const msg = r.output[1];
    if (msg?.type !== 'message' || msg.content[0]?.type !== 'output_text') throw new Error('no message');
    expect(msg.content[0].annotations[0]).toMatchObject({ type: 'url_citation' });
  });

  it('resolves item_reference from items it stored, for their owner only', async () => {
    const first = await client.responses.create({ model: 'gpt-4o', input: 'Remember blue' });
    const msgId = first.output[0]!.id!;
    const next = await client.responses.create({
      model: 'gpt-4o',
      input: [
        { type: 'item_reference', id: msgId },
        { role: 'user', content: 'and?' },
      ],
    });
    expect(next.status).toBe('completed');
    const foreign = await failure(
      other.responses.create({ model: 'gpt-4o', input: [{ type: 'item_reference', id: msgId }] }),
    );
    expect(foreign.status).toBe(404);
    expect(foreign.error).toMatchObject({ param: 'input[0]' });
  });

  it('keeps a conversation: each response adds its items, the next one reads them', async () => {
    const created = (await (
      await fetch(`${sim.url}/conversations`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-responses', 'content-type': 'application/json' },
        body: JSON.stringify({ metadata: { topic: 'test' } }),
      })
    ).json()) as { id: string; object: string };
    expect(created).toMatchObject({ object: 'conversation', id: expect.stringMatching(/^conv_/) });
    const a = await client.responses.create({ model: 'gpt-4o', input: 'one', conversation: created.id });
    const b = await client.responses.create({ model: 'gpt-4o', input: 'two', conversation: created.id });
    expect(b.usage!.input_tokens).toBeGreaterThan(a.usage!.input_tokens);
    const unknown = await failure(
      client.responses.create({ model: 'gpt-4o', input: 'x', conversation: 'conv_nope' }),
    );
    expect(unknown.status).toBe(404);
  });

  it('streams typed events in order with sequence numbers, ending in response.completed with usage and no [DONE]', async () => {
    const { text, events } = await rawEvents(sim, 'sk-responses', {
      model: 'gpt-4o-mini',
      input: 'Stream please',
    });
    expect(text).not.toContain('[DONE]');
    expect(events.map((e) => e.data.sequence_number)).toEqual(events.map((_, i) => i));
    for (const e of events) expect(e.event).toBe(e.data.type);
    const types = events.map((e) => e.data.type);
    expect(types.slice(0, 5)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
    ]);
    expect(types.slice(-4)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const completed = events.at(-1)!.data as unknown as {
      response: { usage: { output_tokens: number }; output_text?: string; output: unknown[] };
    };
    const deltas = events.filter((e) => e.data.type === 'response.output_text.delta');
    expect(deltas.length).toBe(completed.response.usage.output_tokens);

    // The SDK's own stream reader agrees.
    const stream = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'Stream please',
      stream: true,
    });
    let textOut = '';
    let last: string | undefined;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') textOut += event.delta;
      last = event.type;
    }
    expect(last).toBe('response.completed');
    expect(textOut.length).toBeGreaterThan(0);
  });

  it('streams function-call arguments, and ends incomplete or failed when the answer does', async () => {
    const tools = [
      {
        type: 'function',
        name: 'lookup',
        parameters: { type: 'object', properties: { q: { type: 'string' } } },
      },
    ];
    const { events } = await rawEvents(sim, 'sk-responses', {
      model: 'gpt-4o',
      input: 'lookup things',
      tools,
    });
    const types = events.map((e) => e.data.type);
    expect(types).toContain('response.function_call_arguments.delta');
    expect(types).toContain('response.function_call_arguments.done');
    const incomplete = await rawEvents(sim, 'sk-responses', {
      model: 'o3',
      input: 'x',
      max_output_tokens: 16,
    });
    expect(incomplete.events.at(-1)!.data.type).toBe('response.incomplete');
    sim.configure({ faults: { answerFailureRate: 1 } });
    try {
      const failed = await rawEvents(sim, 'sk-responses', { model: 'gpt-4o', input: 'x' });
      const end = failed.events.at(-1)!.data as unknown as {
        type: string;
        response: { status: string; error: { code: string } };
      };
      expect(end).toMatchObject({
        type: 'response.failed',
        response: { status: 'failed', error: { code: 'server_error' } },
      });
    } finally {
      sim.configure({ faults: {} });
    }
  });

  it('draws chat completions and responses of one model from one bucket', async () => {
    const shared = await startOpenAISimulator({ limits: { 'gpt-4o': { rpm: 3, tpm: 1_000_000 } } });
    try {
      const c = new OpenAI({ apiKey: 'sk-shared', baseURL: shared.url, maxRetries: 0 });
      await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'a' }] });
      await c.responses.create({ model: 'gpt-4o', input: 'b' });
      await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'c' }] });
      const limited = await failure(c.responses.create({ model: 'gpt-4o', input: 'd' }));
      expect(limited.status).toBe(429);
      expect(limited.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'requests' });
      expect(shared.stats().byEndpoint).toMatchObject({
        responses: { ok: 1, rateLimited: 1 },
        'chat.completions': { ok: 2 },
      });
    } finally {
      await shared.close();
    }
  });
});

describe('background responses on the simulator clock', () => {
  let sim: RunningSimulator;
  let client: OpenAI;
  let clock = 1_700_000_000_000;
  beforeAll(async () => {
    sim = await startOpenAISimulator({ now: () => clock, latency: { firstTokenMs: 1_000, perTokenMs: 100 } });
    client = new OpenAI({ apiKey: 'sk-bg', baseURL: sim.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('answers queued at once, then shows in_progress, then the completed response', async () => {
    const queued = await client.responses.create({ model: 'gpt-4o', input: 'long job', background: true });
    expect(queued).toMatchObject({ status: 'queued', background: true, output: [], usage: null });
    expect((await client.responses.retrieve(queued.id)).status).toBe('queued');
    clock += 1_001;
    expect((await client.responses.retrieve(queued.id)).status).toBe('in_progress');
    clock += 60_000;
    const done = await client.responses.retrieve(queued.id);
    expect(done).toMatchObject({ id: queued.id, status: 'completed', background: true });
    expect(done.output_text.length).toBeGreaterThan(0);
    // A finished background response is returned unchanged when cancelled.
    expect((await client.responses.cancel(queued.id)).status).toBe('completed');
  });

  it('cancels a background response in progress, billing what it generated; refuses to cancel a foreground one', async () => {
    const queued = await client.responses.create({ model: 'gpt-4o', input: 'long job', background: true });
    clock += 1_000 + 500;
    const cancelled = await client.responses.cancel(queued.id);
    expect(cancelled).toMatchObject({ status: 'cancelled', output: [] });
    expect(cancelled.usage!.input_tokens).toBeGreaterThan(0);
    clock += 60_000;
    expect((await client.responses.retrieve(queued.id)).status).toBe('cancelled');
    const chained = await failure(
      client.responses.create({
        model: 'gpt-4o',
        input: 'x',
        previous_response_id: (
          await client.responses.create({ model: 'gpt-4o', input: 'y', background: true })
        ).id,
      }),
    );
    expect(chained.error).toMatchObject({ code: 'previous_response_in_progress' });
    sim.configure({ latency: {} });
    const foreground = await client.responses.create({ model: 'gpt-4o', input: 'quick' });
    sim.configure({ latency: { firstTokenMs: 1_000, perTokenMs: 100 } });
    const refused = await failure(client.responses.cancel(foreground.id));
    expect(refused.status).toBe(400);
    expect(
      (
        await failure(
          client.responses.create({ model: 'gpt-4o', input: 'x', background: true, store: false }),
        )
      ).status,
    ).toBe(400);
  });
});
