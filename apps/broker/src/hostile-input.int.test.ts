import { REQUEST_TOPICS } from '@sluice/events';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSluice, type TestSluice } from './__tests__/harness';
import { DEFAULT_SUBMIT_RATE } from './intake/submit-rate';

// Hostile input at the edge: thousands of generated malformed, oversized, wrongly typed and
// unicode-heavy requests at tRPC and /v1 with a valid tenant key. Every one must be refused with a
// 4xx and a message, none may reach the log, and the process must keep serving. The generators
// produce only invalid requests (each is a valid base with at least one change that must be refused).

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.FUZZ_RUNS ?? 10_500);
const CONCURRENCY = 48;
const BODY_LIMIT = 256 * 1024; // the harness's maxBodyBytes

interface HostileRequest {
  kind: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';
  /** Path and query, e.g. `/v1/chat/completions` or `/trpc/requests.get?input=…`. */
  path: string;
  headers?: Record<string, string>;
  /** `undefined` sends no body; bytes are sent as they are. */
  body?: string | Uint8Array;
  contentType?: string | null;
}

const base = () => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'hello' }] as unknown[],
  max_tokens: 5,
});
const baseJson = JSON.stringify(base());

const parses = (text: string) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

// ---- building blocks -------------------------------------------------------------------------

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
/** Unicode-heavy text that always carries something Sluice must refuse (NUL or an unpaired surrogate). */
const poisonedText = fc
  .tuple(
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.oneof(loneSurrogate, fc.constant('\u0000')),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
  )
  .map(([a, bad, b]) => `${a}${bad}${b}`);
const unicodeText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ unit: 'grapheme-composite', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);
const nonString = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
);
const nonNumber = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.boolean(),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
);
const nonArray = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 20 }),
  fc.boolean(),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 3 }),
);
/** A string of `min..max` code points (what zod's length limits count), cheap to generate at any size. */
const hugeString = (min: number, max: number) =>
  fc
    .tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }), fc.integer({ min, max }))
    .map(([s, n]) => {
      const codePoints = [...s];
      return Array.from({ length: n }, (_, i) => codePoints[i % codePoints.length]).join('');
    });
const deepText = (open: string, inner: string, close: string) =>
  fc.integer({ min: 70, max: 5_000 }).map((d) => open.repeat(d) + inner + close.repeat(d));
const KNOWN_KEYS = new Set(
  'model messages max_tokens max_completion_tokens temperature top_p n stop presence_penalty frequency_penalty logit_bias logprobs top_logprobs seed user safety_identifier prompt_cache_key metadata store service_tier reasoning_effort verbosity modalities audio prediction response_format tools tool_choice parallel_tool_calls functions function_call stream stream_options'.split(
    ' ',
  ),
);

/**
 * Replaces one field of the valid base with a value that must be refused. Sluice validates only
 * what it reads (model, messages, output limits, n, stream, tools, temperature) plus its safety
 * guards; every other field passes through to the upstream, so only those are generated here.
 */
const withField = (field: string, value: fc.Arbitrary<unknown>) =>
  value.map((v) => ({ kind: `field:${field}`, json: JSON.stringify({ ...base(), [field]: v }) }));
const withMessage = (label: string, message: fc.Arbitrary<unknown>) =>
  message.map((m) => ({ kind: `message:${label}`, json: JSON.stringify({ ...base(), messages: [m] }) }));
const withoutField = fc.subarray(['model', 'messages'], { minLength: 1 }).map((drop) => {
  const b: Record<string, unknown> = base();
  for (const k of drop) delete b[k];
  return { kind: 'missing', json: JSON.stringify(b) };
});

