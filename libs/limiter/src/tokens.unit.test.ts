import fc from 'fast-check';
import { getEncoding } from 'js-tiktoken';
import { describe, expect, it } from 'vitest';
import { countTextTokens, encodingNameForModel, estimateChatTokens, modelInfo } from './index';

function png(width: number, height: number): string {
  const b = Buffer.alloc(33);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'ascii');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  return `data:image/png;base64,${b.toString('base64')}`;
}

function jpeg(width: number, height: number): string {
  const app0 = [0xff, 0xe0, 0x00, 0x10, ...Buffer.from('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0];
  const sof = [0xff, 0xc0, 0x00, 0x11, 8, height >> 8, height & 255, width >> 8, width & 255, 3];
  return `data:image/jpeg;base64,${Buffer.from([0xff, 0xd8, ...app0, ...sof, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).toString('base64')}`;
}

const image = (url: string, detail?: 'low' | 'high' | 'auto') => ({
  role: 'user',
  content: [{ type: 'image_url', image_url: { url, ...(detail ? { detail } : {}) } }],
});

/** Prompt tokens of an image message minus the same message without the image. */
function imageCost(model: string, url: string, detail?: 'low' | 'high' | 'auto'): number {
  const withImage = estimateChatTokens({ model, messages: [image(url, detail)], max_tokens: 1 });
  const without = estimateChatTokens({ model, messages: [{ role: 'user', content: [] }], max_tokens: 1 });
  return withImage.promptTokens - without.promptTokens;
}

describe('encodings and models', () => {
  it.each([
    ['gpt-4o', 'o200k_base'],
    ['gpt-4o-mini-2024-07-18', 'o200k_base'],
    ['gpt-4.1-nano', 'o200k_base'],
    ['gpt-4.5-preview', 'o200k_base'],
    ['gpt-5-mini', 'o200k_base'],
    ['o1', 'o200k_base'],
    ['o3-mini', 'o200k_base'],
    ['o4-mini', 'o200k_base'],
    ['ft:gpt-4o-mini:org::abc', 'o200k_base'],
    ['gpt-4', 'cl100k_base'],
    ['gpt-4-turbo', 'cl100k_base'],
    ['gpt-3.5-turbo-0125', 'cl100k_base'],
    ['text-embedding-3-small', 'cl100k_base'],
    ['some-new-model', 'o200k_base'],
  ])('%s uses %s', (model, encoding) => {
    expect(encodingNameForModel(model)).toBe(encoding);
  });

  it('knows context windows and output limits, with a fallback for unknown models', () => {
    expect(modelInfo('gpt-4o-mini')).toMatchObject({ contextWindow: 128_000, maxOutputTokens: 16_384 });
    expect(modelInfo('gpt-4.1-mini')).toMatchObject({ family: 'gpt-4.1', contextWindow: 1_047_576 });
    expect(modelInfo('gpt-5')).toMatchObject({ contextWindow: 400_000 });
    expect(modelInfo('o3')).toMatchObject({ family: 'o-series', maxOutputTokens: 100_000 });
    expect(modelInfo('gpt-4')).toMatchObject({ contextWindow: 8_192 });
    expect(modelInfo('gpt-3.5-turbo')).toMatchObject({ contextWindow: 16_385 });
    expect(modelInfo('brand-new')).toMatchObject({ family: 'unknown' });
  });
});

describe('countTextTokens', () => {
  const o200k = getEncoding('o200k_base');
  const cl100k = getEncoding('cl100k_base');

  it('property: equals the tokenizer exactly (the piece memo changes nothing)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => {
        return (
          countTextTokens('gpt-4o', text) === o200k.encode(text, [], []).length &&
          countTextTokens('gpt-4', text) === cl100k.encode(text, [], []).length
        );
      }),
      { numRuns: 200 },
    );
  });

  it('treats special-token text in user content as text instead of throwing', () => {
    expect(countTextTokens('gpt-4o', 'hi <|endoftext|> there')).toBeGreaterThan(3);
  });
});

