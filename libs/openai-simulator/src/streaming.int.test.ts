import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startOpenAISimulator } from './index';

const body = (extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Stream to me' }],
  max_tokens: 20,
  stream: true,
  ...extra,
});

/** Reads an SSE response event by event, noting when each arrived (ms after the request was sent). */
async function readEvents(url: string, payload: object, signal?: AbortSignal) {
  const sent = performance.now();
  const res = await fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-stream', 'content-type': 'application/json' },
    body: JSON.stringify(payload),
    signal,
  });
  const events: Array<{ at: number; data: string }> = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      events.push({ at: performance.now() - sent, data: buffer.slice(0, end).replace(/^data: /, '') });
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
    }
  }
  return { res, events };
}

async function until(what: string, ok: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('streaming like OpenAI: token by token, paced, droppable, abortable', () => {
  let sim: RunningSimulator;
  let client: OpenAI;
  beforeAll(async () => {
    sim = await startOpenAISimulator({ limits: { default: { rpm: 10_000, tpm: 10_000_000 } } });
    client = new OpenAI({ apiKey: 'sk-stream', baseURL: sim.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('sends one chunk per output token: role first, refusal null, finish, usage, then [DONE]', async () => {
    sim.configure({ latency: {} });
    const { res, events } = await readEvents(sim.url, body({ stream_options: { include_usage: true } }));
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    expect(events.at(-1)!.data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data) as OpenAI.ChatCompletionChunk);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '', refusal: null });
    const content = chunks.filter((c) => c.choices[0]?.delta.content);
    expect(content).toHaveLength(20);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length');
    expect(chunks.at(-1)!.choices).toEqual([]);
    expect(chunks.at(-1)!.usage!.completion_tokens).toBe(20);
    for (const c of chunks) {
      expect(c.system_fingerprint).toBeTruthy();
      expect(c.service_tier).toBe('default');
    }
  });

  it('paces chunks: the first after firstTokenMs, then perTokenMs per token, so it arrives well before the last', async () => {
    sim.configure({ latency: { firstTokenMs: 30, perTokenMs: 25 } });
    const { events } = await readEvents(sim.url, body());
    const content = events.filter((e) => e.data.includes('"content":"'));
    const first = content[0]!.at;
    const last = content.at(-1)!.at;
    expect(first).toBeGreaterThanOrEqual(25);
    expect(last - first).toBeGreaterThanOrEqual(19 * 25 * 0.9);
    expect(first).toBeLessThan(last / 3);
    sim.configure({ latency: {} });
  });

  it('charges TPM at admission the same for a streamed and a non-streamed body', async () => {
    sim.reset();
    await client.chat.completions.create({
      ...body(),
      stream: false,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const nonStreamed = sim.stats().tokensCharged;
    sim.reset();
    for await (const _ of await client.chat.completions.create(
      body() as OpenAI.ChatCompletionCreateParamsStreaming,
    )) {
      // drain
    }
    expect(sim.stats().tokensCharged).toBe(nonStreamed);
    expect(sim.stats().ok).toBe(1);
  });

  it('counts a client that closes mid-stream, with the tokens it got, and stops writing to it', async () => {
    sim.reset();
    sim.configure({ latency: { perTokenMs: 40 } });
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      body() as OpenAI.ChatCompletionCreateParamsStreaming,
      {
        signal: controller.signal,
      },
    );
    let received = 0;
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) received++;
        if (received === 3) controller.abort();
      }
    } catch {
      // the SDK throws APIUserAbortError
    }
    await until('the abort to be seen', () => sim.stats().aborted === 1);
    const { abortedAfterTokens, ok, byEndpoint } = sim.stats();
    expect(abortedAfterTokens).toBeGreaterThanOrEqual(3);
    expect(abortedAfterTokens).toBeLessThan(20);
    expect(ok).toBe(0);
    expect(byEndpoint['chat.completions']!.aborted).toBe(1);
    // Nothing more is generated for it: the count stays where it was.
    await new Promise((r) => setTimeout(r, 150));
    expect(sim.stats().abortedAfterTokens).toBe(abortedAfterTokens);
    sim.configure({ latency: {} });
  });

  it('counts a client that gives up while a non-streamed answer is still being generated', async () => {
    sim.reset();
    sim.configure({ latency: { baseMs: 2_000 } });
    const controller = new AbortController();
    const call = client.chat.completions.create(
      { ...body(), stream: false } as OpenAI.ChatCompletionCreateParamsNonStreaming,
      {
        signal: controller.signal,
      },
    );
    await until('the request to arrive', () => sim.stats().requests === 1);
    controller.abort();
    await expect(call).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    await until('the abort to be seen', () => sim.stats().aborted === 1);
    expect(sim.stats()).toMatchObject({ ok: 0, abortedAfterTokens: 0 });
    sim.configure({ latency: {} });
  });

  it('drops every stream after exactly dropAfterChunks chunks (no [DONE]) and counts the drop', async () => {
    sim.reset();
    sim.configure({ faults: { dropAfterChunks: 4 } });
    const stream = await client.chat.completions.create(body() as OpenAI.ChatCompletionCreateParamsStreaming);
    const got: OpenAI.ChatCompletionChunk[] = [];
    const error = await (async () => {
      for await (const chunk of stream) got.push(chunk);
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(got).toHaveLength(4);
    expect(sim.stats()).toMatchObject({ drops: 1, ok: 0 });
    // A non-streamed call is not affected.
    const whole = await client.chat.completions.create({
      ...body(),
      stream: false,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(whole.object).toBe('chat.completion');
    sim.configure({ faults: {} });
  });
});