/** An invalid chat completion request, as JSON text (text so raw `__proto__` keys and deep nesting survive). */
const badParams: fc.Arbitrary<{ kind: string; json: string }> = fc.oneof(
  withoutField,
  withField('model', fc.oneof(nonString, fc.constant(''), hugeString(257, 5_000), poisonedText)),
  withField(
    'model',
    unicodeText.map((s) => `no-such-model-${s}`),
  ),
  withField('messages', fc.oneof(nonArray, fc.constant([]), fc.constant(null))),
  withField(
    'messages',
    fc
      .integer({ min: 2_049, max: 2_600 })
      .map((n) => Array.from({ length: n }, () => ({ role: 'user', content: 'x' }))),
  ),
  withMessage(
    'not-object',
    fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constant(null), fc.array(fc.integer())),
  ),
  withMessage(
    'bad-role',
    fc.oneof(nonString, fc.constant('')).map((role) => ({ role, content: 'x' })),
  ),
  withMessage(
    'content-type',
    fc
      .oneof(
        fc.integer(),
        fc.boolean(),
        fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { minKeys: 1, maxKeys: 3 }),
        fc.array(fc.oneof(fc.integer(), fc.string()), { minLength: 1, maxLength: 4 }),
        fc.constant([{ text: 'a part without a type' }]),
      )
      .map((content) => ({ role: 'user', content })),
  ),
  withMessage(
    'poisoned',
    fc
      .tuple(fc.constantFrom('user', 'system', 'assistant'), poisonedText)
      .map(([role, content]) => ({ role, content })),
  ),
  withMessage(
    'name',
    fc
      .oneof(
        hugeString(257, 400),
        poisonedText,
        nonString.filter((v) => v !== null && v !== undefined),
      )
      .map((name) => ({ role: 'user', content: 'x', name })),
  ),
  withField(
    'max_tokens',
    fc.oneof(
      fc.integer({ min: -1e9, max: 0 }),
      fc.integer({ min: 200_001, max: 2 ** 31 }),
      fc
        .double({ min: 1.01, max: 1e300, noNaN: true, noDefaultInfinity: true })
        .filter((d) => !Number.isInteger(d)),
      nonNumber,
      fc.constant(1e308),
    ),
  ),
  withField(
    'max_completion_tokens',
    fc.oneof(fc.integer({ min: 16_385, max: 10_000_000 }), fc.integer({ max: 0 }), nonNumber),
  ),
  // Read by the cache (deterministic requests): a number or nothing.
  withField(
    'temperature',
    nonNumber.filter((v) => v !== null && v !== undefined),
  ),
  withField('n', fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 129 }), fc.constant(1.5))),
  withField('stream', fc.oneof(fc.string({ maxLength: 5 }), fc.integer())),
  withField('response_format', fc.oneof(fc.string({ maxLength: 10 }), fc.integer())),
  // Fields Sluice does not read pass through, but never with text the log cannot store.
  withField(
    'metadata',
    fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), poisonedText, { minKeys: 1, maxKeys: 3 }),
  ),
  withField('user', poisonedText),
  withField(
    'tools',
    fc.oneof(
      fc
        .integer({ min: 129, max: 300 })
        .map((n) => Array.from({ length: n }, (_, i) => ({ type: 'function', function: { name: `f${i}` } }))),
      fc.oneof(fc.string({ maxLength: 6 }), fc.integer()),
      poisonedText.map((d) => [{ type: 'function', function: { name: 'f', description: d } }]),
    ),
  ),
  // Unknown top-level parameters pass through, unless they carry what the log cannot store.
  fc
    .tuple(
      unicodeText.filter((k) => k.length > 0 && !KNOWN_KEYS.has(k) && k !== '__proto__'),
      poisonedText,
    )
    .map(([k, v]) => ({ kind: 'unknown-key', json: JSON.stringify({ ...base(), [k]: { nested: [v] } }) })),
  // Prototype-pollution keys, spliced in as raw JSON text.
  fc
    .constantFrom(
      (j: string) => j.replace('"content":"hello"', '"content":"hello","__proto__":{"isAdmin":true}'),
      (j: string) => `${j.slice(0, -1)},"__proto__":{"role":"admin"}}`,
      (j: string) => `${j.slice(0, -1)},"constructor":{"prototype":{"isAdmin":true}}}`,
      (j: string) => `${j.slice(0, -1)},"metadata":{"__proto__":"x"}}`,
      (j: string) =>
        `${j.slice(0, -1)},"tools":[{"type":"function","function":{"name":"f","parameters":{"constructor":{"prototype":{"x":1}}}}}]}`,
    )
    .map((splice) => ({ kind: 'prototype-key', json: splice(baseJson) })),
  // Deep nesting where the schema keeps the value as it is, and where it expects something else.
  fc
    .oneof(
      deepText('{"a":', '1', '}').map(
        (d) =>
          `${baseJson.slice(0, -1)},"tools":[{"type":"function","function":{"name":"f","parameters":${d}}}]}`,
      ),
      deepText('[', '', ']').map((d) => `{"model":"gpt-4o-mini","messages":${d}}`),
      deepText('{"x":', '"y"', '}').map((d) => `${baseJson.slice(0, -1)},"metadata":${d}}`),
    )
    .map((json) => ({ kind: 'deep', json })),
  // Over the body limit.
  hugeString(BODY_LIMIT + 1, BODY_LIMIT + 64 * 1024).map((content) => ({
    kind: 'oversized',
    json: JSON.stringify({ ...base(), messages: [{ role: 'user', content }] }),
  })),
);

