import type { ChatCompletion } from 'openai/resources/chat/completions';
import { describe, expect, it } from 'vitest';
import { completionToChunks } from './chunks';

const completion = (message: Record<string, unknown>, finish: string): ChatCompletion =>
  ({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', refusal: null, ...message },
        finish_reason: finish,
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
  }) as unknown as ChatCompletion;

const deltas = (c: ChatCompletion) => completionToChunks(c, true).map((k) => k.choices[0]?.delta ?? null);

describe('a whole chat completion replayed as chunks', () => {
  it('streams a custom tool call with its type, name and input', () => {
    const call = { id: 'call_1', type: 'custom', custom: { name: 'code_exec', input: 'print(1)' } };
    expect(deltas(completion({ content: null, tool_calls: [call] }, 'tool_calls'))).toEqual([
      { role: 'assistant', content: null },
      { tool_calls: [{ index: 0, ...call }] },
      {},
      null,
    ]);
  });

  it('streams function tool calls, each with its index', () => {
    const calls = [
      { id: 'call_1', type: 'function', function: { name: 'a', arguments: '{}' } },
      { id: 'call_2', type: 'function', function: { name: 'b', arguments: '{"x":1}' } },
    ];
    expect(deltas(completion({ content: null, tool_calls: calls }, 'tool_calls'))[1]).toEqual({
      tool_calls: calls.map((c, index) => ({ index, ...c })),
    });
  });

  it('streams a legacy function call', () => {
    const fn = { name: 'get_weather', arguments: '{"city":"Paris"}' };
    expect(deltas(completion({ content: null, function_call: fn }, 'function_call'))).toEqual([
      { role: 'assistant', content: null },
      { function_call: fn },
      {},
      null,
    ]);
  });

  it('keeps message fields it does not know, and gives the refusal its logprobs', () => {
    const annotations = [{ type: 'url_citation', url_citation: { url: 'https://example.com' } }];
    const c = completion({ content: null, refusal: 'I cannot.', annotations }, 'stop');
    const logprobs = {
      content: null,
      refusal: [{ token: 'I', logprob: -0.1, bytes: null, top_logprobs: [] }],
    };
    c.choices[0]!.logprobs = logprobs;
    const chunks = completionToChunks(c, false);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '', annotations });
    expect(chunks[1]!.choices[0]).toMatchObject({ delta: { refusal: 'I cannot.' }, logprobs });
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
  });

  it('ends with the usage chunk only when asked', () => {
    const c = completion({ content: 'Hi' }, 'stop');
    expect(completionToChunks(c, true).at(-1)).toMatchObject({ choices: [], usage: c.usage });
    expect(completionToChunks(c, false).every((k) => k.choices.length === 1)).toBe(true);
  });
});
