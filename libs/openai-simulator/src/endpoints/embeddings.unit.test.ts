import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { embeddings, embeddingToBase64, embeddingVector } from './embeddings';

const norm = (v: readonly number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const ctx = { defaultMaxTokens: 4096, createdSeconds: 1 };

describe('embedding vectors', () => {
  it('are deterministic per (model, text), unit length, of the model native size', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const v = embeddingVector('text-embedding-3-small', text);
        expect(v).toHaveLength(1536);
        expect(norm(v)).toBeCloseTo(1, 5);
        expect(embeddingVector('text-embedding-3-small', text)).toEqual(v);
      }),
      { numRuns: 50 },
    );
    expect(embeddingVector('text-embedding-3-large', 'x')).toHaveLength(3072);
    expect(embeddingVector('text-embedding-3-small', 'a')).not.toEqual(
      embeddingVector('text-embedding-3-small', 'b'),
    );
    expect(embeddingVector('text-embedding-3-small', 'a')).not.toEqual(
      embeddingVector('text-embedding-ada-002', 'a'),
    );
  });

  it('shortened to `dimensions` are the native prefix renormalised, as OpenAI shortens them', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 3072 }), (text, dimensions) => {
        const full = embeddingVector('text-embedding-3-large', text);
        const short = embeddingVector('text-embedding-3-large', text, dimensions);
        expect(short).toHaveLength(dimensions);
        expect(norm(short)).toBeCloseTo(1, 4);
        const scale = norm(full.slice(0, dimensions));
        short.forEach((x, i) => {
          expect(x).toBeCloseTo(full[i]! / scale, 5);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('encode as little-endian float32 in base64, decoding to exactly the float values', () => {
    const v = embeddingVector('text-embedding-3-small', 'round trip');
    const bytes = Buffer.from(embeddingToBase64(v), 'base64');
    expect(bytes.length).toBe(v.length * 4);
    const decoded = Array.from({ length: v.length }, (_, i) => bytes.readFloatLE(i * 4));
    expect(decoded).toEqual(v);
  });
});

describe('the embeddings endpoint', () => {
  const refuse = (body: Record<string, unknown>) =>
    embeddings.refuse({ model: 'text-embedding-3-small', ...body });

  it('takes a string, strings, token ids and arrays of token ids; refuses anything else naming input', () => {
    for (const input of ['a', ['a', 'b'], [1, 2, 3], [[1, 2], [3]]]) expect(refuse({ input })).toBeNull();
    for (const input of [undefined, '', [], [''], [1, 'a'], [[]], { text: 'a' }, [-1], [1.5]]) {
      expect(refuse({ input })).toMatchObject({ status: 400, param: 'input' });
    }
  });

  it('charges the input tokens (token inputs count their length) and reports them as usage', () => {
    const body = {
      model: 'text-embedding-3-small',
      input: [
        [1, 2, 3],
        [4, 5],
      ],
    };
    expect(embeddings.charge(body, ctx)).toBe(5);
    const answer = embeddings.answer(body, ctx);
    expect(answer).toMatchObject({ promptTokens: 5, outputTokens: 0 });
    expect(answer.body()).toMatchObject({ usage: { prompt_tokens: 5, total_tokens: 5 } });
  });

  it('seeds token inputs by their text: the same vector as the text they spell', () => {
    const text = embeddings.answer({ model: 'text-embedding-3-small', input: 'hello world' }, ctx).body();
    // cl100k_base: "hello" = 15339, " world" = 1917.
    const tokens = embeddings.answer({ model: 'text-embedding-3-small', input: [15339, 1917] }, ctx).body();
    expect(tokens.data).toEqual(text.data);
  });

  it('refuses dimensions outside 1..native, on ada-002, and an unknown encoding_format', () => {
    expect(refuse({ input: 'a', dimensions: 1536 })).toBeNull();
    expect(refuse({ input: 'a', dimensions: 1537 })).toMatchObject({ param: 'dimensions' });
    expect(refuse({ input: 'a', dimensions: 0 })).toMatchObject({ param: 'dimensions' });
    expect(embeddings.refuse({ model: 'text-embedding-ada-002', input: 'a', dimensions: 8 })).toMatchObject({
      message: 'This model does not support specifying dimensions.',
    });
    expect(refuse({ input: 'a', encoding_format: 'int8' })).toMatchObject({
      param: 'encoding_format',
      message: "Invalid value: 'int8'. Supported values are: 'float' and 'base64'.",
    });
  });
});
