import fc from 'fast-check';
import { getEncoding } from 'js-tiktoken';
import { describe, expect, it } from 'vitest';
import { type EncodingName, tokenizer } from './index';

const NAMES: EncodingName[] = ['o200k_base', 'cl100k_base'];
const reference = Object.fromEntries(NAMES.map((n) => [n, getEncoding(n)]));

describe.each(NAMES)('%s', (name) => {
  const t = tokenizer(name);
  const exact = (text: string) => reference[name]?.encode(text, [], []);

  it('property: encodes exactly as js-tiktoken, and counts what it encodes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (text) => {
        expect(t.encode(text)).toEqual(exact(text));
        expect(t.count(text)).toBe(exact(text)?.length);
        expect(t.decode(t.encode(text))).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('encodes exactly on long unbroken runs, where byte-pair merging does the most work', () => {
    const runs = fc.sample(
      fc.string({
        unit: fc.constantFrom('a', 'b', 'q', 'é', '字', '😀'),
        minLength: 1_000,
        maxLength: 2_000,
      }),
      3,
    );
    for (const text of ['a'.repeat(2_000), 'ab'.repeat(900), ...runs])
      expect(t.encode(text)).toEqual(exact(text));
  });

  it('treats special-token text as plain text instead of throwing', () => {
    expect(t.encode('hi <|endoftext|> there')).toEqual(exact('hi <|endoftext|> there'));
  });

  it('encodes a million-character run of one letter (js-tiktoken alone would take hours)', () => {
    const tokens = t.encode('x'.repeat(1_000_000));
    // Runs of one letter merge into tokens of several letters; decoding gives the run back.
    expect(tokens.length).toBeGreaterThan(1_000_000 / 64);
    expect(tokens.length).toBeLessThan(1_000_000 / 2);
    expect(t.decode(tokens)).toBe('x'.repeat(1_000_000));
  });
});
