import type { SimulatorOptions } from '@sluice/openai-simulator';
import { sql } from 'drizzle-orm';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type HarnessMode, startTestSluice, type TestSluice } from './__tests__/harness';
import { readChatStream, spreadOver } from './__tests__/streams';

// Real streaming: a `stream: true` request's chunks reach the caller as the upstream generates
// them (the simulator streams one token every PER_TOKEN_MS), through the real stack in both modes,
// with the official openai SDK as the client. Usage is recorded once per attempt, a caller who
// leaves stops the upstream call, and a stream broken after its first chunk is never sent again.
const PER_TOKEN_MS = 25;

async function eventCounts(s: TestSluice, requestId: string): Promise<Record<string, number>> {
  const result = await s.runtime.database.db.execute(
    sql`SELECT type, count(*)::int AS n FROM events WHERE request_id = ${requestId} GROUP BY type`,
  );
  const rows = (result as unknown as { rows: Array<{ type: string; n: number }> }).rows;
  return Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
}

/** The counts once the request's outcome is in the store: it is written just after the caller is told. */
async function recordedEventCounts(s: TestSluice, requestId: string): Promise<Record<string, number>> {
  return eventually(async () => {
    const c = await eventCounts(s, requestId);
    return c['usage.recorded'] ? c : undefined;
  });
}

const messages = [{ role: 'user' as const, content: 'Tell me a story about a sluice gate' }];

/** The request's view once it reached `status`. */
async function outcomeOf(s: TestSluice, requestId: string, status: string) {
  return eventually(async () => {
    const v = await s.runtime.hub?.waitForOutcome(s.tenant.id, requestId, { timeoutMs: 5_000 });
    return v?.status === status ? v : undefined;
  });
}

/** An embedded Sluice whose simulator streams with `faults`, for the enclosing describe. */
function embeddedWithFaults(
  faults: NonNullable<SimulatorOptions['faults']>,
  perTokenMs: number,
): () => TestSluice {
  let s: TestSluice;
  beforeAll(async () => {
    s = await startTestSluice({
      mode: 'embedded',
      simulator: {
        limits: { default: { rpm: 100_000, tpm: 50_000_000 } },
        latency: { baseMs: 5, perTokenMs },
        faults,
      },
    });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);
  return () => s;
}

describe.each<HarnessMode>(['embedded', 'kafka'])('streaming (%s)', (mode) => {
  let s: TestSluice;
  let openai: OpenAI;

  beforeAll(async () => {
    s = await startTestSluice({
      mode,
      simulator: {
        limits: { default: { rpm: 100_000, tpm: 50_000_000 } },
        latency: { baseMs: 5, perTokenMs: PER_TOKEN_MS },
      },
    });
    openai = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.tenant.apiKey });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  it('relays each chunk as the upstream generates it, and records the assembled answer and its usage once', async () => {
    const started = Date.now();
    const { data: stream, response } = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages, max_tokens: 40, stream: true })
      .withResponse();
    const { text, arrivals } = await readChatStream(stream, started);
    expect(arrivals.length).toBeGreaterThan(10);
    // Buffered, every chunk would arrive at the end; streamed, they spread over the generation.
    expect(spreadOver(arrivals, PER_TOKEN_MS)).toBe(true);

    const requestId = response.headers.get('x-sluice-request-id') ?? '';
    expect(response.headers.get('x-request-id')).not.toBe(requestId); // the upstream's id
    const view = await outcomeOf(s, requestId, 'completed');
    const completion = view.result as OpenAI.ChatCompletion;
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]?.message.content).toBe(text);
    expect(completion.usage?.completion_tokens).toBeGreaterThan(10);
    // The caller did not ask for usage: the upstream was asked (to bill it), the caller never saw it.
    expect(s.simulator.stats().lastBodies['chat.completions']).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(await recordedEventCounts(s, requestId)).toMatchObject({
      'request.completed': 1,
      'usage.recorded': 1,
    });
  });

  it('ends with the usage chunk when the caller asks for it, equal to what is billed', async () => {
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      max_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.completion_tokens).toBeGreaterThan(0);
    expect(chunks.slice(0, -1).every((c) => !c.usage)).toBe(true);
  });

  it('passes every chunk field through (logprobs, system_fingerprint, service_tier) and records them assembled', async () => {
    const { data: stream, response } = await openai.chat.completions
      .create({
        model: 'gpt-4o-mini',
        messages,
        max_tokens: 10,
        stream: true,
        logprobs: true,
        top_logprobs: 2,
      })
      .withResponse();
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const streamed = chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? []);
    expect(streamed.length).toBeGreaterThan(0);
    expect(streamed[0]?.top_logprobs).toHaveLength(2);
    expect(chunks.every((c) => typeof c.system_fingerprint === 'string')).toBe(true);
    expect(chunks.every((c) => typeof c.service_tier === 'string')).toBe(true);
    const requestId = response.headers.get('x-sluice-request-id') ?? '';
    const view = await outcomeOf(s, requestId, 'completed');
    const completion = view.result as OpenAI.ChatCompletion;
    expect(completion.choices[0]?.logprobs?.content).toEqual(streamed);
    expect(completion.system_fingerprint).toBe(chunks[0]?.system_fingerprint);
  });

  it('assembles streamed tool calls into the recorded completion', async () => {
    const { data: stream, response } = await openai.chat.completions
      .create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
        tools: [
          {
            type: 'function',
            function: {
              name: 'weather',
              parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
            },
          },
        ],
        tool_choice: 'required',
        stream: true,
      })
      .withResponse();
    let args = '';
    for await (const chunk of stream)
      args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
    const requestId = response.headers.get('x-sluice-request-id') ?? '';
    const view = await outcomeOf(s, requestId, 'completed');
    const call = (view.result as OpenAI.ChatCompletion).choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function.name).toBe('weather');
    expect(call?.type === 'function' && call.function.arguments).toBe(args);
    expect(JSON.parse(args)).toHaveProperty('city');
  });

  it('stops the upstream call when the caller leaves mid-stream, and bills what was streamed, once', async () => {
    const before = s.simulator.stats().aborted;
    const { data: stream, response } = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages, max_tokens: 200, stream: true })
      .withResponse();
    const requestId = response.headers.get('x-sluice-request-id') ?? '';
    let seen = 0;
    // Leaving the loop closes the connection (the SDK aborts its request).
    for await (const _ of stream) if (++seen === 5) break;
    await eventually(async () => s.simulator.stats().aborted > before);
    const view = await outcomeOf(s, requestId, 'cancelled');
    expect(view.status).toBe('cancelled');
    const counts = await recordedEventCounts(s, requestId);
    expect(counts).toMatchObject({ 'request.cancelled': 1, 'usage.recorded': 1, 'request.dispatched': 1 });
    const usage = await s.runtime.database.db.execute(
      sql`SELECT payload FROM events WHERE request_id = ${requestId} AND type = 'usage.recorded'`,
    );
    const recorded = (
      usage as unknown as { rows: Array<{ payload: { completionTokens: number; estimated: boolean } }> }
    ).rows[0]?.payload;
    expect(recorded?.estimated).toBe(true);
    expect(recorded?.completionTokens).toBeGreaterThanOrEqual(4);
    expect(recorded?.completionTokens).toBeLessThan(200);
  });

  it('streams the Responses API as typed events, each as it is generated', async () => {
    const started = Date.now();
    const stream = await openai.responses.create({
      model: 'gpt-4o-mini',
      input: 'Tell me a story about a sluice gate',
      max_output_tokens: 40,
      stream: true,
    });
    const arrivals: Array<{ type: string; at: number }> = [];
    for await (const event of stream) arrivals.push({ type: event.type, at: Date.now() - started });
    expect(arrivals[0]?.type).toBe('response.created');
    expect(arrivals.at(-1)?.type).toBe('response.completed');
    const deltas = arrivals.filter((a) => a.type === 'response.output_text.delta');
    expect(deltas.length).toBeGreaterThan(10);
    expect((deltas.at(-1)?.at ?? 0) - (deltas[0]?.at ?? 0)).toBeGreaterThan(
      PER_TOKEN_MS * (deltas.length - 2) * 0.5,
    );
  });
});

