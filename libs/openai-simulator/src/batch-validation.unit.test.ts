import { describe, expect, it } from 'vitest';
import { firstInvalidJsonlLine, validateBatchInput } from './batch-validation';

const ENDPOINT = '/v1/chat/completions';
const BOUNDS = { maxLines: 50_000, maxBytes: 200 * 1024 * 1024 };

const row = (id: string, body: Record<string, unknown> = {}, over: Record<string, unknown> = {}) =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: ENDPOINT,
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], ...body },
    ...over,
  });

const validate = (text: string, bounds = BOUNDS) =>
  validateBatchInput({ text, bytes: Buffer.byteLength(text) }, ENDPOINT, bounds);

describe('validateBatchInput', () => {
  it('accepts a well-formed file, skipping blank lines and keeping 1-based line numbers', () => {
    const verdict = validate(`${row('a')}\n\n${row('b')}\n`);
    expect(verdict).toMatchObject({ ok: true, model: 'gpt-4o-mini' });
    expect(verdict.ok && verdict.lines.map((l) => [l.line, l.customId])).toEqual([
      [1, 'a'],
      [3, 'b'],
    ]);
  });

  it('reports every bad line with its code, param and line number', () => {
    const verdict = validate(
      [
        row('a'),
        row('a'),
        row('c', { model: 'gpt-4o' }),
        row('d', {}, { url: '/v1/embeddings' }),
        row('e', {}, { method: 'GET' }),
        '{"custom_id":"f","method":"POST","url":"/v1/chat/completions"}',
        'not json',
        row('', {}),
      ].join('\n'),
    );
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.errors.map((e) => [e.line, e.code, e.param])).toEqual([
      [2, 'duplicate_custom_id', 'custom_id'],
      [3, 'mismatched_model', 'body.model'],
      [4, 'invalid_url', 'url'],
      [5, 'invalid_value', 'method'],
      [6, 'missing_required_parameter', 'body'],
      [7, 'invalid_json_line', null],
      [8, 'invalid_type', 'custom_id'],
    ]);
  });

  it('enforces the request-count and byte bounds and refuses an empty file', () => {
    const three = [row('a'), row('b'), row('c')].join('\n');
    expect(validate(three, { ...BOUNDS, maxLines: 2 })).toMatchObject({
      ok: false,
      errors: [{ code: 'too_many_tasks', line: null }],
    });
    expect(validate(three, { ...BOUNDS, maxBytes: 10 })).toMatchObject({
      ok: false,
      errors: [{ code: 'file_too_large' }],
    });
    expect(validate('\n \n')).toMatchObject({ ok: false, errors: [{ code: 'empty_file' }] });
  });

  it('leaves body-level problems (no messages, unknown model) to fail line by line', () => {
    const verdict = validate(
      [row('a', { model: 'gpt-9', messages: undefined }), row('b', { model: 'gpt-9' })].join('\n'),
    );
    expect(verdict).toMatchObject({ ok: true, model: 'gpt-9' });
  });
});

describe('firstInvalidJsonlLine', () => {
  it('finds the first line that is not a JSON object', () => {
    expect(firstInvalidJsonlLine('{"a":1}\n\n{"b":2}\n')).toBeNull();
    expect(firstInvalidJsonlLine('{"a":1}\n[1,2]\n')).toBe(2);
    expect(firstInvalidJsonlLine('{"a":1}\n{"b":\n')).toBe(2);
  });
});
