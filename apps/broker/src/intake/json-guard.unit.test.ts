import { describe, expect, it } from 'vitest';
import { findUnsafeJson, inspectJson, MAX_JSON_DEPTH } from './json-guard';

const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

describe('findUnsafeJson', () => {
  it('accepts ordinary requests, including non-BMP text (paired surrogates)', () => {
    expect(
      findUnsafeJson({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'héllo 😀 𝄞 你好' }] }),
    ).toBeUndefined();
    expect(findUnsafeJson(nested(MAX_JSON_DEPTH))).toBeUndefined();
  });

  it('names where a NUL or an unpaired surrogate is, in values and in keys', () => {
    expect(findUnsafeJson({ messages: [{ content: 'a\u0000b' }] })).toEqual({
      path: 'messages.0.content',
      message: expect.stringMatching(/NUL/),
    });
    expect(findUnsafeJson({ model: '\ud800' })?.message).toMatch(/unpaired UTF-16 surrogate/);
    expect(findUnsafeJson({ model: 'x\udc00y' })?.path).toBe('model');
    expect(findUnsafeJson({ metadata: { 'k\u0000': 'v' } })).toEqual({
      path: 'metadata',
      message: expect.stringMatching(/^a key contains a NUL/),
    });
  });

  it('refuses nesting past the limit without recursing (100k levels)', () => {
    expect(findUnsafeJson(nested(MAX_JSON_DEPTH + 1))?.message).toMatch(/nested deeper than 64/);
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnsafeJson({ x: deep })?.message).toMatch(/nested deeper/);
  });

  it('refuses prototype-poisoning keys as Fastify does', () => {
    const proto = JSON.parse('{"messages":[{"role":"user","__proto__":{"admin":true}}]}');
    expect(findUnsafeJson(proto)).toEqual({
      path: 'messages.0',
      message: expect.stringMatching(/__proto__/),
    });
    expect(findUnsafeJson({ constructor: { prototype: { admin: true } } })?.message).toMatch(/constructor/);
    // A property merely named `constructor` (e.g. in a JSON schema) is fine.
    expect(findUnsafeJson({ properties: { constructor: { type: 'string' } } })).toBeUndefined();
  });

  it('counts the characters of text in string values in the same walk (keys and numbers not)', () => {
    expect(inspectJson({ a: ['xx', { b: 'yyy' }], n: 5 })).toEqual({ textChars: 5 });
    expect(inspectJson('')).toEqual({ textChars: 0 });
    expect(inspectJson({ a: 'ok', b: 'x\u0000' }).textChars).toBeUndefined();
  });
});