describe('estimateChatTokens', () => {
  it('adds 3 per message, 1 per name and 3 to prime the reply', () => {
    const text = (model: string, s: string) => countTextTokens(model, s);
    const e = estimateChatTokens({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', name: 'ada', content: 'Hello there, how are you?' },
      ],
      max_tokens: 50,
    });
    const expected =
      3 +
      (3 + text('gpt-4o', 'system') + text('gpt-4o', 'You are terse.')) +
      (3 + text('gpt-4o', 'user') + 1 + text('gpt-4o', 'ada') + text('gpt-4o', 'Hello there, how are you?'));
    expect(e.promptTokens).toBe(expected);
    expect(e.maxOutputTokens).toBe(50);
  });

  it('charges TPM as the larger of tokens and chars/4, plus n × the output allowance', () => {
    const messages = [{ role: 'user', content: 'x'.repeat(4_000) }];
    const e = estimateChatTokens({ model: 'gpt-4o', messages, max_completion_tokens: 100, n: 3 });
    expect(e.tpmCost).toBe(Math.max(e.promptTokens, Math.ceil(JSON.stringify(messages).length / 4)) + 300);
    expect(e.tpmCost).toBeGreaterThanOrEqual(Math.ceil(4_000 / 4) + 300);
  });

  it('given no max_tokens, then it assumes the default output allowance (or the one passed in)', () => {
    const messages = [{ role: 'user', content: 'hi' }];
    expect(estimateChatTokens({ model: 'gpt-4o', messages }).maxOutputTokens).toBe(4_096);
    expect(
      estimateChatTokens({ model: 'gpt-4o', messages }, { defaultMaxOutputTokens: 256 }).maxOutputTokens,
    ).toBe(256);
  });

  it('counts tool and function definitions', () => {
    const messages = [{ role: 'user', content: 'weather in Paris?' }];
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Current weather for a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
    ];
    const bare = estimateChatTokens({ model: 'gpt-4o', messages, max_tokens: 10 });
    const withTools = estimateChatTokens({ model: 'gpt-4o', messages, tools, max_tokens: 10 });
    const withFunctions = estimateChatTokens({
      model: 'gpt-4o',
      messages,
      functions: [tools[0]!.function],
      max_tokens: 10,
    });
    expect(withTools.promptTokens - bare.promptTokens).toBeGreaterThanOrEqual(
      countTextTokens('gpt-4o', JSON.stringify(tools)),
    );
    expect(withFunctions.promptTokens).toBeGreaterThan(bare.promptTokens + 20);
  });

  it('counts text parts of array content', () => {
    const e = estimateChatTokens({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'one two three' }] }],
      max_tokens: 1,
    });
    const s = estimateChatTokens({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'one two three' }],
      max_tokens: 1,
    });
    expect(e.promptTokens).toBe(s.promptTokens);
  });

  it('prices images by the tile rule when the size is knowable, else by its upper bound', () => {
    expect(imageCost('gpt-4o', 'https://example.com/cat.png', 'low')).toBe(85);
    // OpenAI's worked examples: 1024² → 4 tiles = 765; 2048×4096 → 768×1536 → 6 tiles = 1105.
    expect(imageCost('gpt-4o', png(1024, 1024), 'high')).toBe(765);
    expect(imageCost('gpt-4o', png(2048, 4096))).toBe(1_105);
    expect(imageCost('gpt-4o', jpeg(512, 512), 'auto')).toBe(85 + 170);
    // Unknown size: 2 × 4 tiles is the most the rule allows.
    expect(imageCost('gpt-4o', 'https://example.com/cat.png')).toBe(85 + 170 * 8);
    expect(imageCost('gpt-4o-mini', png(1024, 1024))).toBe(2_833 + 5_667 * 4);
    expect(imageCost('gpt-4.1-mini', 'https://example.com/x.png')).toBe(Math.ceil(1_536 * 1.62));
    expect(imageCost('gpt-4.1-mini', png(320, 320))).toBe(Math.ceil(100 * 1.62));
  });

  it('property: the TPM charge is never below OpenAI-style ceil(chars/4) + n × max_tokens', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ role: fc.constantFrom('user', 'system', 'assistant'), content: fc.string() }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.integer({ min: 1, max: 4_000 }),
        fc.integer({ min: 1, max: 3 }),
        (messages, max, n) => {
          const e = estimateChatTokens({ model: 'gpt-4o-mini', messages, max_tokens: max, n });
          const chars = messages.reduce((a, m) => a + m.content.length + m.role.length, 0);
          return e.tpmCost >= Math.ceil(chars / 4) + n * max;
        },
      ),
      { numRuns: 100 },
    );
  });
});
