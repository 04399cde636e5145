import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { freePort } from '@sluice/test-support';
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createProcessGroup, waitReady } from './__tests__/processes';

// The clients that call the Responses API by themselves, unchanged, against `sluice serve` as a new
// user starts it: embedded mode, no OPENAI_API_KEY (the built-in simulator is the upstream), the
// demo tenant's key. The Vercel AI SDK's default provider (`openai(model)`), the openai SDK's
// `responses.create` and its stream, and LangChain's ChatOpenAI with `useResponsesApi`.
describe('real Responses API clients against sluice serve', () => {
  let procs: ReturnType<typeof createProcessGroup>;
  let dataDir: string;
  let url: string;
  let apiKey: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sluice-responses-e2e-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    procs = createProcessGroup({
      PATH: process.env.PATH,
      SLUICE_DATA_DIR: dataDir,
      PORT: String(port),
      LOG_LEVEL: 'warn',
    });
    procs.start('serve', ['serve']);
    await waitReady(url, () => procs.output());
    apiKey = (await readFile(join(dataDir, 'demo-tenant.key'), 'utf8')).trim();
  }, 90_000);

  afterAll(async () => {
    await procs?.stopAll();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  describe('Vercel AI SDK, default provider openai(model) (the Responses API)', () => {
    const provider = () => createOpenAI({ baseURL: `${url}/v1`, apiKey });

    it('generateText', async () => {
      const r = await generateText({ model: provider()('gpt-4o-mini'), prompt: 'Say hello to Sluice' });
      expect(r.text.length).toBeGreaterThan(0);
      expect(r.usage.inputTokens).toBeGreaterThan(0);
      expect(r.usage.outputTokens).toBeGreaterThan(0);
      expect(r.finishReason).toBe('stop');
      expect(r.response.id).toMatch(/^resp_/);
    });

    it('generateObject with a zod schema', async () => {
      const schema = z.object({
        name: z.string(),
        ingredients: z.array(z.object({ item: z.string(), grams: z.number() })),
        vegetarian: z.boolean(),
      });
      const r = await generateObject({
        model: provider()('gpt-4o-mini'),
        schema,
        prompt: 'A recipe for soup',
      });
      expect(schema.safeParse(r.object).success).toBe(true);
    });

    it('tools over several steps: the call, its result, then the answer', async () => {
      const calls: string[] = [];
      const r = await generateText({
        model: provider()('gpt-4o-mini'),
        tools: {
          get_weather: tool({
            description: 'The weather in a city',
            inputSchema: z.object({ city: z.string() }),
            execute: async ({ city }) => {
              calls.push(city);
              return { city, forecast: 'sunny, 24 C' };
            },
          }),
        },
        stopWhen: stepCountIs(4),
        prompt: 'What is the weather in Paris?',
      });
      expect(calls).toHaveLength(1);
      expect(r.steps.length).toBe(2);
      expect(r.steps[0]!.toolCalls[0]).toMatchObject({ toolName: 'get_weather' });
      expect(r.text).toContain('sunny, 24 C');
    });

    it('streamText', async () => {
      const r = streamText({ model: provider()('gpt-4o-mini'), prompt: 'Stream a greeting' });
      let text = '';
      for await (const delta of r.textStream) text += delta;
      expect(text.length).toBeGreaterThan(0);
      expect(text).toBe(await r.text);
      expect((await r.usage).outputTokens).toBeGreaterThan(0);
      expect(await r.finishReason).toBe('stop');
    });
  });

  describe('openai SDK', () => {
    const client = () => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 });

    it('responses.create, chained by previous_response_id, and retrieved', async () => {
      const first = await client().responses.create({
        model: 'gpt-4o-mini',
        input: 'Remember the word teal',
      });
      expect(first.output_text.length).toBeGreaterThan(0);
      const next = await client().responses.create({
        model: 'gpt-4o-mini',
        input: 'Which word?',
        previous_response_id: first.id,
      });
      expect(next.previous_response_id).toBe(first.id);
      expect((await client().responses.retrieve(next.id)).output_text).toBe(next.output_text);
    });

    it('responses.create with stream: typed events to response.completed, and the stream helper', async () => {
      const stream = await client().responses.create({
        model: 'gpt-4o-mini',
        input: 'Stream it',
        stream: true,
      });
      const types: string[] = [];
      for await (const event of stream) types.push(event.type);
      expect(types[0]).toBe('response.created');
      expect(types).toContain('response.output_text.delta');
      expect(types.at(-1)).toBe('response.completed');
      const helper = client().responses.stream({ model: 'gpt-4o-mini', input: 'Stream it again' });
      const final = await helper.finalResponse();
      expect(final.status).toBe('completed');
      expect(final.output_text.length).toBeGreaterThan(0);
    });

    it('a background response polled to completion', async () => {
      let r = await client().responses.create({
        model: 'gpt-4o-mini',
        input: 'Take your time',
        background: true,
      });
      expect(r.status).toBe('queued');
      const id = r.id;
      while (r.status === 'queued' || r.status === 'in_progress') {
        await new Promise((resolve) => setTimeout(resolve, 100));
        r = await client().responses.retrieve(id);
      }
      expect(r).toMatchObject({ id, status: 'completed' });
    });
  });

  describe('LangChain ChatOpenAI with useResponsesApi', () => {
    const model = () =>
      new ChatOpenAI({
        model: 'gpt-4o-mini',
        apiKey,
        configuration: { baseURL: `${url}/v1` },
        useResponsesApi: true,
        maxRetries: 0,
      });

    it('invokes, binds tools, gives structured output and streams', async () => {
      const answer = await model().invoke('Hello from LangChain');
      expect(typeof answer.content === 'string' ? answer.content : answer.text).toBeTruthy();
      expect(answer.usage_metadata?.input_tokens).toBeGreaterThan(0);

      const withTools = model().bindTools([
        {
          type: 'function',
          function: {
            name: 'lookup_order',
            description: 'Look an order up',
            parameters: {
              type: 'object',
              properties: { order_id: { type: 'string' } },
              required: ['order_id'],
            },
          },
        },
      ]);
      const called = await withTools.invoke('Please lookup order 42');
      expect(called.tool_calls?.[0]).toMatchObject({
        name: 'lookup_order',
        args: { order_id: expect.any(String) },
      });

      const structured = model().withStructuredOutput(z.object({ city: z.string(), population: z.number() }));
      const city = await structured.invoke('The largest city in France');
      expect(typeof city.city).toBe('string');
      expect(typeof city.population).toBe('number');

      let streamed = '';
      for await (const chunk of await model().stream('Stream from LangChain')) streamed += chunk.text;
      expect(streamed.length).toBeGreaterThan(0);
    });
  });
});
