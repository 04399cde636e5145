import { getEncoding } from 'js-tiktoken';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddingVector, type RunningSimulator, simulatedEndpoints, startOpenAISimulator } from './index';

type ApiError = InstanceType<typeof OpenAI.APIError>;
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e as ApiError,
  );

/** OpenAI's own message, as the body carried it (the SDK's `message` prefixes the status). */
const messageOf = (e: ApiError) => (e.error as { message?: string } | undefined)?.message;
const cl100k = getEncoding('cl100k_base');
const tokens = (text: string) => cl100k.encode(text).length;

describe('embeddings, completions and moderations over HTTP, driven by the official openai SDK', () => {
  let sim: RunningSimulator;
  let client: OpenAI;
  beforeAll(async () => {
    sim = await startOpenAISimulator({
      limits: {
        default: { rpm: 1_000, tpm: 1_000_000 },
        'text-embedding-3-small': { rpm: 3, tpm: 1_000_000 },
      },
    });
    client = new OpenAI({ apiKey: 'sk-endpoints', baseURL: sim.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('embeds with float vectors and with the SDK default (base64, decoded by the SDK) alike', async () => {
    sim.reset();
    const input = ['The quick brown fox', 'jumps over the lazy dog'];
    const asFloat = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input,
      encoding_format: 'float',
    });
    const asDefault = await client.embeddings.create({ model: 'text-embedding-3-small', input });
    expect(sim.stats().lastBodies.embeddings?.encoding_format).toBe('base64'); // what the SDK asked for
    expect(asFloat.data.map((d) => d.index)).toEqual([0, 1]);
    expect(asFloat.data[0]!.embedding).toHaveLength(1536);
    expect(asDefault.data.map((d) => d.embedding)).toEqual(asFloat.data.map((d) => d.embedding));
    expect(asFloat.data[0]!.embedding).toEqual(embeddingVector('text-embedding-3-small', input[0]!));
    const norm = Math.hypot(...asFloat.data[1]!.embedding);
    expect(norm).toBeCloseTo(1, 5);
    const expected = tokens(input[0]!) + tokens(input[1]!);
    expect(asFloat.usage).toEqual({ prompt_tokens: expected, total_tokens: expected });
    expect(asFloat).toMatchObject({ object: 'list', model: 'text-embedding-3-small' });
  });

  it('shortens vectors to `dimensions` and refuses it on ada-002, naming the parameter', async () => {
    const short = await client.embeddings.create({
      model: 'text-embedding-3-large',
      input: 'x',
      dimensions: 256,
    });
    expect(short.data[0]!.embedding).toHaveLength(256);
    expect(Math.hypot(...short.data[0]!.embedding)).toBeCloseTo(1, 5);
    const ada = await failure(
      client.embeddings.create({ model: 'text-embedding-ada-002', input: 'x', dimensions: 256 }),
    );
    expect(ada).toBeInstanceOf(OpenAI.BadRequestError);
    expect(ada.message).toContain('This model does not support specifying dimensions.');
    expect(ada.param).toBe('dimensions');
  });

  it('refuses inputs over OpenAI bounds with its messages: 2,048 inputs, 8,192 tokens each, 300,000 in all', async () => {
    const many = await failure(
      client.embeddings.create({ model: 'text-embedding-3-small', input: Array(2049).fill('a') }),
    );
    expect(many).toBeInstanceOf(OpenAI.BadRequestError);
    expect(many.message).toContain('maximum length 2048');
    expect(many.param).toBe('input');

    const long = await failure(
      client.embeddings.create({ model: 'text-embedding-3-small', input: Array(9000).fill(11).concat([]) }),
    );
    expect(long.message).toContain(
      "This model's maximum context length is 8192 tokens, however you requested 9000 tokens",
    );

    const total = await failure(
      client.embeddings.create({
        model: 'text-embedding-3-small',
        input: Array(40).fill(Array(8000).fill(11)),
      }),
    );
    expect(messageOf(total)).toBe('Requested 320000 tokens, max 300000 tokens per request');
    expect(total.code).toBe('max_tokens_per_request');

    const empty = await failure(client.embeddings.create({ model: 'text-embedding-3-small', input: '' }));
    expect(empty.message).toContain("'$.input' is invalid");
    expect(empty.param).toBe('input');
  });

  it('keeps per-model limits with the same x-ratelimit headers and 429 bodies as chat', async () => {
    sim.reset();
    const call = () =>
      client.embeddings.create({ model: 'text-embedding-3-small', input: 'limit me' }).withResponse();
    const first = await call();
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('2');
    expect(first.response.headers.get('x-request-id')).toMatch(/^req_/);
    await call();
    await call();
    const limited = await failure(call());
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited.message).toMatch(
      /Rate limit reached for text-embedding-3-small .* on requests per min \(RPM\): Limit 3/,
    );
    // Another model's bucket is untouched.
    await client.embeddings.create({ model: 'text-embedding-3-large', input: 'still fine' });
    expect(sim.stats().byEndpoint.embeddings).toMatchObject({ requests: 5, ok: 4, rateLimited: 1 });
  });

  it('refuses a model on the wrong endpoint the way OpenAI does, naming the right one', async () => {
    const onChat = await failure(
      client.chat.completions.create({
        model: 'text-embedding-3-small',
        messages: [{ role: 'user', content: 'x' }],
      }),
    );
    expect(onChat).toBeInstanceOf(OpenAI.NotFoundError);
    expect(messageOf(onChat)).toBe(
      'This is not a chat model and thus not supported in the v1/chat/completions endpoint. Did you mean to use v1/embeddings?',
    );
    expect(onChat.param).toBe('model');
    const chatOnLegacy = await failure(client.completions.create({ model: 'gpt-4o-mini', prompt: 'x' }));
    expect(chatOnLegacy).toBeInstanceOf(OpenAI.NotFoundError);
    expect(messageOf(chatOnLegacy)).toBe(
      'This is a chat model and not supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?',
    );
    const chatOnEmbeddings = await failure(client.embeddings.create({ model: 'gpt-4o', input: 'x' }));
    expect(chatOnEmbeddings).toBeInstanceOf(OpenAI.BadRequestError);
    expect(chatOnEmbeddings.message).toContain('You are not allowed to generate embeddings from this model');
    expect(chatOnEmbeddings.message).toContain('v1/chat/completions');
    const onModerations = await failure(
      client.moderations.create({ model: 'text-embedding-3-small', input: 'x' }),
    );
    expect(onModerations).toBeInstanceOf(OpenAI.BadRequestError);
    expect(onModerations.message).toContain('v1/embeddings');
    const unknown = await failure(client.embeddings.create({ model: 'text-embedding-9', input: 'x' }));
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown.code).toBe('model_not_found');
  });

  it('answers legacy completions per prompt × n, with echo, stop, logprobs and usage', async () => {
    const done = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: ['Once upon a time', 'Roses are red'],
      n: 2,
      max_tokens: 6,
      echo: true,
      logprobs: 2,
    });
    expect(done.object).toBe('text_completion');
    expect(done.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(done.choices[0]!.text.startsWith('Once upon a time')).toBe(true);
    expect(done.choices[2]!.text.startsWith('Roses are red')).toBe(true);
    expect(done.choices.every((c) => c.finish_reason === 'length')).toBe(true);
    expect(done.choices[0]!.logprobs?.tokens).toHaveLength(6);
    expect(Object.keys(done.choices[0]!.logprobs?.top_logprobs?.[0] ?? {})).toHaveLength(2);
    const prompt = tokens('Once upon a time') + tokens('Roses are red');
    expect(done.usage).toEqual({ prompt_tokens: prompt, completion_tokens: 24, total_tokens: prompt + 24 });

    const stopped = await client.completions.create({
      model: 'davinci-002',
      prompt: 'x',
      stop: ['simulated'],
    });
    expect(stopped.choices[0]).toMatchObject({ text: ' This is a ', finish_reason: 'stop' });
    expect(stopped.usage?.completion_tokens).toBe(4);
  });

  it('streams legacy completions as text_completion chunks, usage last when asked', async () => {
    const stream = await client.completions.create({
      model: 'babbage-002',
      prompt: 'Stream',
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Completion[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.object === 'text_completion')).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.text ?? '').join('');
    const whole = await client.completions.create({ model: 'babbage-002', prompt: 'Stream', max_tokens: 8 });
    expect(text).toBe(whole.choices[0]!.text);
    expect(chunks.filter((c) => (c.choices[0]?.text ?? '') !== '')).toHaveLength(8);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length');
    expect(chunks.at(-1)!.choices).toEqual([]);
    expect(chunks.at(-1)!.usage).toEqual(whole.usage);
  });

  it('moderates text, lists of text and multimodal input deterministically, without usage', async () => {
    sim.reset();
    const result = await client.moderations.create({ input: ['I will kill you', 'What a lovely day'] });
    expect(result.id).toMatch(/^modr-/);
    expect(result.model).toBe('omni-moderation-latest');
    expect(result).not.toHaveProperty('usage');
    const [threat, calm] = result.results;
    expect(threat!.flagged).toBe(true);
    expect(threat!.categories.violence).toBe(true);
    expect(threat!.categories['harassment/threatening']).toBe(true);
    expect(threat!.category_scores.violence).toBeGreaterThan(0.5);
    expect(calm!.flagged).toBe(false);
    expect(Math.max(...Object.values(calm!.category_scores))).toBeLessThan(0.01);
    const again = await client.moderations.create({ input: ['I will kill you', 'What a lovely day'] });
    expect(again.results).toEqual(result.results);

    const multimodal = await client.moderations.create({
      model: 'omni-moderation-2024-09-26',
      input: [
        { type: 'text', text: 'so much hate' },
        { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
      ],
    });
    expect(multimodal.results).toHaveLength(1);
    expect(multimodal.results[0]!.categories.hate).toBe(true);
    expect(multimodal.results[0]!.category_applied_input_types.violence).toEqual(['text', 'image']);
    expect(multimodal.results[0]!.category_applied_input_types.hate).toEqual(['text']);
    // Moderations draw on RPM (and are charged their input tokens) like any call.
    expect(sim.stats().byEndpoint.moderations).toMatchObject({ requests: 3, ok: 3 });
    expect(sim.stats().tokensCharged).toBeGreaterThan(0);
  });

  it('serves only the endpoints it is given; any other path is a 404 unknown_url', async () => {
    const chatOnly = await startOpenAISimulator({ endpoints: [simulatedEndpoints.chatCompletions] });
    try {
      const c = new OpenAI({ apiKey: 'sk-x', baseURL: chatOnly.url, maxRetries: 0 });
      const missing = await failure(c.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }));
      expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
      expect(missing.code).toBe('unknown_url');
      expect(
        (await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }))
          .object,
      ).toBe('chat.completion');
    } finally {
      await chatOnly.close();
    }
  });
});
