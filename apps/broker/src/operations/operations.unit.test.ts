import { ENDPOINTS, isSluiceError, TokenEstimateSchema } from '@sluice/events';
import { countTextTokens } from '@sluice/limiter';
import { describe, expect, it } from 'vitest';
import { chatCompletions } from './chat-completions';
import { completions } from './completions';
import { embeddings } from './embeddings';
import { EMBEDDING_LIMITS } from './embeddings/request';
import { moderations } from './moderations';
import { knownEndpointOf, OPERATIONS, operationFor } from './registry';

function thrown(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('the operation registry', () => {
  it('holds one operation per endpoint the log knows, each with its own Batch API url', () => {
    expect(OPERATIONS.map((o) => o.endpoint).sort()).toEqual([...ENDPOINTS].sort());
    for (const o of OPERATIONS) {
      expect(operationFor(o.endpoint)).toBe(o);
      if (o.batch) expect(o.batch.url).toBe(o.endpoint);
      // The demo's simulator answers each brokered endpoint at its own path.
      expect(o.simulator.path).toBe(o.endpoint);
    }
  });

  it("knows which endpoint serves OpenAI's models, and leaves unknown ids (deployments) to any", () => {
    expect(knownEndpointOf('gpt-4o-mini')).toBe('/v1/chat/completions');
    expect(knownEndpointOf('gpt-3.5-turbo')).toBe('/v1/chat/completions');
    expect(knownEndpointOf('o4-mini')).toBe('/v1/chat/completions');
    expect(knownEndpointOf('gpt-3.5-turbo-instruct')).toBe('/v1/completions');
    expect(knownEndpointOf('text-embedding-3-small')).toBe('/v1/embeddings');
    expect(knownEndpointOf('omni-moderation-latest')).toBe('/v1/moderations');
    expect(knownEndpointOf('my-azure-deployment')).toBeUndefined();
  });

  it('refuses a model on the wrong endpoint as OpenAI does, naming the right one', () => {
    expect(chatCompletions.models.refuse('text-embedding-3-small', '/v1/embeddings')).toEqual({
      status: 404,
      message: expect.stringMatching(/not a chat model .* Did you mean to use v1\/embeddings\?/),
    });
    expect(completions.models.refuse('gpt-4o', '/v1/chat/completions').message).toMatch(
      /This is a chat model and not supported in the v1\/completions endpoint/,
    );
    expect(embeddings.models.refuse('gpt-4o', '/v1/chat/completions')).toMatchObject({ status: 400 });
  });
});

describe('chat completions: validate what Sluice reads, pass the rest', () => {
  const base = { model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] };

  it('passes newer and unknown parameters through unchanged', () => {
    const body = {
      ...base,
      reasoning_effort: 'xhigh',
      prompt_cache_retention: '24h',
      web_search_options: { search_context_size: 'low' },
      tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [{ type: 'function', name: 'f' }] },
      tools: [{ type: 'custom', custom: { name: 'grammar', format: { type: 'text' } } }],
      verbosity: 'low',
      some_future_parameter: { nested: [1, 2, 3] },
      messages: [{ role: 'developer', content: [{ type: 'input_text', text: 'hi' }], extra: true }],
    };
    const parsed = chatCompletions.request.parse(body);
    expect(parsed).toEqual(body);
  });

  it('refuses what it reads when it is malformed, naming the field', () => {
    for (const [bad, path] of [
      [{ ...base, messages: [] }, 'messages'],
      [{ ...base, max_tokens: 0 }, 'max_tokens'],
      [{ ...base, n: 1.5 }, 'n'],
      [{ ...base, stream: 'yes' }, 'stream'],
      [{ ...base, messages: [{ content: 'no role' }] }, 'messages.0.role'],
      [{ model: 5, messages: base.messages }, 'model'],
    ] as const) {
      const r = chatCompletions.request.safeParse(bad);
      expect(r.success).toBe(false);
      expect(r.error?.issues[0]?.path.join('.')).toBe(path);
    }
  });

  it('estimates with the model encoding and refuses a prompt past the context window', () => {
    const body = chatCompletions.request.parse({ ...base, model: 'gpt-4', max_tokens: 10 });
    const estimate = chatCompletions.estimate(body, 'gpt-4');
    expect(TokenEstimateSchema.parse(estimate).maxOutputTokens).toBe(10);
    const huge = chatCompletions.request.parse({
      ...base,
      model: 'gpt-4',
      messages: [{ role: 'user', content: 'word '.repeat(9_000) }],
    });
    const e = thrown(() => chatCompletions.fit(huge, 'gpt-4', chatCompletions.estimate(huge, 'gpt-4')));
    expect(isSluiceError(e) && e.details).toMatchObject({
      param: 'messages',
      openaiCode: 'context_length_exceeded',
    });
  });
});

