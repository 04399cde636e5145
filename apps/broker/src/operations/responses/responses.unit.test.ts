import type { RequestCompleted } from '@sluice/events';
import { countTextTokens } from '@sluice/limiter';
import type { Response } from 'openai/resources/responses/responses';
import { describe, expect, it } from 'vitest';
import { knownEndpointOf } from '../registry';
import {
  backgroundPolicy,
  backgroundResponseId,
  pendingResponse,
  requestIdOfBackgroundResponse,
  settlePolicy,
} from './background';
import { responseToEvents } from './events';
import { builtInToolCalls, responses } from './index';
import { ownerChangesOf } from './owners-projection';
import { stateRefsOf } from './request';

const parse = (body: Record<string, unknown>) => responses.request.parse(body);

const answer = (over: Partial<Response> & Record<string, unknown> = {}): Response =>
  ({
    id: 'resp_abc',
    object: 'response',
    created_at: 1,
    status: 'completed',
    model: 'gpt-4o',
    output: [
      {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Hello world', annotations: [] }],
      },
    ],
    usage: {
      input_tokens: 100,
      input_tokens_details: { cached_tokens: 40 },
      output_tokens: 30,
      output_tokens_details: { reasoning_tokens: 12 },
      total_tokens: 130,
    },
    ...over,
  }) as Response;

describe('what Sluice reads of a Responses API request', () => {
  it('passes every other field through unchanged, known or not', () => {
    const body = {
      model: 'gpt-5',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'hi' },
            { type: 'input_image', image_url: 'https://x/y.png' },
          ],
        },
        { type: 'function_call_output', call_id: 'call_1', output: '42' },
        { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'opaque' },
      ],
      include: ['reasoning.encrypted_content'],
      prompt_cache_key: 'k',
      text: {
        format: { type: 'json_schema', name: 'x', schema: { type: 'object' }, strict: true },
        verbosity: 'low',
      },
      tools: [
        { type: 'web_search', search_context_size: 'low' },
        { type: 'mcp', server_label: 's' },
      ],
      a_future_parameter: { nested: true },
    };
    expect(parse(body)).toEqual(body);
  });

  it('refuses what it reads when it is malformed, naming the field', () => {
    const base = { model: 'gpt-4o', input: 'x' };
    for (const [bad, path] of [
      [{ ...base, model: '' }, 'model'],
      [{ ...base, input: 5 }, 'input'],
      [{ ...base, max_output_tokens: 0 }, 'max_output_tokens'],
      [{ ...base, previous_response_id: 'resp x' }, 'previous_response_id'],
      [{ ...base, background: 'yes' }, 'background'],
      [
        { ...base, metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
        'metadata',
      ],
      [{ ...base, input: [{ role: 'user', content: 7 }] }, 'input'],
    ] as const) {
      const r = responses.request.safeParse(bad);
      expect(r.success, JSON.stringify(bad).slice(0, 80)).toBe(false);
      expect(r.error?.issues[0]?.path[0]).toBe(path);
    }
  });

  it('names the upstream state a request continues: its previous response, conversation and item references', () => {
    expect(stateRefsOf(parse({ model: 'gpt-4o', input: 'x' }))).toEqual([]);
    expect(
      stateRefsOf(
        parse({
          model: 'gpt-4o',
          previous_response_id: 'resp_1',
          conversation: { id: 'conv_1' },
          input: [
            { role: 'user', content: 'a' },
            { type: 'item_reference', id: 'msg_9' },
          ],
        }),
      ),
    ).toEqual([
      { kind: 'response', id: 'resp_1', param: 'previous_response_id' },
      { kind: 'conversation', id: 'conv_1', param: 'conversation' },
      { kind: 'item', id: 'msg_9', param: 'input[1]' },
    ]);
    expect(stateRefsOf(parse({ model: 'gpt-4o', conversation: 'conv_2' }))[0]).toMatchObject({
      id: 'conv_2',
    });
  });

  it('is served for every chat model, leaving chat completions their first endpoint', () => {
    for (const model of ['gpt-4o', 'gpt-4.1-mini', 'gpt-5', 'o3', 'o4-mini', 'codex-mini-latest'])
      expect(responses.models.known.test(model)).toBe(true);
    expect(responses.models.known.test('text-embedding-3-small')).toBe(false);
    expect(knownEndpointOf('gpt-4o')).toBe('/v1/chat/completions');
    expect(knownEndpointOf('codex-mini-latest')).toBe('/v1/responses');
    expect(responses.models.refuse('text-embedding-3-small', '/v1/embeddings')).toMatchObject({
      status: 400,
    });
  });
});

