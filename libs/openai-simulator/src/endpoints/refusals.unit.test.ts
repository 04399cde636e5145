import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { SIMULATED_MODELS, simulatedModelEndpoint, simulatedModelEndpoints } from '../models';
import { answeredServiceTier, chatCompletions } from './chat-completions';
import { chatReply, toolToCall } from './chat-reply';
import { completions } from './completions';
import { SIMULATED_ENDPOINTS } from './index';
import { moderations } from './moderations';

const user = (content: string) => [{ role: 'user', content }];
const chat = (body: Record<string, unknown>) =>
  chatCompletions.refuse({ model: 'gpt-4o', messages: user('hi'), ...body });

describe('which endpoint serves a model', () => {
  it('names one served endpoint for every simulated model, and none for an unknown one', () => {
    const paths = new Set(SIMULATED_ENDPOINTS.map((e) => e.path));
    for (const model of SIMULATED_MODELS) expect(paths).toContain(simulatedModelEndpoint(model));
    expect(simulatedModelEndpoint('gpt-4o')).toBe('/v1/chat/completions');
    expect(simulatedModelEndpoint('text-embedding-3-large')).toBe('/v1/embeddings');
    expect(simulatedModelEndpoint('babbage-002')).toBe('/v1/completions');
    expect(simulatedModelEndpoint('text-moderation-latest')).toBe('/v1/moderations');
    expect(simulatedModelEndpoints('gpt-4o')).toEqual(['/v1/chat/completions', '/v1/responses']);
    expect(simulatedModelEndpoints('text-embedding-3-small')).toEqual(['/v1/embeddings']);
    expect(simulatedModelEndpoint('gpt-9')).toBeUndefined();
    expect(simulatedModelEndpoint('__proto__')).toBeUndefined();
  });

  it('refuses every model on every endpoint that does not serve it, naming the one that does', () => {
    for (const endpoint of SIMULATED_ENDPOINTS) {
      for (const model of SIMULATED_MODELS) {
        const body = { model, messages: user('x'), input: 'x', prompt: 'x' };
        const refusal = endpoint.refuse(body);
        const right = simulatedModelEndpoint(model)!;
        if (simulatedModelEndpoints(model).includes(endpoint.path)) expect(refusal).toBeNull();
        else {
          expect(refusal?.param).toBe('model');
          expect(refusal?.message).toContain(right.slice(1));
        }
      }
    }
  });
});

describe('chat refusals', () => {
  it('refuses max_tokens and a non-default temperature on reasoning models only', () => {
    expect(chat({ model: 'o3', max_tokens: 5 })).toMatchObject({
      param: 'max_tokens',
      code: 'unsupported_parameter',
    });
    expect(chat({ model: 'gpt-5', temperature: 0.2 })).toMatchObject({ param: 'temperature' });
    expect(chat({ model: 'gpt-5', temperature: 1, max_completion_tokens: 5 })).toBeNull();
    expect(chat({ model: 'gpt-4o', max_tokens: 5, temperature: 0.2 })).toBeNull();
  });

  it('refuses bad roles, n, top_logprobs, service_tier, stream_options and response_format, naming each', () => {
    expect(chat({ messages: [{ role: 'robot', content: 'x' }] })).toMatchObject({
      param: 'messages[0].role',
    });
    expect(chat({ n: 0 })).toMatchObject({ param: 'n', code: 'integer_below_min_value' });
    expect(chat({ logprobs: true, top_logprobs: 21 })).toMatchObject({ param: 'top_logprobs' });
    expect(chat({ top_logprobs: 2 })).toMatchObject({ param: 'top_logprobs' });
    expect(chat({ service_tier: 'fastest' })).toMatchObject({ param: 'service_tier' });
    expect(chat({ stream_options: { include_usage: true } })).toMatchObject({ param: 'stream_options' });
    expect(chat({ stream: true, stream_options: { include_usage: true } })).toBeNull();
    expect(chat({ response_format: { type: 'xml' } })).toMatchObject({ param: 'response_format.type' });
    expect(chat({ response_format: { type: 'json_schema', json_schema: { schema: {} } } })).toMatchObject({
      param: 'response_format.json_schema.name',
    });
    expect(
      chat({
        tools: [{ type: 'function', function: { name: 'a' } }],
        tool_choice: { type: 'function', function: { name: 'b' } },
      }),
    ).toMatchObject({
      param: 'tool_choice',
    });
  });

  it('accepts parameters it does not interpret, known or not', () => {
    expect(
      chat({
        reasoning_effort: 'none',
        prompt_cache_retention: '24h',
        web_search_options: {},
        verbosity: 'low',
        something_new: [1],
        tools: [{ type: 'custom', custom: { name: 'grep', format: { type: 'text' } } }],
        tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } },
      }),
    ).toBeNull();
  });

  it('answers auto as default and echoes a named tier', () => {
    expect([undefined, 'auto', 'default', 'flex', 'priority'].map(answeredServiceTier)).toEqual([
      'default',
      'default',
      'default',
      'flex',
      'priority',
    ]);
  });
});