/** Text that is not JSON at all. */
const invalidJson = fc
  .oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.integer({ min: 1, max: baseJson.length - 1 }).map((n) => baseJson.slice(0, n)),
    fc.constantFrom(
      '',
      '{',
      "{'model':'gpt-4o-mini'}",
      '{"model":"gpt-4o-mini",}',
      '{"max_tokens":NaN}',
      `${baseJson}garbage`,
      `${baseJson}${baseJson}`,
      '{"model":"x\u0000"}', // a raw control character inside a string
      'undefined',
    ),
  )
  .filter((t) => !parses(t));
const randomBytes = fc
  .uint8Array({ minLength: 1, maxLength: 200 })
  .filter((b) => !parses(new TextDecoder().decode(b)));
const nonObjectJson = fc
  .oneof(
    fc.integer(),
    fc.string({ maxLength: 20 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 4 }),
  )
  .map((v) => JSON.stringify(v));
const badOptions = fc.oneof(
  fc
    .string({ maxLength: 12 })
    .filter((p) => !['interactive', 'standard', 'batch'].includes(p))
    .map((priority) => ({ priority })),
  fc
    .oneof(
      fc.constant(''),
      fc.constant('has space'),
      hugeString(257, 600),
      poisonedText,
      unicodeText.filter((s) => /[^\x21-\x7e]/.test(s)),
    )
    .map((idempotencyKey) => ({ idempotencyKey })),
  fc
    .oneof(
      fc.integer({ max: 0 }),
      fc.constant(1.5),
      fc.integer({ min: 7 * 24 * 3600_000 + 1 }),
      fc.string({ maxLength: 4 }),
    )
    .map((timeoutMs) => ({ timeoutMs })),
  fc
    .string({ minLength: 1, maxLength: 8 })
    .filter((k) => !['priority', 'idempotencyKey', 'timeoutMs', '__proto__'].includes(k))
    .map((k) => ({ [k]: 1 })),
);
const badHeaders = fc.oneof(
  fc
    .stringMatching(/^[a-z]{1,12}$/)
    .filter((p) => !['interactive', 'standard', 'batch'].includes(p))
    .map((v) => ({ 'x-sluice-priority': v })),
  fc.constantFrom('has space', 'tab\tinside', 'x'.repeat(300)).map((v) => ({ 'idempotency-key': v })),
  fc.constantFrom('abc', '0', '-5', '1.5', '1e20', 'NaN').map((v) => ({ 'x-sluice-timeout-ms': v })),
);
const NON_JSON_TYPES = [
  'text/plain',
  'text/plain; charset=utf-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=fuzz',
  'application/xml',
  'text/html',
  'application/octet-stream',
  'image/png',
];
const requestIdInput = fc.oneof(
  nonString.map((id) => ({ id })),
  fc
    .string({ maxLength: 80 })
    .filter((id) => !/^req_[A-Za-z0-9_-]+$/.test(id) || id.length < 5 || id.length > 64)
    .map((id) => ({ id })),
  poisonedText.map((id) => ({ id: `req_${id}` })),
  fc.constant({}),
);

/** URI-encodes text that may hold raw lone surrogates (which encodeURIComponent refuses). */
const uri = (text: string) => encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '\ufffd'));
const q = (input: unknown) => `input=${uri(JSON.stringify(input))}`;