describe('embeddings', () => {
  const model = 'text-embedding-3-small';

  it('charges TPM with the input tokens only, counted with the model encoding; token ids count one each', () => {
    const body = embeddings.request.parse({
      model,
      input: ['hello world', 'a second input'],
      dimensions: 256,
    });
    const e = embeddings.estimate(body, model);
    expect(e).toEqual({
      promptTokens: countTextTokens(model, 'hello world') + countTextTokens(model, 'a second input'),
      maxOutputTokens: 0,
      tpmCost: e.promptTokens,
    });
    expect(body.dimensions).toBe(256);
    const ids = embeddings.request.parse({
      model,
      input: [
        [1, 2, 3],
        [4, 5],
      ],
    });
    expect(embeddings.estimate(ids, model).tpmCost).toBe(5);
  });

  it('refuses more than 2,048 inputs, 8,192 tokens in one input or 300,000 in the request, naming the limit', () => {
    const fitError = (input: unknown) => {
      const body = embeddings.request.parse({ model, input });
      return thrown(() => embeddings.fit(body, model, embeddings.estimate(body, model)));
    };
    expect(
      (fitError(Array.from({ length: EMBEDDING_LIMITS.maxInputs + 1 }, () => 'x')) as Error).message,
    ).toMatch(/at most 2048/);
    expect((fitError([Array.from({ length: 8_193 }, () => 1)]) as Error).message).toMatch(
      /maximum context length is 8192/,
    );
    const big = Array.from({ length: 40 }, () => Array.from({ length: 8_000 }, () => 7));
    expect((fitError(big) as Error).message).toMatch(/max 300000 tokens per request/);
  });

  it('refuses an input that is none of the shapes OpenAI takes', () => {
    for (const input of ['', [], [''], [[]], 5, [{ text: 'x' }], null]) {
      const r = embeddings.request.safeParse({ model, input });
      expect(r.success).toBe(false);
      expect(r.error?.issues[0]?.path[0]).toBe('input');
    }
  });

  it('is cacheable as deterministic, never streams, and bills the reported prompt tokens', () => {
    expect(embeddings.cache?.deterministic(embeddings.request.parse({ model, input: 'x' }))).toBe(true);
    expect(embeddings.stream).toBeNull();
    expect(
      embeddings.usage({
        object: 'list',
        data: [],
        model,
        usage: { prompt_tokens: 7, total_tokens: 7 },
      } as never),
    ).toMatchObject({ promptTokens: 7, completionTokens: 0, totalTokens: 7 });
  });
});

describe('completions and moderations', () => {
  it('charges a completion its prompt and max_tokens (16 by default) for every choice', () => {
    const body = completions.request.parse({ model: 'gpt-3.5-turbo-instruct', prompt: ['a', 'b'], n: 2 });
    const e = completions.estimate(body, 'gpt-3.5-turbo-instruct');
    expect(e.maxOutputTokens).toBe(16);
    expect(e.tpmCost).toBe(Math.max(e.promptTokens, Math.ceil('["a","b"]'.length / 4)) + 2 * 2 * 16);
  });

  it('refuses a completion past its model window', () => {
    const body = completions.request.parse({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'x',
      max_tokens: 5_000,
    });
    const e = thrown(() =>
      completions.fit(body, 'gpt-3.5-turbo-instruct', completions.estimate(body, 'gpt-3.5-turbo-instruct')),
    );
    expect((e as Error).message).toMatch(/maximum context length is 4096 tokens/);
  });

  it('moderates with the default model when none is named, free and never cached', () => {
    expect(moderations.models.default).toBe('omni-moderation-latest');
    const body = moderations.request.parse({ input: ['one', 'two'] });
    expect(moderations.estimate(body, 'omni-moderation-latest').maxOutputTokens).toBe(0);
    expect(moderations.usage({ id: 'modr-1', model: 'x', results: [] })).toMatchObject({ totalTokens: 0 });
    expect(moderations.priceTable).toBe('free');
    expect(moderations.cache).toBeNull();
  });
});