describe('what the assistant replies', () => {
  const tools = [
    { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
    {
      type: 'function',
      function: {
        name: 'lookup_order',
        parameters: {
          type: 'object',
          properties: { id: { type: 'string', pattern: '^[A-Z]{3}$' }, qty: { type: 'integer', minimum: 2 } },
          required: ['id', 'qty'],
          additionalProperties: false,
        },
      },
    },
  ];

  it('calls a tool when the user spoke last, answers after a tool result, and honours none / required', () => {
    expect(toolToCall({ tools, messages: user('where is my order?') })).toBe(tools[1]);
    expect(toolToCall({ tools, messages: user('hello') })).toBe(tools[0]);
    const afterResult = [...user('order?'), { role: 'tool', tool_call_id: 'c', content: 'shipped' }];
    expect(toolToCall({ tools, messages: afterResult })).toBeUndefined();
    expect(toolToCall({ tools, messages: afterResult, tool_choice: 'required' })).toBeDefined();
    expect(toolToCall({ tools, messages: user('x'), tool_choice: 'none' })).toBeUndefined();
    expect(chatReply('gpt-4o', { tools, messages: afterResult }, 0)).toMatchObject({
      kind: 'text',
      text: 'The tool returned: shipped',
      finish: 'stop',
    });
  });

  it('writes tool arguments valid against the tool schema, and cuts them at max_tokens with finish length', () => {
    const reply = chatReply('gpt-4o', { tools, messages: user('my order') }, 0);
    expect(reply.kind).toBe('tool_call');
    if (reply.kind !== 'tool_call' || reply.call.type !== 'function')
      throw new Error('expected a function call');
    expect(new Ajv().validate(tools[1]!.function.parameters, JSON.parse(reply.call.function.arguments))).toBe(
      true,
    );
    expect(reply.finish).toBe('tool_calls');
    const cut = chatReply('gpt-4o', { tools, messages: user('my order'), max_tokens: 2 }, 0);
    expect(cut).toMatchObject({ kind: 'tool_call', tokens: 2, finish: 'length' });
  });

  it('stops text at a stop sequence, and answers legacy function_call bodies', () => {
    expect(chatReply('gpt-4o', { messages: user('x'), stop: ' simulated' }, 0)).toMatchObject({
      text: 'This is a',
      finish: 'stop',
    });
    const fn = chatReply(
      'gpt-4o',
      { messages: user('x'), functions: [{ name: 'f', parameters: { type: 'object' } }] },
      0,
    );
    expect(fn).toMatchObject({ kind: 'function_call', name: 'f', payload: '{}', finish: 'function_call' });
  });
});

describe('completions and moderations refusals', () => {
  it('refuse a missing or malformed prompt / input and out-of-range logprobs', () => {
    expect(completions.refuse({ model: 'davinci-002' })).toMatchObject({ param: 'prompt' });
    expect(completions.refuse({ model: 'davinci-002', prompt: [1, 'a'] })).toMatchObject({ param: 'prompt' });
    expect(completions.refuse({ model: 'davinci-002', prompt: 'a', logprobs: 6 })).toMatchObject({
      param: 'logprobs',
    });
    expect(completions.refuse({ prompt: 'a' })).toMatchObject({ param: 'model' });
    expect(moderations.refuse({})).toMatchObject({ param: 'input' });
    expect(moderations.refuse({ input: [{ type: 'audio' }] })).toMatchObject({ param: 'input' });
    expect(
      moderations.refuse({
        model: 'text-moderation-latest',
        input: [{ type: 'image_url', image_url: { url: 'u' } }],
      }),
    ).toMatchObject({ param: 'input' });
    expect(moderations.refuse({ input: 'fine' })).toBeNull();
  });

  it('charge completions like chat: ~chars/4 of the prompt plus max_tokens × n (default 16)', () => {
    const ctx = { defaultMaxTokens: 4096, createdSeconds: 0 };
    expect(completions.charge({ model: 'davinci-002', prompt: 'abcdefgh' }, ctx)).toBe(2 + 16);
    expect(completions.charge({ model: 'davinci-002', prompt: [[1, 2, 3]], max_tokens: 5, n: 2 }, ctx)).toBe(
      3 + 10,
    );
  });
});