const hostileRequest: fc.Arbitrary<HostileRequest> = fc.oneof(
  {
    weight: 30,
    arbitrary: badParams.map((p) => ({
      kind: `v1 ${p.kind}`,
      method: 'POST' as const,
      path: '/v1/chat/completions',
      body: p.json,
    })),
  },
  {
    weight: 25,
    arbitrary: fc
      .tuple(badParams, fc.constantFrom('requests.submit', 'chat.completions.create'))
      .map(([p, proc]) => ({
        kind: `trpc ${p.kind}`,
        method: 'POST' as const,
        path: `/trpc/${proc}`,
        body: `{"params":${p.json}}`,
      })),
  },
  {
    weight: 6,
    arbitrary: fc.tuple(badParams, badParams).map(([a, b]) => ({
      kind: `trpc-batch ${a.kind}+${b.kind}`,
      method: 'POST' as const,
      path: '/trpc/requests.submit,chat.completions.create?batch=1',
      body: `{"0":{"params":${a.json}},"1":{"params":${b.json}}}`,
    })),
  },
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.oneof(invalidJson, randomBytes),
        fc.constantFrom(
          '/v1/chat/completions',
          '/trpc/requests.submit',
          '/trpc/chat.completions.create',
          '/trpc/requests.submit,requests.submit?batch=1',
        ),
      )
      .map(([body, path]) => ({ kind: 'invalid-json', method: 'POST' as const, path, body })),
  },
  {
    weight: 5,
    arbitrary: fc
      .tuple(nonObjectJson, fc.constantFrom('v1', 'trpc-input', 'trpc-params'))
      .map(([json, where]) =>
        where === 'v1'
          ? { kind: 'v1 non-object', method: 'POST' as const, path: '/v1/chat/completions', body: json }
          : {
              kind: `${where} non-object`,
              method: 'POST' as const,
              path: '/trpc/requests.submit',
              body: where === 'trpc-input' ? json : `{"params":${json}}`,
            },
      ),
  },
  {
    weight: 5,
    arbitrary: badOptions.map((options) => ({
      kind: 'trpc bad-options',
      method: 'POST' as const,
      path: '/trpc/requests.submit',
      body: JSON.stringify({ params: base(), options }),
    })),
  },
  {
    weight: 4,
    arbitrary: badHeaders.map((headers) => ({
      kind: 'v1 bad-headers',
      method: 'POST' as const,
      path: '/v1/chat/completions',
      headers,
      body: baseJson,
    })),
  },
  {
    weight: 5,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...NON_JSON_TYPES, null),
        fc.constantFrom('/v1/chat/completions', '/trpc/requests.submit'),
      )
      .map(([contentType, path]) => ({
        kind: 'content-type',
        method: 'POST' as const,
        path,
        contentType,
        // A *valid* request in the wrong content type must still be refused.
        body: path.startsWith('/trpc') ? JSON.stringify({ params: base() }) : baseJson,
      })),
  },
  {
    weight: 4,
    arbitrary: fc.constantFrom<HostileRequest>(
      { kind: 'method', method: 'PUT', path: '/v1/chat/completions', body: baseJson },
      { kind: 'method', method: 'PATCH', path: '/v1/chat/completions', body: baseJson },
      { kind: 'method', method: 'DELETE', path: '/v1/chat/completions' },
      { kind: 'method', method: 'GET', path: '/v1/chat/completions' },
      { kind: 'method', method: 'OPTIONS', path: '/v1/chat/completions' },
      { kind: 'method', method: 'POST', path: '/v1/models', body: '{}' },
      {
        kind: 'method',
        method: 'PUT',
        path: '/trpc/requests.submit',
        body: JSON.stringify({ params: base() }),
      },
      { kind: 'method', method: 'DELETE', path: '/trpc/requests.submit' },
      { kind: 'method', method: 'GET', path: `/trpc/requests.submit?${q({ params: base() })}` },
      { kind: 'method', method: 'GET', path: `/trpc/chat.completions.create?${q({ params: base() })}` },
      { kind: 'method', method: 'POST', path: '/trpc/requests.get', body: '{"id":"req_abcdef"}' },
      { kind: 'method', method: 'POST', path: '/trpc/requests.watch', body: '{"id":"req_abcdef"}' },
      {
        kind: 'unknown procedure',
        method: 'POST',
        path: '/trpc/requests.submitt',
        body: JSON.stringify({ params: base() }),
      },
      {
        kind: 'unknown procedure',
        method: 'POST',
        path: '/trpc/__proto__',
        body: JSON.stringify({ params: base() }),
      },
      {
        kind: 'unknown procedure',
        method: 'POST',
        path: '/trpc/requests.submit,constructor?batch=1',
        body: '{"0":{},"1":{}}',
      },
    ),
  },
  {
    weight: 8,
    arbitrary: fc
      .oneof(
        fc
          .tuple(fc.constantFrom('requests.get', 'requests.wait', 'requests.watch'), requestIdInput)
          .map(([proc, input]) => `/trpc/${proc}?${q(input)}`),
        // (An empty `input=` is no input at all, which `list` and `usage.mine` accept.)
        fc
          .constantFrom('requests.get', 'requests.list', 'usage.mine', 'requests.watch')
          .chain((proc) => invalidJson.filter((t) => t !== '').map((t) => `/trpc/${proc}?input=${uri(t)}`)),
        fc
          .oneof(
            fc.record({
              limit: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 501 }), fc.string({ maxLength: 3 })),
            }),
            fc
              .record({ status: fc.string({ maxLength: 8 }) })
              .filter(
                (x) =>
                  !['queued', 'dispatched', 'retrying', 'completed', 'failed', 'cancelled'].includes(
                    x.status,
                  ),
              ),
          )
          .map((input) => `/trpc/requests.list?${q(input)}`),
        fc
          .oneof(
            fc.record({
              by: fc.string({ maxLength: 5 }).filter((b) => !['hour', 'day', 'model'].includes(b)),
            }),
            fc.record({ from: unicodeText }).filter((x) => x.from.length > 0),
            fc.constant({ from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }),
          )
          .map((input) => `/trpc/usage.mine?${q(input)}`),
        fc
          .tuple(requestIdInput, requestIdInput)
          .map(([a, b]) => `/trpc/requests.get,requests.wait?batch=1&${q({ 0: a, 1: b })}`),
      )
      .map((path) => ({ kind: `trpc-query ${path.split('?')[0]}`, method: 'GET' as const, path })),
  },
);

