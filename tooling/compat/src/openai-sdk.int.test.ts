import type { TestSluice } from '@sluice/broker/testing';
import OpenAI from 'openai';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  CANNED_ANSWER_START,
  DIMENSIONS_REFUSAL,
  FUTURE_PARAMETER,
  lastUpstreamBody,
  MAX_TOKENS_REFUSAL,
  Recipe,
  startCompatSluice,
  WEATHER_RESULT,
  WeatherArgs,
} from './__tests__/compat-sluice';

type ApiError = InstanceType<typeof OpenAI.APIError>;

// The official openai SDK as its users use it: `new OpenAI({ baseURL, apiKey })` and nothing else
// (default retries, default timeouts, default embedding encoding), every brokered endpoint.
describe('the openai SDK against Sluice', () => {
  let s: TestSluice;
  let openai: OpenAI;

  beforeAll(async () => {
    s = await startCompatSluice();
    openai = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.tenant.apiKey });
  }, 60_000);
  afterAll(async () => {
    await s?.close();
  });

  const hello: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Say hello to Sluice' }];
  const caught = <T>(p: Promise<T>) =>
    p.then(
      () => {
        throw new Error('expected the call to fail');
      },
      (e: unknown) => e as ApiError,
    );
  /** Drains a stream the way `for await` users do; the error, if any, is what the loop throws. */
  const drain = async (stream: AsyncIterable<unknown>) => {
    for await (const _ of stream);
  };

  describe('chat completions', () => {
    it('answers a chat', async () => {
      const c = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: hello });
      expect(c.object).toBe('chat.completion');
      expect(c.choices).toHaveLength(1);
      expect(c.choices[0]!.message.role).toBe('assistant');
      expect(c.choices[0]!.message.content).toContain(CANNED_ANSWER_START);
      expect(c.choices[0]!.finish_reason).toBe('stop');
      expect(c.usage!.prompt_tokens).toBeGreaterThan(0);
      expect(c.usage!.completion_tokens).toBeGreaterThan(0);
    });

    it('streams a chat: role first, then the content, the finish, and the usage chunk last', async () => {
      const stream = await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: hello,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks: OpenAI.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
      const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
      expect(content).toContain(CANNED_ANSWER_START);
      const finish = chunks.find((c) => c.choices[0]?.finish_reason);
      expect(finish!.choices[0]!.finish_reason).toBe('stop');
      const last = chunks.at(-1)!;
      expect(last.choices).toEqual([]);
      expect(last.usage!.completion_tokens).toBeGreaterThan(0);
      expect(last.usage!.total_tokens).toBe(last.usage!.prompt_tokens + last.usage!.completion_tokens);
      expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    });

    it("streams through the SDK's helper: finalChatCompletion and the content events", async () => {
      const runner = openai.chat.completions.stream({
        model: 'gpt-4o-mini',
        messages: hello,
        stream_options: { include_usage: true },
      });
      let deltas = '';
      runner.on('content', (delta) => {
        deltas += delta;
      });
      const final = await runner.finalChatCompletion();
      expect(final.choices[0]!.message.content).toBe(deltas);
      expect(deltas).toContain(CANNED_ANSWER_START);
      expect(final.usage!.completion_tokens).toBeGreaterThan(0);
    });

    it('runs a tools round trip: the model asks for the tool, the result goes back, the model answers', async () => {
      const tools: OpenAI.ChatCompletionTool[] = [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'The weather in a city',
            parameters: {
              type: 'object',
              properties: {
                city: { type: 'string' },
                unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
              },
              required: ['city', 'unit'],
              additionalProperties: false,
            },
            strict: true,
          },
        },
      ];
      const messages: ChatCompletionMessageParam[] = [
        { role: 'user', content: 'What is the weather in Paris?' },
      ];
      const first = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
      const call = first.choices[0]!.message.tool_calls![0]!;
      expect(first.choices[0]!.finish_reason).toBe('tool_calls');
      expect(call.type).toBe('function');
      if (call.type !== 'function') throw new Error('a function call was expected');
      expect(call.function.name).toBe('get_weather');
      expect(WeatherArgs.safeParse(JSON.parse(call.function.arguments)).success).toBe(true);

      messages.push(first.choices[0]!.message, {
        role: 'tool',
        tool_call_id: call.id,
        content: JSON.stringify(WEATHER_RESULT),
      });
      const second = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
      expect(second.choices[0]!.finish_reason).toBe('stop');
      expect(second.choices[0]!.message.content).toContain('sunny');
      // The tool result reached the upstream as the client sent it.
      expect(lastUpstreamBody(s, 'chat.completions')!.messages).toEqual(messages);
    });

    it('streams a tool call: its id and name first, then the arguments in pieces', async () => {
      const stream = await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Weather in Rome?' }],
        tools: [zodFunction({ name: 'get_weather', parameters: WeatherArgs })],
        tool_choice: 'required',
        stream: true,
      });
      let name = '';
      let args = '';
      let id = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        const delta = chunk.choices[0]?.delta;
        const tc = delta?.tool_calls?.[0];
        if (tc?.id) id = tc.id;
        name += tc?.function?.name ?? '';
        args += tc?.function?.arguments ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(id).toMatch(/^call_/);
      expect(name).toBe('get_weather');
      expect(WeatherArgs.safeParse(JSON.parse(args)).success).toBe(true);
      expect(finish).toBe('tool_calls');
    });

    it('streams a custom tool call (type custom, its name and input) and a legacy function call', async () => {
      const custom = await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Run some code' }],
        tools: [{ type: 'custom', custom: { name: 'code_exec', description: 'Runs Python' } }],
        tool_choice: 'required',
        stream: true,
      });
      // The SDK's chunk type knows function calls only: custom ones are read as they arrive.
      type CustomDelta = { id?: string; type?: string; custom?: { name?: string; input?: string } };
      const call = { id: '', type: '', name: '', input: '' };
      for await (const chunk of custom) {
        const tc = chunk.choices[0]?.delta.tool_calls?.[0] as CustomDelta | undefined;
        call.id ||= tc?.id ?? '';
        call.type ||= tc?.type ?? '';
        call.name += tc?.custom?.name ?? '';
        call.input += tc?.custom?.input ?? '';
      }
      expect(call).toMatchObject({ type: 'custom', name: 'code_exec' });
      expect(call.id).toMatch(/^call_/);
      expect(call.input.length).toBeGreaterThan(0);

      const legacy = await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
        functions: [{ name: 'get_weather', parameters: z.toJSONSchema(WeatherArgs) }],
        stream: true,
      });
      const fn = { name: '', arguments: '' };
      let finish: string | null = null;
      for await (const chunk of legacy) {
        fn.name += chunk.choices[0]?.delta.function_call?.name ?? '';
        fn.arguments += chunk.choices[0]?.delta.function_call?.arguments ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(fn.name).toBe('get_weather');
      expect(WeatherArgs.safeParse(JSON.parse(fn.arguments)).success).toBe(true);
      expect(finish).toBe('function_call');
    });

    it("runs tools with the SDK's own loop (runTools with zodFunction), several steps", async () => {
      const asked: unknown[] = [];
      const runner = openai.chat.completions.runTools({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'What is the weather in Oslo?' }],
        tools: [
          zodFunction({
            name: 'get_weather',
            parameters: WeatherArgs,
            function: (args) => {
              asked.push(args);
              return WEATHER_RESULT;
            },
          }),
        ],
      });
      const content = await runner.finalContent();
      expect(asked).toHaveLength(1);
      expect(WeatherArgs.safeParse(asked[0]).success).toBe(true);
      expect(content).toContain('sunny');
      expect(runner.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    });

    it('parses structured output: zodResponseFormat and chat.completions.parse', async () => {
      const c = await openai.chat.completions.parse({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'A recipe for soup' }],
        response_format: zodResponseFormat(Recipe, 'recipe'),
      });
      const parsed = c.choices[0]!.message.parsed;
      expect(parsed).not.toBeNull();
      expect(Recipe.parse(parsed)).toEqual(parsed);
      const sent = lastUpstreamBody(s, 'chat.completions')!.response_format as { type: string };
      expect(sent.type).toBe('json_schema');
    });

    it('parses structured output from a stream too (chat.completions.stream with zodResponseFormat)', async () => {
      const runner = openai.chat.completions.stream({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'A recipe for soup' }],
        response_format: zodResponseFormat(Recipe, 'recipe'),
      });
      const final = await runner.finalChatCompletion();
      const parsed = final.choices[0]!.message.parsed;
      expect(Recipe.parse(parsed)).toEqual(parsed);
    });

    it('takes image, audio and file content parts, and a developer message, and passes them on', async () => {
      const pixel =
        'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
      const messages: ChatCompletionMessageParam[] = [
        { role: 'developer', content: 'Answer briefly.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this picture, recording and file?' },
            { type: 'image_url', image_url: { url: pixel, detail: 'low' } },
            { type: 'input_audio', input_audio: { data: 'UklGRiQAAABXQVZF', format: 'wav' } },
            { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' } },
          ],
        },
      ];
      const c = await openai.chat.completions.create({ model: 'gpt-4o', messages });
      expect(c.choices[0]!.message.content).toContain(CANNED_ANSWER_START);
      expect(lastUpstreamBody(s, 'chat.completions')!.messages).toEqual(messages);
    });

    it('answers n choices', async () => {
      const c = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: hello, n: 3 });
      expect(c.choices.map((x) => x.index)).toEqual([0, 1, 2]);
      for (const choice of c.choices) expect(choice.message.content).toContain(CANNED_ANSWER_START);
    });

    it('streams n choices, each with its own index', async () => {
      const stream = await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: hello,
        n: 2,
        stream: true,
      });
      const texts = ['', ''];
      for await (const chunk of stream)
        for (const choice of chunk.choices) texts[choice.index] += choice.delta.content ?? '';
      for (const text of texts) expect(text).toContain(CANNED_ANSWER_START);
    });

    it('gives logprobs and top_logprobs', async () => {
      const c = await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: hello,
        logprobs: true,
        top_logprobs: 2,
      });
      const content = c.choices[0]!.logprobs!.content!;
      expect(content.length).toBe(c.usage!.completion_tokens);
      expect(content.map((t) => t.token).join('')).toBe(c.choices[0]!.message.content);
      for (const t of content) {
        expect(t.logprob).toBeLessThanOrEqual(0);
        expect(t.top_logprobs).toHaveLength(2);
      }
    });

    it('streams logprobs: each content chunk carries those of its tokens', async () => {
      const stream = await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: hello,
        logprobs: true,
        top_logprobs: 1,
        stream: true,
      });
      let text = '';
      let tokens = '';
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        if (!choice?.delta.content) continue;
        text += choice.delta.content;
        expect(choice.logprobs?.content?.length).toBeGreaterThan(0);
        tokens += choice.logprobs!.content!.map((t) => t.token).join('');
      }
      expect(text).toContain(CANNED_ANSWER_START);
      expect(tokens).toBe(text);
    });

    it('passes an unknown future parameter, and newer ones, to the upstream unchanged', async () => {
      const newer = { reasoning_effort: 'none', prompt_cache_retention: '24h', verbosity: 'low' } as const;
      await openai.chat.completions.create({
        model: 'gpt-5-mini',
        messages: hello,
        ...newer,
        // The SDK's documented way to send a parameter its types do not know yet.
        // @ts-expect-error not in the SDK's types
        some_future_parameter: FUTURE_PARAMETER.some_future_parameter,
      });
      expect(lastUpstreamBody(s, 'chat.completions')).toEqual({
        model: 'gpt-5-mini',
        messages: hello,
        ...newer,
        ...FUTURE_PARAMETER,
      });
    });

    it("relays the upstream's 400 as sent: BadRequestError with its message, param and code", async () => {
      const e = await caught(
        openai.chat.completions.create({ model: 'o3', messages: hello, max_tokens: 10 }),
      );
      expect(e).toBeInstanceOf(OpenAI.BadRequestError);
      expect(e.status).toBe(400);
      expect(e.message).toBe(`400 ${MAX_TOKENS_REFUSAL}`);
      expect(e.param).toBe('max_tokens');
      expect(e.code).toBe('unsupported_parameter');
      expect(e.type).toBe('invalid_request_error');
      expect(e.requestID).toMatch(/^req_/);
    });

    it('relays it on a stream as the HTTP error the SDK throws from create, not an event inside a 200', async () => {
      const e = await caught(
        openai.chat.completions
          .create({ model: 'o3', messages: hello, max_tokens: 10, stream: true })
          .then(drain),
      );
      expect(e).toBeInstanceOf(OpenAI.BadRequestError);
      expect(e.status).toBe(400);
      expect(e.message).toBe(`400 ${MAX_TOKENS_REFUSAL}`);
      expect(e.param).toBe('max_tokens');
    });

    it("gives the upstream's x-request-id as the SDK's request id, beside Sluice's own", async () => {
      const { response, request_id } = await openai.chat.completions
        .create({ model: 'gpt-4o-mini', messages: hello })
        .withResponse();
      const sluiceId = response.headers.get('x-sluice-request-id');
      expect(sluiceId).toMatch(/^req_/);
      expect(request_id).toMatch(/^req_/);
      expect(request_id).not.toBe(sluiceId);
      const completion = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: hello });
      expect(completion._request_id).toMatch(/^req_/);
      expect(completion._request_id).not.toBe(request_id);
      expect(Number(response.headers.get('openai-processing-ms'))).toBeGreaterThanOrEqual(0);
      const streamed = await openai.chat.completions
        .create({ model: 'gpt-4o-mini', messages: hello, stream: true })
        .withResponse();
      expect(streamed.request_id).toMatch(/^req_/);
      expect(streamed.request_id).not.toBe(streamed.response.headers.get('x-sluice-request-id'));
      await drain(streamed.data);
    });

    it('binds an Idempotency-Key to its body: the same body again is the same answer, another a 422', async () => {
      const key = `compat-openai-${Date.now()}`;
      const headers = { 'Idempotency-Key': key };
      const first = await openai.chat.completions.create(
        { model: 'gpt-4o-mini', messages: hello },
        { headers },
      );
      const again = await openai.chat.completions.create(
        { messages: hello, model: 'gpt-4o-mini' },
        { headers },
      );
      expect(again.id).toBe(first.id);
      expect(again.choices).toEqual(first.choices);
      const e = await caught(
        openai.chat.completions.create({ model: 'gpt-4o-mini', messages: hello, n: 2 }, { headers }),
      );
      expect(e).toBeInstanceOf(OpenAI.UnprocessableEntityError);
      expect(e.status).toBe(422);
      expect(e.code).toBe('idempotency_key_reused');
    });
  });

  describe('embeddings', () => {
    it("returns vectors through the SDK's default base64 encoding, decoded to floats", async () => {
      const r = await openai.embeddings.create({
        model: 'text-embedding-3-small',
        input: ['a cat', 'a dog'],
      });
      expect(r.data.map((d) => d.index)).toEqual([0, 1]);
      for (const d of r.data) {
        expect(d.embedding).toHaveLength(1536);
        expect(typeof d.embedding[0]).toBe('number');
        expect(Math.hypot(...d.embedding)).toBeCloseTo(1, 3);
      }
      expect(r.data[0]!.embedding).not.toEqual(r.data[1]!.embedding);
      expect(r.usage.prompt_tokens).toBeGreaterThan(0);
      expect(lastUpstreamBody(s, 'embeddings')!.encoding_format).toBe('base64');
    });

    it("encoding_format 'float' gives the same vector, and dimensions shortens it", async () => {
      const base64 = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'a cat' });
      const float = await openai.embeddings.create({
        model: 'text-embedding-3-small',
        input: 'a cat',
        encoding_format: 'float',
      });
      expect(lastUpstreamBody(s, 'embeddings')!.encoding_format).toBe('float');
      const a = base64.data[0]!.embedding;
      const b = float.data[0]!.embedding;
      expect(b).toHaveLength(a.length);
      for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 6);
      const short = await openai.embeddings.create({
        model: 'text-embedding-3-small',
        input: 'a cat',
        dimensions: 256,
      });
      expect(short.data[0]!.embedding).toHaveLength(256);
    });

    it("gives the base64 string itself when the caller asks for encoding_format 'base64'", async () => {
      const r = await openai.embeddings.create({
        model: 'text-embedding-3-small',
        input: 'a cat',
        encoding_format: 'base64',
      });
      const raw = r.data[0]!.embedding as unknown as string;
      expect(typeof raw).toBe('string');
      // Little-endian float32, copied out of Buffer's shared pool.
      const floats = new Float32Array(Uint8Array.from(Buffer.from(raw, 'base64')).buffer);
      const decoded = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'a cat' });
      expect(Array.from(floats)).toEqual(decoded.data[0]!.embedding);
    });

    it('passes an unknown future parameter to the upstream unchanged', async () => {
      await openai.embeddings.create({
        model: 'text-embedding-3-small',
        input: 'a cat',
        encoding_format: 'float',
        user: 'u-1',
        // @ts-expect-error not in the SDK's types
        some_future_parameter: FUTURE_PARAMETER.some_future_parameter,
      });
      expect(lastUpstreamBody(s, 'embeddings')).toEqual({
        model: 'text-embedding-3-small',
        input: 'a cat',
        encoding_format: 'float',
        user: 'u-1',
        ...FUTURE_PARAMETER,
      });
    });

    it("relays the upstream's 400 (dimensions on ada-002) as a BadRequestError", async () => {
      const e = await caught(
        openai.embeddings.create({ model: 'text-embedding-ada-002', input: 'a cat', dimensions: 256 }),
      );
      expect(e).toBeInstanceOf(OpenAI.BadRequestError);
      expect(e.message).toBe(`400 ${DIMENSIONS_REFUSAL}`);
      expect(e.param).toBe('dimensions');
    });

    it("gives the upstream's x-request-id, and binds an Idempotency-Key to its body", async () => {
      const { request_id } = await openai.embeddings
        .create({ model: 'text-embedding-3-small', input: 'a cat' })
        .withResponse();
      expect(request_id).toMatch(/^req_/);
      const r = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'a cat' });
      expect(r._request_id).toMatch(/^req_/);

      const headers = { 'Idempotency-Key': `compat-embeddings-${Date.now()}` };
      const first = await openai.embeddings.create(
        { model: 'text-embedding-3-small', input: 'x' },
        { headers },
      );
      const again = await openai.embeddings.create(
        { model: 'text-embedding-3-small', input: 'x' },
        { headers },
      );
      expect(again.data).toEqual(first.data);
      const e = await caught(
        openai.embeddings.create({ model: 'text-embedding-3-small', input: 'y' }, { headers }),
      );
      expect(e).toBeInstanceOf(OpenAI.UnprocessableEntityError);
      expect(e.code).toBe('idempotency_key_reused');
    });
  });

  describe('completions (legacy)', () => {
    const model = 'gpt-3.5-turbo-instruct';

    it('completes a prompt, n choices and logprobs', async () => {
      const c = await openai.completions.create({ model, prompt: 'Say hello', max_tokens: 12 });
      expect(c.object).toBe('text_completion');
      expect(c.choices[0]!.text.length).toBeGreaterThan(0);
      expect(c.usage!.completion_tokens).toBeGreaterThan(0);

      const n = await openai.completions.create({ model, prompt: 'Say hello', n: 2, logprobs: 2 });
      expect(n.choices.map((x) => x.index)).toEqual([0, 1]);
      const lp = n.choices[0]!.logprobs!;
      expect(lp.tokens!.join('')).toBe(n.choices[0]!.text);
      expect(lp.token_logprobs!.every((p) => p <= 0)).toBe(true);
    });

    it('streams a completion with its usage chunk, and logprobs on the text chunks', async () => {
      const stream = await openai.completions.create({
        model,
        prompt: 'Say hello',
        max_tokens: 12,
        logprobs: 1,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks: OpenAI.Completion[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      const text = chunks.map((c) => c.choices[0]?.text ?? '').join('');
      expect(text.length).toBeGreaterThan(0);
      const tokens = chunks.flatMap((c) => c.choices[0]?.logprobs?.tokens ?? []).join('');
      expect(tokens).toBe(text);
      const last = chunks.at(-1)!;
      expect(last.choices).toEqual([]);
      expect(last.usage!.completion_tokens).toBeGreaterThan(0);
    });

    it('passes an unknown future parameter unchanged', async () => {
      await openai.completions.create({
        model,
        prompt: 'Say hello',
        // @ts-expect-error not in the SDK's types
        some_future_parameter: FUTURE_PARAMETER.some_future_parameter,
      });
      expect(lastUpstreamBody(s, 'completions')).toEqual({ model, prompt: 'Say hello', ...FUTURE_PARAMETER });
    });

    it("relays the upstream's 400 (logprobs above 5), streamed and not", async () => {
      const plain = await caught(openai.completions.create({ model, prompt: 'Say hello', logprobs: 6 }));
      expect(plain).toBeInstanceOf(OpenAI.BadRequestError);
      expect(plain.param).toBe('logprobs');
      expect(plain.message).toMatch(/^400 Invalid 'logprobs'/);
      const streamed = await caught(
        openai.completions.create({ model, prompt: 'Say hello', logprobs: 6, stream: true }).then(drain),
      );
      expect(streamed).toBeInstanceOf(OpenAI.BadRequestError);
      expect(streamed.message).toBe(plain.message);
    });

    it("gives the upstream's x-request-id, and binds an Idempotency-Key to its body", async () => {
      const { request_id } = await openai.completions.create({ model, prompt: 'Say hello' }).withResponse();
      expect(request_id).toMatch(/^req_/);
      const headers = { 'Idempotency-Key': `compat-completions-${Date.now()}` };
      const first = await openai.completions.create({ model, prompt: 'a' }, { headers });
      const again = await openai.completions.create({ model, prompt: 'a' }, { headers });
      expect(again.id).toBe(first.id);
      const e = await caught(openai.completions.create({ model, prompt: 'b' }, { headers }));
      expect(e).toBeInstanceOf(OpenAI.UnprocessableEntityError);
    });
  });

  describe('moderations', () => {
    it('classifies text, one result per input, with the default model', async () => {
      const r = await openai.moderations.create({ input: ['I will kill you', 'What a lovely day'] });
      expect(r.model).toMatch(/moderation/);
      expect(r.results.map((x) => x.flagged)).toEqual([true, false]);
      expect(r.results[0]!.categories.violence).toBe(true);
      expect(lastUpstreamBody(s, 'moderations')).toEqual({ input: ['I will kill you', 'What a lovely day'] });
    });

    it('classifies multimodal input on an omni model', async () => {
      const r = await openai.moderations.create({
        model: 'omni-moderation-latest',
        input: [
          { type: 'text', text: 'What a lovely day' },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
        ],
      });
      expect(r.results).toHaveLength(1);
      expect(r.results[0]!.category_applied_input_types).toBeDefined();
    });

    it('passes an unknown future parameter unchanged', async () => {
      await openai.moderations.create({
        model: 'omni-moderation-latest',
        input: 'hello',
        // @ts-expect-error not in the SDK's types
        some_future_parameter: FUTURE_PARAMETER.some_future_parameter,
      });
      expect(lastUpstreamBody(s, 'moderations')).toEqual({
        model: 'omni-moderation-latest',
        input: 'hello',
        ...FUTURE_PARAMETER,
      });
    });

    it("relays the upstream's 400 (an image for a text-only model) as a BadRequestError", async () => {
      const e = await caught(
        openai.moderations.create({
          model: 'text-moderation-latest',
          input: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }],
        }),
      );
      expect(e).toBeInstanceOf(OpenAI.BadRequestError);
      expect(e.param).toBe('input');
      expect(e.message).toContain('does not support image inputs');
    });

    it("gives the upstream's x-request-id, and binds an Idempotency-Key to its body", async () => {
      const { request_id } = await openai.moderations.create({ input: 'hello' }).withResponse();
      expect(request_id).toMatch(/^req_/);
      const headers = { 'Idempotency-Key': `compat-moderations-${Date.now()}` };
      const first = await openai.moderations.create({ input: 'hello' }, { headers });
      const again = await openai.moderations.create({ input: 'hello' }, { headers });
      expect(again.id).toBe(first.id);
      const e = await caught(openai.moderations.create({ input: 'bye' }, { headers }));
      expect(e).toBeInstanceOf(OpenAI.UnprocessableEntityError);
    });
  });

  describe('authentication', () => {
    it('is an AuthenticationError (401) on every brokered endpoint with a bad key, streamed or not', async () => {
      const bad = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sk-not-a-sluice-key' });
      const calls = [
        () => bad.chat.completions.create({ model: 'gpt-4o-mini', messages: hello }),
        () =>
          bad.chat.completions.create({ model: 'gpt-4o-mini', messages: hello, stream: true }).then(drain),
        () => bad.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }),
        () => bad.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x' }),
        () => bad.moderations.create({ input: 'x' }),
        () => bad.models.list(),
      ];
      for (const call of calls) {
        const e = await caught<unknown>(call());
        expect(e).toBeInstanceOf(OpenAI.AuthenticationError);
        expect(e.code).toBe('invalid_api_key');
      }
    });
  });
});
