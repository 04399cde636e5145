import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8Checked } from './request-body';

/** The bytes cut into chunks at `cuts`, through the check: what came out, or the refusal. */
async function check(bytes: Buffer, cuts: number[]): Promise<Buffer | Error> {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks = [...at, bytes.length].map((end, i) => bytes.subarray(i === 0 ? 0 : at[i - 1], end));
  const out: Buffer[] = [];
  try {
    await pipeline(Readable.from(chunks.filter((c) => c.length > 0)), utf8Checked(), async (source) => {
      for await (const c of source) out.push(c as Buffer);
    });
    return Buffer.concat(out);
  } catch (e) {
    return e as Error;
  }
}

describe('utf8Checked', () => {
  it('passes any UTF-8 through unchanged, however it is cut into chunks', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme' }), fc.array(fc.nat()), async (text, cuts) => {
        const bytes = Buffer.from(text);
        expect(await check(bytes, cuts)).toEqual(bytes);
      }),
    );
  });

  it('refuses a byte that is not UTF-8 wherever it is and however the body is cut', async () => {
    const invalid = [[0xff], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x99], [0x80], [0xed, 0xa0, 0x80]];
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme' }),
        fc.string({ unit: 'grapheme' }),
        fc.constantFrom(...invalid),
        fc.array(fc.nat()),
        async (before, after, bad, cuts) => {
          // A cut-off sequence followed by ASCII or the end is invalid; before a continuation byte it
          // might complete, so the text after it starts with ASCII.
          const bytes = Buffer.concat([Buffer.from(before), Buffer.from(bad), Buffer.from(`!${after}`)]);
          const result = await check(bytes, cuts);
          expect(result).toBeInstanceOf(Error);
          expect((result as Error).message).toMatch(/not valid UTF-8/);
        },
      ),
    );
  });

  it('refuses a sequence cut off at the very end', async () => {
    expect(await check(Buffer.from([0x7b, 0xe2, 0x82]), [2])).toBeInstanceOf(Error);
    expect(await check(Buffer.from('{"a":"€"}'), [6, 7])).toEqual(Buffer.from('{"a":"€"}'));
  });
});
