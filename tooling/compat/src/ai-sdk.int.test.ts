import { createOpenAI, type OpenAIProvider } from '@ai-sdk/openai';
import type { TestSluice } from '@sluice/broker/testing';
import {
  APICallError,
  embed,
  embedMany,
  generateObject,
  generateText,
  type ModelMessage,
  stepCountIs,
  streamObject,
  streamText,
  tool,
} from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CANNED_ANSWER_START,
  DIMENSIONS_REFUSAL,
  lastUpstreamBody,
  Recipe,
  startCompatSluice,
  TOP_LOGPROBS_REFUSAL,
  WEATHER_RESULT,
  WeatherArgs,
} from './__tests__/compat-sluice';

interface TokenLogprob {
  token: string;
  logprob: number;
  top_logprobs: unknown[];
}

// The Vercel AI SDK as its users use it: `createOpenAI({ baseURL, apiKey })`, `openai.chat(model)`
// for chat completions (`openai(model)` alone calls the Responses API) and `openai.embedding(model)`.
// The AI SDK sends only the parameters it knows (no `n`, no unknown fields), so those cases are
// covered by the other clients; newer parameters it knows are checked here.
describe('the Vercel AI SDK against Sluice', () => {
  let s: TestSluice;
  let openai: OpenAIProvider;

  beforeAll(async () => {
    s = await startCompatSluice();
    openai = createOpenAI({ baseURL: `${s.url}/v1`, apiKey: s.tenant.apiKey });
  }, 60_000);
  afterAll(async () => {
    await s?.close();
  });

  const caught = <T>(p: Promise<T>) =>
    p.then(
      () => {
        throw new Error('expected the call to fail');
      },
      (e: unknown) => e as APICallError,
    );
  const weather = (calls: unknown[] = []) =>
    tool({
      description: 'The weather in a city',
      inputSchema: WeatherArgs,
      execute: async (args) => {
        calls.push(args);
        return WEATHER_RESULT;
      },
    });

  describe('chat models (openai.chat)', () => {
    it('generateText answers, with its usage', async () => {
      const r = await generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Say hello to Sluice' });
      expect(r.text).toContain(CANNED_ANSWER_START);
      expect(r.finishReason).toBe('stop');
      expect(r.usage.inputTokens).toBeGreaterThan(0);
      expect(r.usage.outputTokens).toBeGreaterThan(0);
      expect(r.response.id).toMatch(/^chatcmpl-/);
    });

    it('streamText streams the text and reports the usage chunk', async () => {
      const r = streamText({ model: openai.chat('gpt-4o-mini'), prompt: 'Say hello to Sluice' });
      const parts: string[] = [];
      for await (const part of r.textStream) parts.push(part);
      expect(parts.join('')).toContain(CANNED_ANSWER_START);
      const usage = await r.usage;
      expect(usage.outputTokens).toBeGreaterThan(0);
      expect(usage.totalTokens).toBe(usage.inputTokens! + usage.outputTokens!);
      expect(await r.finishReason).toBe('stop');
    });

    it('runs tools over several steps: the call, its result, then the answer', async () => {
      const calls: unknown[] = [];
      const r = await generateText({
        model: openai.chat('gpt-4o-mini'),
        tools: { get_weather: weather(calls) },
        stopWhen: stepCountIs(3),
        prompt: 'What is the weather in Paris?',
      });
      expect(calls).toHaveLength(1);
      expect(WeatherArgs.safeParse(calls[0]).success).toBe(true);
      expect(r.steps.map((step) => step.finishReason)).toEqual(['tool-calls', 'stop']);
      expect(r.text).toContain('sunny');
      const sent = lastUpstreamBody(s, 'chat.completions')!.messages as Array<{ role: string }>;
      expect(sent.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    });

    it("toolChoice 'required' makes the model call a tool, streamed too", async () => {
      const r = await generateText({
        model: openai.chat('gpt-4o-mini'),
        tools: { get_weather: weather() },
        toolChoice: 'required',
        prompt: 'Hello there',
      });
      expect(lastUpstreamBody(s, 'chat.completions')!.tool_choice).toBe('required');
      expect(r.toolCalls).toHaveLength(1);
      expect(r.toolCalls[0]!.toolName).toBe('get_weather');
      expect(r.toolResults[0]!.output).toEqual(WEATHER_RESULT);

      const streamed = streamText({
        model: openai.chat('gpt-4o-mini'),
        tools: { get_weather: weather() },
        toolChoice: 'required',
        prompt: 'Hello there',
      });
      const toolCalls = await streamed.toolCalls;
      expect(toolCalls).toHaveLength(1);
      expect(WeatherArgs.safeParse(toolCalls[0]!.input).success).toBe(true);
    });

    it('runs tools over several steps with streamText', async () => {
      const calls: unknown[] = [];
      const r = streamText({
        model: openai.chat('gpt-4o-mini'),
        tools: { get_weather: weather(calls) },
        stopWhen: stepCountIs(3),
        prompt: 'What is the weather in Rome?',
      });
      expect(await r.text).toContain('sunny');
      expect(calls).toHaveLength(1);
      expect((await r.steps).length).toBe(2);
    });

    it('round-trips a tool result given by the caller as messages', async () => {
      const messages: ModelMessage[] = [
        { role: 'user', content: 'What is the weather in Oslo?' },
        {
          role: 'assistant',
          content: [
            {
              type: 'tool-call',
              toolCallId: 'call_1',
              toolName: 'get_weather',
              input: { city: 'Oslo', unit: 'celsius' },
            },
          ],
        },
        {
          role: 'tool',
          content: [
            {
              type: 'tool-result',
              toolCallId: 'call_1',
              toolName: 'get_weather',
              output: { type: 'json', value: WEATHER_RESULT },
            },
          ],
        },
      ];
      const r = await generateText({
        model: openai.chat('gpt-4o-mini'),
        tools: { get_weather: weather() },
        messages,
      });
      expect(r.finishReason).toBe('stop');
      expect(r.text).toContain('sunny');
    });

    it('generateObject parses structured output against a zod schema (json_schema)', async () => {
      const r = await generateObject({
        model: openai.chat('gpt-4o-mini'),
        schema: Recipe,
        prompt: 'A recipe for soup',
      });
      expect(Recipe.parse(r.object)).toEqual(r.object);
      const sent = lastUpstreamBody(s, 'chat.completions')!.response_format as { type: string };
      expect(sent.type).toBe('json_schema');
    });

    it('streamObject streams partial objects and ends with one valid against the schema', async () => {
      const r = streamObject({
        model: openai.chat('gpt-4o-mini'),
        schema: Recipe,
        prompt: 'A recipe for soup',
      });
      const partials: unknown[] = [];
      for await (const partial of r.partialObjectStream) partials.push(partial);
      expect(partials.length).toBeGreaterThan(0);
      const object = await r.object;
      expect(Recipe.parse(object)).toEqual(object);
    });

    it('calls a reasoning model as the SDK maps it: developer message, max_completion_tokens', async () => {
      const r = await generateText({
        model: openai.chat('o3'),
        system: 'Answer briefly.',
        prompt: 'Say hello',
        maxOutputTokens: 200,
      });
      expect(r.text.length).toBeGreaterThan(0);
      const sent = lastUpstreamBody(s, 'chat.completions')!;
      expect(sent).toMatchObject({ model: 'o3', max_completion_tokens: 200 });
      expect(sent.max_tokens).toBeUndefined();
      expect((sent.messages as Array<{ role: string }>).map((m) => m.role)).toEqual(['developer', 'user']);
    });

    it('gives logprobs in the provider metadata, streamed and not', async () => {
      const providerOptions = { openai: { logprobs: 2 } };
      const r = await generateText({
        model: openai.chat('gpt-4o-mini'),
        prompt: 'Say hello',
        providerOptions,
      });
      const logprobs = r.providerMetadata!.openai!.logprobs as unknown as TokenLogprob[];
      expect(logprobs.map((t) => t.token).join('')).toBe(r.text);
      for (const t of logprobs) {
        expect(t.logprob).toBeLessThanOrEqual(0);
        expect(t.top_logprobs).toHaveLength(2);
      }

      const streamed = streamText({
        model: openai.chat('gpt-4o-mini'),
        prompt: 'Say hello',
        providerOptions,
      });
      const text = await streamed.text;
      const streamedLogprobs = (await streamed.providerMetadata)!.openai!
        .logprobs as unknown as TokenLogprob[];
      expect(streamedLogprobs.map((t) => t.token).join('')).toBe(text);
    });

    it('passes newer parameters it knows to the upstream unchanged', async () => {
      await generateText({
        model: openai.chat('gpt-5-mini'),
        prompt: 'Say hello',
        providerOptions: {
          openai: {
            reasoningEffort: 'xhigh',
            promptCacheRetention: '24h',
            textVerbosity: 'low',
            serviceTier: 'flex',
          },
        },
      });
      expect(lastUpstreamBody(s, 'chat.completions')).toMatchObject({
        model: 'gpt-5-mini',
        reasoning_effort: 'xhigh',
        prompt_cache_retention: '24h',
        verbosity: 'low',
        service_tier: 'flex',
      });
    });

    it("relays the upstream's 400 as an APICallError with its status and message, streamed and not", async () => {
      const request = {
        model: openai.chat('gpt-4o-mini'),
        prompt: 'Say hello',
        providerOptions: { openai: { logprobs: 25 } },
      };
      const plain = await caught(generateText(request));
      expect(APICallError.isInstance(plain)).toBe(true);
      expect(plain.statusCode).toBe(400);
      expect(plain.message).toContain(TOP_LOGPROBS_REFUSAL);
      expect(plain.isRetryable).toBe(false);
      expect(JSON.parse(plain.responseBody!).error.param).toBe('top_logprobs');

      const errors: unknown[] = [];
      const streamed = streamText({ ...request, onError: ({ error }) => void errors.push(error) });
      await streamed.consumeStream();
      expect(errors).toHaveLength(1);
      const e = errors[0] as APICallError;
      expect(APICallError.isInstance(e)).toBe(true);
      expect(e.statusCode).toBe(400);
      expect(e.message).toBe(plain.message);
    });

    it("gives the upstream's x-request-id in the response headers, streamed and not", async () => {
      const r = await generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Say hello' });
      const headers = r.response.headers!;
      expect(headers['x-request-id']).toMatch(/^req_/);
      expect(headers['x-request-id']).not.toBe(headers['x-sluice-request-id']);
      const streamed = streamText({ model: openai.chat('gpt-4o-mini'), prompt: 'Say hello' });
      await streamed.consumeStream();
      const streamedHeaders = (await streamed.response).headers!;
      expect(streamedHeaders['x-request-id']).toMatch(/^req_/);
      expect(streamedHeaders['x-request-id']).not.toBe(streamedHeaders['x-sluice-request-id']);
    });

    it('binds an Idempotency-Key to its body: the same body again is the same answer, another a 422', async () => {
      const headers = { 'Idempotency-Key': `compat-ai-sdk-${Date.now()}` };
      const first = await generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Say hello', headers });
      const again = await generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Say hello', headers });
      expect(again.response.id).toBe(first.response.id);
      expect(again.text).toBe(first.text);
      const e = await caught(
        generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Say goodbye', headers }),
      );
      expect(APICallError.isInstance(e)).toBe(true);
      expect(e.statusCode).toBe(422);
      expect(JSON.parse(e.responseBody!).error.code).toBe('idempotency_key_reused');
    });

    it('is an APICallError 401 with a bad key, streamed or not', async () => {
      const bad = createOpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sk-not-a-sluice-key' });
      const plain = await caught(generateText({ model: bad.chat('gpt-4o-mini'), prompt: 'hi' }));
      expect(APICallError.isInstance(plain)).toBe(true);
      expect(plain.statusCode).toBe(401);
      const errors: unknown[] = [];
      await streamText({
        model: bad.chat('gpt-4o-mini'),
        prompt: 'hi',
        onError: ({ error }) => void errors.push(error),
      }).consumeStream();
      expect((errors[0] as APICallError).statusCode).toBe(401);
    });
  });

  describe('legacy completion models (openai.completion)', () => {
    it('generateText and streamText complete a prompt, with usage', async () => {
      const model = openai.completion('gpt-3.5-turbo-instruct');
      const r = await generateText({ model, prompt: 'Say hello', maxOutputTokens: 12 });
      expect(r.text.length).toBeGreaterThan(0);
      expect(r.usage.outputTokens).toBeGreaterThan(0);
      const streamed = streamText({ model, prompt: 'Say hello', maxOutputTokens: 12 });
      expect(await streamed.text).toBe(r.text);
      expect((await streamed.usage).outputTokens).toBe(r.usage.outputTokens);
    });
  });

  describe('embedding models (openai.embedding)', () => {
    it('embed and embedMany give unit vectors, one per value, in order', async () => {
      const model = openai.embedding('text-embedding-3-small');
      const one = await embed({ model, value: 'a cat' });
      expect(one.embedding).toHaveLength(1536);
      expect(Math.hypot(...one.embedding)).toBeCloseTo(1, 3);
      expect(one.usage.tokens).toBeGreaterThan(0);
      const many = await embedMany({ model, values: ['a cat', 'a dog', 'a bird'] });
      expect(many.embeddings).toHaveLength(3);
      for (let i = 0; i < one.embedding.length; i++)
        expect(many.embeddings[0]![i]).toBeCloseTo(one.embedding[i]!, 6);
      expect(lastUpstreamBody(s, 'embeddings')).toMatchObject({
        input: ['a cat', 'a dog', 'a bird'],
        encoding_format: 'float',
      });
    });

    it('shortens vectors with the dimensions provider option', async () => {
      const r = await embed({
        model: openai.embedding('text-embedding-3-small'),
        value: 'a cat',
        providerOptions: { openai: { dimensions: 256 } },
      });
      expect(r.embedding).toHaveLength(256);
    });

    it("relays the upstream's 400 (dimensions on ada-002) as an APICallError", async () => {
      const e = await caught(
        embed({
          model: openai.embedding('text-embedding-ada-002'),
          value: 'a cat',
          providerOptions: { openai: { dimensions: 256 } },
        }),
      );
      expect(APICallError.isInstance(e)).toBe(true);
      expect(e.statusCode).toBe(400);
      expect(e.message).toBe(DIMENSIONS_REFUSAL);
    });

    it("gives the upstream's x-request-id, and binds an Idempotency-Key to its body", async () => {
      const model = openai.embedding('text-embedding-3-small');
      const r = await embed({ model, value: 'a cat' });
      expect(r.response!.headers!['x-request-id']).toMatch(/^req_/);
      const headers = { 'Idempotency-Key': `compat-ai-sdk-embed-${Date.now()}` };
      const first = await embedMany({ model, values: ['x', 'y'], headers });
      const again = await embedMany({ model, values: ['x', 'y'], headers });
      expect(again.embeddings).toEqual(first.embeddings);
      const e = await caught(embedMany({ model, values: ['x', 'z'], headers }));
      expect(e.statusCode).toBe(422);
    });

    it('is an APICallError 401 with a bad key', async () => {
      const bad = createOpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sk-not-a-sluice-key' });
      const e = await caught(embed({ model: bad.embedding('text-embedding-3-small'), value: 'a cat' }));
      expect(e.statusCode).toBe(401);
    });
  });
});