describe('the estimate', () => {
  const model = 'gpt-4o';
  it('counts items, instructions and tools with the model encoding, and charges max_output_tokens', () => {
    const plain = responses.estimate(parse({ model, input: 'Hello there', max_output_tokens: 100 }), model);
    expect(plain.maxOutputTokens).toBe(100);
    expect(plain.promptTokens).toBeGreaterThanOrEqual(countTextTokens(model, 'Hello there'));
    expect(plain.tpmCost).toBeGreaterThanOrEqual(plain.promptTokens + 100);
    const instructions = 'Always answer in the voice of a pirate captain. '.repeat(10);
    const tools = [
      {
        type: 'function',
        name: 'get_weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } } },
      },
    ];
    const rich = responses.estimate(
      parse({
        model,
        instructions,
        tools,
        max_output_tokens: 100,
        input: [
          { role: 'user', content: [{ type: 'input_text', text: 'Hello there' }] },
          { type: 'function_call_output', call_id: 'call_1', output: 'sunny and warm' },
        ],
      }),
      model,
    );
    const extra =
      countTextTokens(model, instructions) +
      countTextTokens(model, 'sunny and warm') +
      countTextTokens(model, JSON.stringify(tools));
    expect(rich.promptTokens - plain.promptTokens).toBeGreaterThanOrEqual(extra);
    // No limit given: the default allowance is charged.
    expect(responses.estimate(parse({ model, input: 'x' }), model).maxOutputTokens).toBeGreaterThan(0);
  });

  it('refuses max_output_tokens past the model’s output limit and background streams', () => {
    const body = parse({ model: 'gpt-4o', input: 'x', max_output_tokens: 100_000 });
    expect(() => responses.fit(body, 'gpt-4o', responses.estimate(body, 'gpt-4o'))).toThrow(
      /max_output_tokens is too large/,
    );
    const both = parse({ model: 'gpt-4o', input: 'x', background: true, stream: true });
    expect(() => responses.fit(both, 'gpt-4o', responses.estimate(both, 'gpt-4o'))).toThrow(/not served yet/);
  });
});

describe('usage and billing units', () => {
  it('reads input with cached tokens and output with reasoning tokens', () => {
    expect(responses.usage(answer({ service_tier: 'flex' }))).toEqual({
      promptTokens: 100,
      cachedTokens: 40,
      completionTokens: 30,
      reasoningTokens: 12,
      totalTokens: 130,
      serviceTier: 'flex',
      units: {},
    });
    expect(responses.usage(answer({ usage: undefined }))).toBeUndefined();
  });

  it('counts built-in tool calls by kind, never the caller’s own tools', () => {
    const output = [
      { type: 'web_search_call', id: 'ws_1', status: 'completed' },
      { type: 'web_search_call', id: 'ws_2', status: 'completed' },
      { type: 'file_search_call', id: 'fs_1', queries: [] },
      { type: 'function_call', id: 'fc_1', call_id: 'c', name: 'f', arguments: '{}' },
      { type: 'computer_call', id: 'cc_1' },
      { type: 'message', id: 'msg_1', content: [] },
    ] as unknown as Response['output'];
    expect(builtInToolCalls({ output })).toEqual({ web_search_call: 2, file_search_call: 1 });
    expect(responses.usage(answer({ output }))?.units).toEqual({ web_search_call: 2, file_search_call: 1 });
  });

  it('caches only explicit temperature 0 without a conversation, background work or built-in tools', () => {
    const deterministic = (extra: Record<string, unknown>) =>
      responses.cache!.deterministic(parse({ model: 'gpt-4o', input: 'x', temperature: 0, ...extra }));
    expect(deterministic({})).toBe(true);
    expect(deterministic({ tools: [{ type: 'function', name: 'f' }] })).toBe(true);
    expect(deterministic({ temperature: 0.5 })).toBe(false);
    expect(deterministic({ background: true })).toBe(false);
    expect(deterministic({ conversation: 'conv_1' })).toBe(false);
    expect(deterministic({ tools: [{ type: 'web_search' }] })).toBe(false);
    expect(responses.cache!.storable(answer({ status: 'incomplete' }))).toBe(false);
    expect(responses.cache!.storable(answer())).toBe(true);
  });
});

describe('background responses', () => {
  it('names a background response after its Sluice request, and back', () => {
    expect(backgroundResponseId('req_AbC-1_x')).toBe('resp_sluice_AbC-1_x');
    expect(requestIdOfBackgroundResponse('resp_sluice_AbC-1_x')).toBe('req_AbC-1_x');
    expect(requestIdOfBackgroundResponse('resp_0123abcd')).toBeUndefined();
  });

  it('answers a queued response object echoing the request, and keeps that id on the final answer', () => {
    const body = parse({
      model: 'gpt-4o',
      input: 'x',
      background: true,
      instructions: 'be kind',
      metadata: { a: 'b' },
    });
    expect(backgroundPolicy.requested(body)).toBe(true);
    expect(backgroundPolicy.requested(parse({ model: 'gpt-4o', input: 'x' }))).toBe(false);
    const placeholder = backgroundPolicy.placeholder(body, 'req_1', 1_700_000_000_500);
    expect(placeholder).toMatchObject({
      id: 'resp_sluice_1',
      object: 'response',
      status: 'queued',
      background: true,
      created_at: 1_700_000_000,
      instructions: 'be kind',
      metadata: { a: 'b' },
      output: [],
    });
    expect(
      pendingResponse(body, 'req_1', 0, 'failed', { code: 'server_error', message: 'boom' }),
    ).toMatchObject({
      status: 'failed',
      error: { code: 'server_error' },
    });
    expect(backgroundPolicy.present(answer({ background: true }), 'req_1').id).toBe('resp_sluice_1');
    expect(backgroundPolicy.present(answer(), 'req_1').id).toBe('resp_abc');
  });

  it('polls background work until final, and takes a failed response for an upstream failure', () => {
    expect(settlePolicy.pending(answer({ background: true, status: 'queued' }))).toEqual({
      poll: '/v1/responses/resp_abc',
      cancel: '/v1/responses/resp_abc/cancel',
    });
    expect(settlePolicy.pending(answer({ background: true, status: 'in_progress' }))).not.toBeNull();
    expect(settlePolicy.pending(answer({ background: true }))).toBeNull();
    expect(settlePolicy.pending(answer({ status: 'in_progress' }))).toBeNull();
    expect(settlePolicy.failure(answer())).toBeNull();
    const failed = (code: string) =>
      settlePolicy.failure(
        answer({ status: 'failed', error: { code, message: 'it broke' } as Response['error'] }),
      );
    expect(failed('server_error')).toMatchObject({
      status: 500,
      error: { code: 'server_error', message: 'it broke' },
    });
    expect(failed('rate_limit_exceeded')?.status).toBe(429);
    expect(failed('invalid_prompt')).toMatchObject({ status: 400, error: { type: 'invalid_request_error' } });
  });
});