describe('a stream the upstream breaks after its first chunks (embedded)', () => {
  const sluice = embeddedWithFaults({ dropAfterChunks: 4 }, 5);

  it('ends with an error event naming the request, is not sent again, and bills the attempt once', async () => {
    const s = sluice();
    const openai = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.tenant.apiKey });
    const before = s.simulator.stats().requests;
    const { data: stream, response } = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages, max_tokens: 100, stream: true })
      .withResponse();
    const requestId = response.headers.get('x-sluice-request-id') ?? '';
    let chunks = 0;
    const error = await (async () => {
      for await (const _ of stream) chunks++;
    })().catch((e: unknown) => e);
    expect(chunks).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toContain(requestId);
    const view = await outcomeOf(s, requestId, 'failed');
    expect(view.error?.reason).toBe('stream_interrupted');
    expect(s.simulator.stats().requests - before).toBe(1);
    expect(await recordedEventCounts(s, requestId)).toMatchObject({
      'request.failed': 1,
      'usage.recorded': 1,
      'request.dispatched': 1,
    });
  });
});

describe('a Responses stream that ends in response.failed (embedded)', () => {
  const sluice = embeddedWithFaults({ answerFailureRate: 1 }, 2);

  it('relays the failure event, records the request failed with its reported usage, and sends it once', async () => {
    const s = sluice();
    const openai = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.tenant.apiKey });
    const before = s.simulator.stats().requests;
    const { data: stream, response } = await openai.responses
      .create({ model: 'gpt-4o-mini', input: 'Tell me a story', max_output_tokens: 30, stream: true })
      .withResponse();
    const requestId = response.headers.get('x-sluice-request-id') ?? '';
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toContain('response.output_text.delta');
    expect(types.at(-1)).toBe('response.failed');

    const view = await outcomeOf(s, requestId, 'failed');
    expect(view.error?.reason).toBe('server_error');
    expect(s.simulator.stats().requests - before).toBe(1);
    expect(await recordedEventCounts(s, requestId)).toMatchObject({
      'request.failed': 1,
      'usage.recorded': 1,
    });
    const usage = await s.runtime.database.db.execute(
      sql`SELECT payload FROM events WHERE request_id = ${requestId} AND type = 'usage.recorded'`,
    );
    const recorded = (
      usage as unknown as { rows: Array<{ payload: { completionTokens: number; estimated: boolean } }> }
    ).rows[0]?.payload;
    // The failed response reported what it had spent: that is billed, not an estimate.
    expect(recorded?.estimated).toBe(false);
    expect(recorded?.completionTokens).toBeGreaterThan(0);
  });
});
