import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type RunningSimulator, startOpenAISimulator } from './index';

type ApiError = InstanceType<typeof OpenAI.APIError>;
const user = (content: string) => [{ role: 'user' as const, content }];

const weatherTool: OpenAI.ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer', minimum: 1, maximum: 7 },
      },
      required: ['city', 'unit', 'days'],
      additionalProperties: false,
    },
    strict: true,
  },
};
const timeTool: OpenAI.ChatCompletionFunctionTool = {
  type: 'function',
  function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string' } } } },
};

describe('chat features clients rely on, driven by the official openai SDK', () => {
  let sim: RunningSimulator;
  let client: OpenAI;
  beforeAll(async () => {
    sim = await startOpenAISimulator({ limits: { default: { rpm: 10_000, tpm: 10_000_000 } } });
    client = new OpenAI({ apiKey: 'sk-features', baseURL: sim.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('parses structured output with zodResponseFormat (zod 4) through chat.completions.parse', async () => {
    const Event = z.object({
      name: z.string(),
      date: z.iso.date(),
      participants: z.array(z.object({ name: z.string(), email: z.email() })).min(2),
      venue: z.object({ city: z.string(), capacity: z.number().int().positive() }).nullable(),
      kind: z.enum(['talk', 'workshop']),
    });
    const completion = await client.chat.completions.parse({
      model: 'gpt-4o-mini',
      messages: user('Extract the event: Alice and Bob meet in Paris on Friday.'),
      response_format: zodResponseFormat(Event, 'event'),
    });
    const parsed = completion.choices[0]!.message.parsed;
    expect(parsed).not.toBeNull();
    expect(Event.parse(parsed)).toEqual(parsed);
    expect(parsed!.participants.length).toBeGreaterThanOrEqual(2);
    expect(completion.choices[0]!.finish_reason).toBe('stop');
  });

  it('answers json_object with a JSON object, and refuses it when the messages never say json', async () => {
    const ok = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: user('Reply in JSON please'),
      response_format: { type: 'json_object' },
    });
    const content = JSON.parse(ok.choices[0]!.message.content!) as unknown;
    expect(typeof content).toBe('object');
    const refused = (await client.chat.completions
      .create({ model: 'gpt-4o', messages: user('Hi'), response_format: { type: 'json_object' } })
      .catch((e: unknown) => e)) as ApiError;
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused.param).toBe('messages');
  });

  it('calls the tool the user asked about with arguments valid against its schema, then answers from its result', async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = user('What is the weather in Paris?');
    const first = await client.chat.completions.create({
      model: 'gpt-4o',
      messages,
      tools: [timeTool, weatherTool],
    });
    const choice = first.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    const call = choice.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.id).toMatch(/^call_/);
    expect(call.function.name).toBe('get_weather');
    const args = JSON.parse(call.function.arguments) as unknown;
    expect(new Ajv().validate(weatherTool.function.parameters!, args)).toBe(true);

    messages.push(choice.message, { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' });
    const second = await client.chat.completions.create({
      model: 'gpt-4o',
      messages,
      tools: [timeTool, weatherTool],
    });
    expect(second.choices[0]!.finish_reason).toBe('stop');
    expect(second.choices[0]!.message.content).toContain('{"temperature": 21}');
  });

  it('follows tool_choice: required and named calls, none answers text, allowed_tools and custom tools are accepted', async () => {
    const required = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: 'hi' },
        { role: 'system', content: 'be brief' },
      ],
      tools: [timeTool],
      tool_choice: 'required',
    });
    expect(required.choices[0]!.finish_reason).toBe('tool_calls');
    const named = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: user('weather please'),
      tools: [weatherTool, timeTool],
      tool_choice: { type: 'function', function: { name: 'get_time' } },
    });
    expect(
      (named.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall).function
        .name,
    ).toBe('get_time');
    const none = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: user('weather please'),
      tools: [weatherTool],
      tool_choice: 'none',
    });
    expect(none.choices[0]!.message.tool_calls).toBeUndefined();
    expect(none.choices[0]!.message.content).toBeTruthy();
    const allowed = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: user('anything'),
      tools: [weatherTool, timeTool, { type: 'custom', custom: { name: 'run_sql' } }],
      tool_choice: {
        type: 'allowed_tools',
        allowed_tools: { mode: 'required', tools: [{ type: 'custom', custom: { name: 'run_sql' } }] },
      },
    });
    const custom = allowed.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageCustomToolCall;
    expect(custom.type).toBe('custom');
    expect(custom.custom.name).toBe('run_sql');
  });

  it('runs a zodFunction tool loop with the SDK runner until the model answers', async () => {
    const calls: unknown[] = [];
    const runner = client.chat.completions.runTools({
      model: 'gpt-4o',
      messages: user('What time is it in Tokyo?'),
      tools: [
        zodFunction({
          name: 'get_time',
          parameters: z.object({ zone: z.string() }),
          function: (args: { zone: string }) => {
            calls.push(args);
            return { time: '12:00', zone: args.zone };
          },
        }),
      ],
    });
    const answer = await runner.finalContent();
    expect(calls).toHaveLength(1);
    expect(answer).toContain('12:00');
  });

  it('answers n choices with indexes 0..n-1 and completion_tokens summing all of them', async () => {
    const one = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: user('Hi'),
      max_tokens: 50,
    });
    const three = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: user('Hi'),
      n: 3,
      max_tokens: 50,
    });
    expect(three.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(three.choices[0]!.message.content).toBe(one.choices[0]!.message.content);
    expect(new Set(three.choices.map((c) => c.message.content)).size).toBe(3);
    expect(three.usage!.completion_tokens).toBeGreaterThan(3 * one.usage!.completion_tokens - 1);
    expect(three.usage!.prompt_tokens).toBe(one.usage!.prompt_tokens);
  });

  it('returns logprobs per output token, with top_logprobs, the same streamed or not', async () => {
    const params = {
      model: 'gpt-4o-mini',
      messages: user('Hi'),
      max_tokens: 12,
      logprobs: true,
      top_logprobs: 3,
    } as const;
    const whole = await client.chat.completions.create(params);
    const content = whole.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(whole.usage!.completion_tokens);
    expect(content.map((t) => t.token).join('')).toBe(whole.choices[0]!.message.content);
    for (const t of content) {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.bytes).toEqual([...Buffer.from(t.token)]);
      expect(t.top_logprobs).toHaveLength(3);
      expect(t.top_logprobs[0]!.logprob).toBeGreaterThanOrEqual(t.top_logprobs[1]!.logprob);
    }
    const stream = await client.chat.completions.create({ ...params, stream: true });
    const streamed: OpenAI.ChatCompletionTokenLogprob[] = [];
    for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    expect(streamed).toEqual(content);
  });

  it('streams a tool call as deltas the SDK accumulates into the same call', async () => {
    const stream = client.chat.completions.stream({
      model: 'gpt-4o',
      messages: user('weather in Oslo?'),
      tools: [weatherTool],
      stream_options: { include_usage: true },
    });
    let argumentDeltas = 0;
    stream.on('chunk', (chunk) => {
      if (chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments) argumentDeltas++;
    });
    const final = await stream.finalChatCompletion();
    const call = final.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    expect(argumentDeltas).toBeGreaterThan(3);
    expect(new Ajv().validate(weatherTool.function.parameters!, JSON.parse(call.function.arguments))).toBe(
      true,
    );
    expect(final.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('stamps every answer and chunk with system_fingerprint and service_tier, and the response with OpenAI headers', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: user('Hi'), service_tier: 'flex' })
      .withResponse();
    expect(data.service_tier).toBe('flex');
    expect(data.system_fingerprint).toBeTruthy();
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(Number(response.headers.get('openai-processing-ms'))).toBeGreaterThanOrEqual(0);
    const auto = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: user('Hi'),
      service_tier: 'auto',
    });
    expect(auto.service_tier).toBe('default');
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: user('Hi'),
      service_tier: 'priority',
      stream: true,
    });
    for await (const chunk of stream) {
      expect(chunk.service_tier).toBe('priority');
      expect(chunk.system_fingerprint).toBeTruthy();
    }
  });

  it('refuses what OpenAI refuses: max_tokens on reasoning models, tool_choice without tools, a bad n', async () => {
    const reasoning = (await client.chat.completions
      .create({ model: 'gpt-5-mini', messages: user('Hi'), max_tokens: 10 })
      .catch((e: unknown) => e)) as ApiError;
    expect(reasoning).toBeInstanceOf(OpenAI.BadRequestError);
    expect((reasoning.error as { message: string }).message).toBe(
      "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
    );
    expect(reasoning).toMatchObject({ param: 'max_tokens', code: 'unsupported_parameter' });
    const fine = await client.chat.completions.create({
      model: 'o4-mini',
      messages: user('Hi'),
      max_completion_tokens: 5,
    });
    expect(fine.usage!.completion_tokens).toBe(5);
    const noTools = (await client.chat.completions
      .create({ model: 'gpt-4o', messages: user('Hi'), tool_choice: 'required' })
      .catch((e: unknown) => e)) as ApiError;
    expect(noTools.param).toBe('tool_choice');
    const tooMany = (await client.chat.completions
      .create({ model: 'gpt-4o', messages: user('Hi'), n: 129 })
      .catch((e: unknown) => e)) as ApiError;
    expect(tooMany).toMatchObject({ param: 'n', code: 'integer_above_max_value' });
  });

  it('accepts parameters it does not know and records the last body per endpoint as it arrived', async () => {
    const body = {
      model: 'gpt-4o',
      messages: user('Hi'),
      reasoning_effort: 'xhigh',
      prompt_cache_retention: '24h',
      a_future_parameter: { nested: [1, 2, 3] },
    };
    const answer = await client.chat.completions.create(
      body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming,
    );
    expect(answer.object).toBe('chat.completion');
    expect(sim.stats().lastBodies['chat.completions']).toEqual(body);
    const stats = (await (await fetch(`${sim.url.replace(/\/v1$/, '')}/_sim/stats`)).json()) as {
      lastBodies: Record<string, unknown>;
    };
    expect(stats.lastBodies['chat.completions']).toEqual(body);
  });
});