describe('the buffered stream replay', () => {
  it('replays a response as OpenAI’s typed events, in order, numbered', () => {
    const r = answer({
      output: [
        { id: 'rs_1', type: 'reasoning', summary: [{ type: 'summary_text', text: 'thinking' }] },
        { id: 'ws_1', type: 'web_search_call', status: 'completed', action: { type: 'search', query: 'q' } },
        {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          status: 'completed',
          content: [
            {
              type: 'output_text',
              text: 'Hi',
              annotations: [{ type: 'url_citation', start_index: 0, end_index: 2, url: 'u', title: 't' }],
            },
          ],
        },
        {
          id: 'fc_1',
          type: 'function_call',
          call_id: 'call_1',
          name: 'f',
          arguments: '{"a":1}',
          status: 'completed',
        },
      ] as Response['output'],
    });
    const events = responseToEvents(r);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.annotation.added',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events[0]).toMatchObject({ response: { status: 'in_progress', output: [] } });
    expect(events.at(-1)).toMatchObject({ response: { usage: { input_tokens: 100 } } });
    expect(events.find((e) => e.type === 'response.output_text.delta')).toMatchObject({
      delta: 'Hi',
      item_id: 'msg_1',
    });
    expect(responseToEvents(answer({ status: 'incomplete' })).at(-1)?.type).toBe('response.incomplete');
    expect(responseToEvents(answer({ status: 'failed' })).at(-1)?.type).toBe('response.failed');
  });
});

describe('the owners of upstream state', () => {
  const completed = (response: Record<string, unknown>, over: Partial<RequestCompleted> = {}) =>
    ({
      type: 'request.completed',
      version: 3,
      endpoint: '/v1/responses',
      eventId: 'e',
      requestId: 'req_1',
      tenantId: 'ten_1',
      pool: 'east',
      model: 'gpt-4o',
      priority: 'standard',
      attempt: 1,
      occurredAt: '2026-01-01T00:00:00.000Z',
      response,
      upstreamLatencyMs: 1,
      queueWaitMs: 1,
      upstreamRequestId: null,
      upstreamProcessingMs: null,
      cache: null,
      ...over,
    }) as RequestCompleted;

  it('records a stored response, its output items, its conversation, and Sluice’s id of a background one', () => {
    const changes = ownerChangesOf([
      completed({ ...answer({ background: true }), conversation: { id: 'conv_1' } } as Record<
        string,
        unknown
      >),
    ]);
    expect(changes.map((c) => [c.row.stateId, c.row.kind, c.row.upstreamId, c.row.pool])).toEqual([
      ['resp_abc', 'response', 'resp_abc', 'east'],
      ['resp_sluice_1', 'response', 'resp_abc', 'east'],
      ['msg_1', 'item', 'msg_1', 'east'],
      ['conv_1', 'conversation', 'conv_1', 'east'],
    ]);
    expect(changes[0]!.row.contextTokens).toBe(130);
    expect(changes.every((c) => c.poolOf === null)).toBe(true);
  });

  it('records nothing for unstored responses or other endpoints; a cache hit inherits its source’s pool', () => {
    expect(ownerChangesOf([completed({ ...answer(), store: false } as Record<string, unknown>)])).toEqual([]);
    expect(
      ownerChangesOf([
        {
          ...completed(answer() as unknown as Record<string, unknown>),
          endpoint: '/v1/chat/completions',
        } as RequestCompleted,
      ]),
    ).toEqual([]);
    const hit = ownerChangesOf([
      completed(answer() as unknown as Record<string, unknown>, {
        cache: { hit: true, scope: 's', key: 'a'.repeat(64), ttlSeconds: 60, sourceRequestId: 'req_src' },
      }),
    ]);
    expect(hit[0]!.poolOf).toBe('req_src');
  });
});