type Outcome = { req: HostileRequest; status: number; refused: boolean; excerpt: string };

const is4xx = (status: unknown) => typeof status === 'number' && status >= 400 && status < 500;
const hasMessage = (e: unknown) => {
  const m = (e as { message?: unknown } | null | undefined)?.message;
  return typeof m === 'string' && m.trim().length > 0;
};
type ErrorBody = { error?: { message?: unknown; data?: { httpStatus?: unknown } } };

/**
 * Whether a response is a proper refusal: a 4xx with an OpenAI-shaped or tRPC error carrying a
 * message. Two tRPC forms are refusals too: a batch answered 207 because its calls failed with
 * different 4xx statuses (each call's error says which), and a subscription, which tRPC v11 always
 * answers as a 200 event stream, here one whose only outcome is a 4xx `serialized-error` event.
 */
function isRefusal(status: number, contentType: string, text: string): boolean {
  if (contentType.startsWith('text/event-stream')) {
    const events = text
      .split(/\n\n+/)
      .filter((block) => block.trim() && !block.startsWith(':'))
      .map((block) => ({
        event: /^event: ?(.*)$/m.exec(block)?.[1] ?? 'message',
        data: /^data: ?(.*)$/m.exec(block)?.[1] ?? '',
      }));
    const errors = events
      .filter((e) => e.event === 'serialized-error')
      .map((e) => JSON.parse(e.data) as ErrorBody['error']);
    return (
      status === 200 &&
      errors.length === 1 &&
      errors.every((e) => hasMessage(e) && is4xx(e?.data?.httpStatus)) &&
      events.every((e) => e.event === 'connected' || e.event === 'serialized-error')
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return false;
  }
  if (Array.isArray(body)) {
    const calls = body as ErrorBody[];
    const each =
      calls.length > 0 && calls.every((c) => hasMessage(c.error) && is4xx(c.error?.data?.httpStatus));
    return each && (is4xx(status) || status === 207);
  }
  return is4xx(status) && hasMessage((body as ErrorBody).error);
}

/** Records in the request topics of the Postgres-backed log: what the dispatcher would consume. */
async function requestRecords(s: TestSluice): Promise<number> {
  const topics = sql.join(
    REQUEST_TOPICS.map((t) => sql`${t}`),
    sql`, `,
  );
  const result = await s.runtime.database.db.execute(
    sql`SELECT count(*)::int AS n FROM sluice_log_record WHERE topic IN (${topics})`,
  );
  const rows = (result as unknown as { rows: Array<{ n: number }> }).rows;
  return Number(rows[0]?.n ?? Number.NaN);
}

describe('hostile input (embedded, the real default submit limit)', () => {
  let s: TestSluice;

  beforeAll(async () => {
    s = await startTestSluice({
      mode: 'embedded',
      submitRate: DEFAULT_SUBMIT_RATE,
      simulator: { limits: { default: { rpm: 1_000_000, tpm: 1_000_000_000 } } },
    });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  async function send(req: HostileRequest): Promise<Outcome> {
    const headers: Record<string, string> = { authorization: `Bearer ${s.tenant.apiKey}`, ...req.headers };
    const contentType = req.contentType === undefined ? 'application/json' : req.contentType;
    if (contentType !== null && req.body !== undefined) headers['content-type'] = contentType;
    try {
      const res = await fetch(`${s.url}${req.path}`, {
        method: req.method,
        headers,
        ...(req.body !== undefined ? { body: req.body } : {}),
      });
      const text = await res.text();
      const refused = isRefusal(res.status, res.headers.get('content-type') ?? '', text);
      return { req, status: res.status, refused, excerpt: text.slice(0, 300) };
    } catch (error) {
      // A dropped connection is not a refusal: reported with the seed like any other bad outcome.
      const cause = (error as { cause?: unknown }).cause;
      return { req, status: 0, refused: false, excerpt: `fetch failed: ${String(error)} (${String(cause)})` };
    }
  }

  it(`refuses ${RUNS} generated hostile requests with a 4xx and a message, and logs none of them`, async () => {
    const requests = fc.sample(hostileRequest, { numRuns: RUNS, seed: SEED });
    expect(requests.length).toBeGreaterThanOrEqual(10_000);
    const before = await requestRecords(s);
    const started = Date.now();

    const outcomes: Outcome[] = [];
    for (let i = 0; i < requests.length; i += CONCURRENCY) {
      outcomes.push(...(await Promise.all(requests.slice(i, i + CONCURRENCY).map(send))));
    }

    const bad = outcomes.filter((o) => !o.refused);
    const describeBad = bad
      .slice(0, 5)
      .map(
        (o) =>
          `${o.req.kind}: ${o.req.method} ${o.req.path.slice(0, 120)} [${o.req.contentType ?? 'json'}] ` +
          `body=${String(typeof o.req.body === 'string' ? o.req.body.slice(0, 200) : o.req.body?.length)} → ${o.status} ${o.excerpt}`,
      )
      .join('\n');
    expect(
      bad.length,
      `seed ${SEED}: ${bad.length} requests not refused properly, e.g.\n${describeBad}`,
    ).toBe(0);
    expect(await requestRecords(s), `seed ${SEED}: malformed requests reached the log`).toBe(before);
    expect(
      s.logs.filter((l) => l.includes('"level":50')),
      'no request failed as an internal error',
    ).toEqual([]);

    // Both APIs and the failure classes were really exercised (guards against a generator gone narrow).
    const hits = (prefix: string) => outcomes.filter((o) => o.req.path.startsWith(prefix)).length;
    expect(hits('/v1/')).toBeGreaterThan(2_000);
    expect(hits('/trpc/')).toBeGreaterThan(4_000);
    const statuses = new Set(outcomes.map((o) => o.status));
    for (const status of [400, 404, 405, 413, 415]) expect(statuses).toContain(status);
    // Refused input costs no submit budget: none of it met the (real, default) per-tenant limit.
    expect(statuses).not.toContain(429);
    console.info(
      `hostile input: ${outcomes.length} requests (seed ${SEED}) in ${((Date.now() - started) / 1000).toFixed(1)} s; statuses ${[...statuses].sort().join(', ')}`,
    );
  }, 240_000);

  it('still serves a valid request afterwards, and the log count sees it', async () => {
    const before = await requestRecords(s);
    const submitted = await fetch(`${s.url}/trpc/requests.submit`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenant.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ params: base() }),
    });
    expect(submitted.status).toBe(200);
    const completion = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenant.apiKey}`, 'content-type': 'application/json' },
      body: baseJson,
    });
    expect(completion.status).toBe(200);
    expect(((await completion.json()) as { object: string }).object).toBe('chat.completion');
    expect(await requestRecords(s)).toBe(before + 2);
  }, 60_000);
});

// The limit itself, set low so that the embedded log (slower than the default 200/s) meets it.
describe('per-tenant submit limit', () => {
  const LOW = { ratePerSecond: 2, burst: 5 };
  let s: TestSluice;

  beforeAll(async () => {
    s = await startTestSluice({
      mode: 'embedded',
      submitRate: LOW,
      simulator: { limits: { default: { rpm: 1_000_000, tpm: 1_000_000_000 } } },
    });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  it('limits how fast one tenant can submit: 429 with retry-after on both APIs, other tenants unaffected', async () => {
    const noisy = await s.newTenant('noisy');
    const quiet = await s.newTenant('quiet');
    const submit = (apiKey: string) =>
      fetch(`${s.url}/trpc/requests.submit`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ params: base(), options: { priority: 'batch' } }),
      });
    const before = await requestRecords(s);
    const started = Date.now();
    const attempts = 40;
    const statuses: number[] = [];
    const refusals: Response[] = [];
    for (const r of await Promise.all(Array.from({ length: attempts }, () => submit(noisy.apiKey)))) {
      statuses.push(r.status);
      if (r.status === 429) refusals.push(r);
      else await r.body?.cancel();
    }
    const elapsedS = (Date.now() - started) / 1000;
    const accepted = statuses.filter((st) => st === 200).length;
    expect(statuses.every((st) => st === 200 || st === 429)).toBe(true);
    expect(refusals.length).toBeGreaterThan(0);
    expect(accepted).toBeGreaterThanOrEqual(LOW.burst);
    expect(accepted).toBeLessThanOrEqual(LOW.burst + Math.ceil(LOW.ratePerSecond * elapsedS) + 1);
    // Exactly the accepted ones reached the log.
    expect(await requestRecords(s)).toBe(before + accepted);

    const trpcRefusal = refusals[0]!;
    expect(Number(trpcRefusal.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const trpcBody = (await trpcRefusal.json()) as { error: { message: string; data: { code: string } } };
    expect(trpcBody.error.data.code).toBe('TOO_MANY_REQUESTS');
    expect(trpcBody.error.message).toMatch(/Sluice's per-tenant submit rate limit/);
    for (const r of refusals.slice(1)) await r.body?.cancel();

    // Drain the bucket again, then the OpenAI-compatible API says the same in OpenAI's shape.
    let v1: Response | undefined;
    for (let i = 0; i < 2_000 && !v1; i++) {
      const r = await fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${noisy.apiKey}`,
          'content-type': 'application/json',
          'x-sluice-priority': 'batch',
        },
        body: baseJson,
        signal: AbortSignal.timeout(100),
      }).catch(() => undefined);
      if (r?.status === 429) v1 = r;
      else await r?.body?.cancel().catch(() => {});
    }
    expect(v1, 'a /v1 submit was refused').toBeDefined();
    expect(Number(v1!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const openaiBody = (await v1!.json()) as { error: { message: string; type: string; code: string } };
    expect(openaiBody.error.code).toBe('rate_limit_exceeded');
    expect(openaiBody.error.message).toMatch(/Sluice's per-tenant submit rate limit/);
    expect(openaiBody.error.message).toMatch(/not the upstream's/);

    // Reads are not submits: the noisy tenant can still look at its requests, and others still submit.
    const list = await fetch(`${s.url}/trpc/requests.list?${q({ limit: 1 })}`, {
      headers: { authorization: `Bearer ${noisy.apiKey}` },
    });
    expect(list.status).toBe(200);
    const other = await submit(quiet.apiKey);
    expect(other.status).toBe(200);
  }, 120_000);
});
