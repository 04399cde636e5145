import { AIMessage, type AIMessageChunk, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { ChatOpenAI, OpenAIEmbeddings, OpenAI as OpenAILLM } from '@langchain/openai';
import type { TestSluice } from '@sluice/broker/testing';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CANNED_ANSWER_START,
  DIMENSIONS_REFUSAL,
  FUTURE_PARAMETER,
  lastUpstreamBody,
  Recipe,
  startCompatSluice,
  TOP_LOGPROBS_REFUSAL,
  WEATHER_RESULT,
  WeatherArgs,
} from './__tests__/compat-sluice';

type ApiError = InstanceType<typeof OpenAI.APIError>;

// LangChain (`@langchain/openai`) as its users use it: `new ChatOpenAI({ model, apiKey,
// configuration: { baseURL } })` and `new OpenAIEmbeddings(...)`, default settings otherwise.
// LangChain does not expose the response's headers, so `x-request-id` is not checked here.
describe('LangChain against Sluice', () => {
  let s: TestSluice;
  const chat = (fields: ConstructorParameters<typeof ChatOpenAI>[0] = {}) =>
    new ChatOpenAI({
      model: 'gpt-4o-mini',
      apiKey: s.tenant.apiKey,
      configuration: { baseURL: `${s.url}/v1` },
      ...fields,
    });
  const embeddings = (fields: ConstructorParameters<typeof OpenAIEmbeddings>[0] = {}) =>
    new OpenAIEmbeddings({
      model: 'text-embedding-3-small',
      apiKey: s.tenant.apiKey,
      configuration: { baseURL: `${s.url}/v1` },
      ...fields,
    });

  beforeAll(async () => {
    s = await startCompatSluice();
  }, 60_000);
  afterAll(async () => {
    await s?.close();
  });

  const caught = <T>(p: Promise<T>) =>
    p.then(
      () => {
        throw new Error('expected the call to fail');
      },
      (e: unknown) => e as ApiError,
    );
  const collect = async (stream: AsyncIterable<AIMessageChunk>) => {
    let whole: AIMessageChunk | undefined;
    const chunks: AIMessageChunk[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      whole = whole ? whole.concat(chunk) : chunk;
    }
    return { chunks, whole: whole! };
  };

  describe('ChatOpenAI', () => {
    it('answers a chat, with its usage', async () => {
      const m = await chat().invoke('Say hello to Sluice');
      expect(m).toBeInstanceOf(AIMessage);
      expect(m.content).toContain(CANNED_ANSWER_START);
      expect(m.usage_metadata!.input_tokens).toBeGreaterThan(0);
      expect(m.usage_metadata!.output_tokens).toBeGreaterThan(0);
      expect(m.response_metadata.finish_reason).toBe('stop');
    });

    it('streams a chat: the content in chunks, and the usage from the usage chunk', async () => {
      const { chunks, whole } = await collect(await chat().stream('Say hello to Sluice'));
      expect(chunks.length).toBeGreaterThan(2);
      expect(whole.content).toContain(CANNED_ANSWER_START);
      expect(whole.usage_metadata!.output_tokens).toBeGreaterThan(0);
      expect(whole.usage_metadata!.total_tokens).toBe(
        whole.usage_metadata!.input_tokens + whole.usage_metadata!.output_tokens,
      );
      // LangChain asks for the usage chunk by itself and reports it on its last chunk.
      const usage = chunks.at(-1)!.response_metadata.usage as OpenAI.CompletionUsage;
      expect(usage.completion_tokens).toBe(whole.usage_metadata!.output_tokens);
    });

    it('runs a tools round trip with bindTools: the call, the ToolMessage, the answer', async () => {
      const getWeather = tool(async () => JSON.stringify(WEATHER_RESULT), {
        name: 'get_weather',
        description: 'The weather in a city',
        schema: WeatherArgs,
      });
      const model = chat().bindTools([getWeather]);
      const messages = [new HumanMessage('What is the weather in Paris?')];
      const asked = await model.invoke(messages);
      expect(asked.tool_calls).toHaveLength(1);
      const call = asked.tool_calls![0]!;
      expect(call.name).toBe('get_weather');
      expect(WeatherArgs.safeParse(call.args).success).toBe(true);

      const result = await getWeather.invoke(call);
      expect(result).toBeInstanceOf(ToolMessage);
      const answer = await model.invoke([...messages, asked, result]);
      expect(answer.tool_calls ?? []).toHaveLength(0);
      expect(answer.content).toContain('sunny');
    });

    it("forces a tool with tool_choice 'any' and streams its call", async () => {
      const getWeather = tool(async () => JSON.stringify(WEATHER_RESULT), {
        name: 'get_weather',
        description: 'The weather in a city',
        schema: WeatherArgs,
      });
      const { whole } = await collect(
        await chat().bindTools([getWeather], { tool_choice: 'any' }).stream('Hello there'),
      );
      expect(lastUpstreamBody(s, 'chat.completions')!.tool_choice).toBe('required');
      expect(whole.tool_calls![0]!.name).toBe('get_weather');
      expect(WeatherArgs.safeParse(whole.tool_calls![0]!.args).success).toBe(true);
    });

    it('parses structured output with withStructuredOutput (json_schema), and with function calling', async () => {
      const recipe = await chat()
        .withStructuredOutput(Recipe, { name: 'recipe' })
        .invoke('A recipe for soup');
      expect(Recipe.parse(recipe)).toEqual(recipe);
      const sent = lastUpstreamBody(s, 'chat.completions')!.response_format as { type: string };
      expect(sent.type).toBe('json_schema');

      const viaTool = await chat()
        .withStructuredOutput(Recipe, { name: 'recipe', method: 'functionCalling' })
        .invoke('A recipe for soup');
      expect(Recipe.parse(viaTool)).toEqual(viaTool);
    });

    it('answers n generations', async () => {
      const r = await chat({ n: 3 }).generate([[new HumanMessage('Say hello')]]);
      expect(r.generations[0]).toHaveLength(3);
      for (const g of r.generations[0]!) expect(g.text).toContain(CANNED_ANSWER_START);
    });

    it('gives logprobs, streamed and not', async () => {
      const m = await chat({ logprobs: true, topLogprobs: 2 }).invoke('Say hello');
      const content = (m.response_metadata.logprobs as OpenAI.ChatCompletion.Choice['logprobs'])!.content!;
      expect(content.map((t) => t.token).join('')).toBe(m.content);
      for (const t of content) expect(t.top_logprobs).toHaveLength(2);

      const { chunks, whole } = await collect(
        await chat({ logprobs: true, topLogprobs: 1 }).stream('Say hello'),
      );
      const streamed = chunks.flatMap(
        (c) => (c.response_metadata.logprobs as OpenAI.ChatCompletionChunk.Choice['logprobs'])?.content ?? [],
      );
      expect(streamed.length).toBeGreaterThan(0);
      expect(streamed.map((t) => t.token).join('')).toBe(whole.content);
    });

    it('passes an unknown future parameter (modelKwargs) and newer ones to the upstream unchanged', async () => {
      await chat({
        model: 'gpt-5-mini',
        reasoning: { effort: 'none' },
        promptCacheRetention: '24h',
        modelKwargs: { ...FUTURE_PARAMETER },
      }).invoke('Say hello');
      const sent = lastUpstreamBody(s, 'chat.completions')!;
      expect(sent.some_future_parameter).toEqual(FUTURE_PARAMETER.some_future_parameter);
      expect(sent.reasoning_effort).toBe('none');
      expect(sent.prompt_cache_retention).toBe('24h');
    });

    it("relays the upstream's 400 as the openai SDK's BadRequestError, streamed and not", async () => {
      const model = chat({ logprobs: true, topLogprobs: 25 });
      const plain = await caught(model.invoke('Say hello'));
      expect(plain).toBeInstanceOf(OpenAI.BadRequestError);
      expect(plain.status).toBe(400);
      expect(plain.message).toContain(TOP_LOGPROBS_REFUSAL);
      expect(plain.param).toBe('top_logprobs');
      const streamed = await caught(model.stream('Say hello').then(collect));
      expect(streamed).toBeInstanceOf(OpenAI.BadRequestError);
      expect(streamed.message).toBe(plain.message);
    });

    it('binds an Idempotency-Key to its body: the same body again is the same answer, another a 422', async () => {
      const options = { headers: { 'Idempotency-Key': `compat-langchain-${Date.now()}` } };
      const first = await chat().invoke('Say hello', { options });
      const again = await chat().invoke('Say hello', { options });
      expect(again.id).toBe(first.id);
      expect(again.content).toBe(first.content);
      // LangChain's own retry loop retries every status outside 400-407, 409 and 413 — a 422
      // included — six times with exponential backoff (about a minute) before it throws.
      const e = await caught(chat({ maxRetries: 0 }).invoke('Say goodbye', { options }));
      expect(e).toBeInstanceOf(OpenAI.UnprocessableEntityError);
      expect(e.code).toBe('idempotency_key_reused');
    });

    it('is a 401 (MODEL_AUTHENTICATION) with a bad key, streamed or not', async () => {
      const bad = chat({ apiKey: 'sk-not-a-sluice-key' });
      for (const call of [() => bad.invoke('hi'), () => bad.stream('hi').then(collect)]) {
        const e = (await caught<unknown>(call())) as ApiError & { lc_error_code?: string };
        expect(e).toBeInstanceOf(OpenAI.AuthenticationError);
        expect(e.lc_error_code).toBe('MODEL_AUTHENTICATION');
      }
    });
  });

  describe('OpenAI (legacy completions)', () => {
    const llm = (fields: ConstructorParameters<typeof OpenAILLM>[0] = {}) =>
      new OpenAILLM({
        model: 'gpt-3.5-turbo-instruct',
        apiKey: s.tenant.apiKey,
        configuration: { baseURL: `${s.url}/v1` },
        ...fields,
      });

    it('completes a prompt, streamed and not', async () => {
      const text = await llm().invoke('Say hello');
      expect(text.length).toBeGreaterThan(0);
      let streamed = '';
      for await (const piece of await llm().stream('Say hello')) streamed += piece;
      expect(streamed).toBe(text);
      expect(lastUpstreamBody(s, 'completions')!.prompt).toBe('Say hello');
    });

    it("relays the upstream's 400 (logprobs above 5)", async () => {
      const e = await caught(llm({ modelKwargs: { logprobs: 6 } }).invoke('Say hello'));
      expect(e).toBeInstanceOf(OpenAI.BadRequestError);
      expect(e.param).toBe('logprobs');
    });
  });

  describe('OpenAIEmbeddings', () => {
    it('embeds documents and a query, decoding the default base64 encoding', async () => {
      const e = embeddings();
      const docs = await e.embedDocuments(['a cat', 'a dog', 'a bird']);
      expect(docs).toHaveLength(3);
      for (const v of docs) {
        expect(v).toHaveLength(1536);
        expect(Math.hypot(...v)).toBeCloseTo(1, 3);
      }
      expect(lastUpstreamBody(s, 'embeddings')!.encoding_format).toBe('base64');
      const query = await e.embedQuery('a cat');
      for (let i = 0; i < query.length; i++) expect(query[i]).toBeCloseTo(docs[0]![i]!, 6);
    });

    it('shortens vectors with dimensions, and gives floats when asked', async () => {
      const short = await embeddings({ dimensions: 256, encodingFormat: 'float' }).embedQuery('a cat');
      expect(short).toHaveLength(256);
      expect(lastUpstreamBody(s, 'embeddings')).toMatchObject({ dimensions: 256, encoding_format: 'float' });
    });

    it("relays the upstream's 400 (dimensions on ada-002)", async () => {
      const e = await caught(
        embeddings({ model: 'text-embedding-ada-002', dimensions: 256 }).embedQuery('a cat'),
      );
      expect(e).toBeInstanceOf(OpenAI.BadRequestError);
      expect(e.message).toContain(DIMENSIONS_REFUSAL);
      expect(e.param).toBe('dimensions');
    });

    it('is a 401 with a bad key', async () => {
      const e = await caught(embeddings({ apiKey: 'sk-not-a-sluice-key' }).embedQuery('a cat'));
      expect(e).toBeInstanceOf(OpenAI.AuthenticationError);
    });
  });
});
