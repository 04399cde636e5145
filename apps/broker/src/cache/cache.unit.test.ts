import type { RequestSubmitted, SluiceEvent } from '@sluice/events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePriceTable, priceAt } from '../billing/prices';
import { ConfigError, loadConfig } from '../env';
import { chatCompletions } from '../operations/chat-completions';
import { embeddings } from '../operations/embeddings';
import { cacheHitEvents } from './cache-hit';
import { decideCache, cacheKey as keyOf, normaliseForCache } from './cache-key';

const cacheKey = (body: Record<string, unknown>) => keyOf('/v1/chat/completions', body);
const isCacheableResponse = (r: { choices: unknown[] }) => chatCompletions.cache!.storable(r as never);

import { cacheChangesOf } from './cache-projection';
import { applyCacheInput } from './cache-settings';

const base = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'What is 2 + 2?' }],
  temperature: 0,
  max_tokens: 20,
};

/** The same object with its keys (at every depth) in another order. */
function shuffled(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => shuffled(v, seed + i));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  entries.sort(([a], [b]) => ((a.charCodeAt(0) * 31 + seed) % 7) - ((b.charCodeAt(0) * 31 + seed) % 7));
  if (seed % 2) entries.reverse();
  return Object.fromEntries(entries.map(([k, v]) => [k, shuffled(v, seed + 1)]));
}

describe('cache key', () => {
  it('is the same whatever the key order, at every depth', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(1_000), (extra, seed) => {
        const body = {
          ...base,
          tools: [{ type: 'function', function: { name: 'f', parameters: { x: extra } } }],
        };
        expect(cacheKey(shuffled(body, seed) as Record<string, unknown>)).toBe(cacheKey(body));
      }),
    );
  });

  it('ignores fields that cannot change the answer, and top-level nulls', () => {
    const k = cacheKey(base);
    expect(
      cacheKey({
        ...base,
        stream: true,
        stream_options: { include_usage: true },
        user: 'u-1',
        safety_identifier: 'x',
        metadata: { a: 'b' },
        store: false,
        service_tier: 'flex',
        prompt_cache_key: 'pk',
        seed: null,
      }),
    ).toBe(k);
    expect(normaliseForCache({ ...base, stream: true, top_p: null })).toEqual(base);
  });

  it('changes with everything that can change the answer, unknown fields included', () => {
    const variants: Array<Record<string, unknown>> = [
      { ...base, temperature: 0.2 },
      { ...base, model: 'gpt-4o' },
      { ...base, messages: [{ role: 'user', content: 'What is 2 + 3?' }] },
      { ...base, max_tokens: 21 },
      { ...base, max_completion_tokens: 20 },
      { ...base, top_p: 0.5 },
      { ...base, seed: 1 },
      { ...base, stop: ['\n'] },
      { ...base, n: 2 },
      { ...base, presence_penalty: 1 },
      { ...base, frequency_penalty: 1 },
      { ...base, logit_bias: { '50256': -100 } },
      { ...base, logprobs: true },
      { ...base, reasoning_effort: 'low' },
      { ...base, response_format: { type: 'json_object' } },
      { ...base, tool_choice: 'none' },
      { ...base, tools: [{ type: 'function', function: { name: 'f' } }] },
      { ...base, some_future_parameter: 1 },
    ];
    const keys = new Set([cacheKey(base), ...variants.map((v) => cacheKey(v))]);
    expect(keys.size).toBe(variants.length + 1);
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.double({ min: 0, max: 2, noNaN: true }),
        (a, b) => {
          fc.pre(a !== b);
          expect(cacheKey({ ...base, temperature: a })).not.toBe(cacheKey({ ...base, temperature: b }));
        },
      ),
    );
    expect(cacheKey(base)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('cache eligibility', () => {
  const settings = { enabled: true, ttlSeconds: 600 };
  const decide = (over: Partial<Parameters<typeof decideCache>[0]>) =>
    decideCache({
      tenantId: 'ten_a',
      operation: chatCompletions,
      settings,
      mode: undefined,
      body: base,
      ...over,
    });

  it('caches a deterministic request of an opted-in tenant in its own scope', () => {
    expect(decide({})).toEqual({ mode: 'use', scope: 'ten_a', key: cacheKey(base), ttlSeconds: 600 });
    expect(decide({ body: { ...base, n: 1 } })?.mode).toBe('use');
    expect(decide({ settings: { ...settings, scope: 'shared:team' } })?.scope).toBe('shared:team');
  });

  it('keys every endpoint apart, and caches embeddings as deterministic without asking', () => {
    const body = { model: 'text-embedding-3-small', input: 'hello' };
    expect(keyOf('/v1/embeddings', body)).not.toBe(keyOf('/v1/moderations', body));
    expect(decide({ operation: embeddings, body })).toMatchObject({
      mode: 'use',
      key: keyOf('/v1/embeddings', body),
    });
  });

  it('never caches for a tenant that did not opt in, nor a bypass', () => {
    expect(decide({ settings: undefined })).toBeNull();
    expect(decide({ settings: { ...settings, enabled: false }, mode: 'use' })).toBeNull();
    expect(decide({ mode: 'bypass' })).toBeNull();
  });

  it('caches a sampled request only when it asks explicitly', () => {
    for (const body of [
      { ...base, temperature: 0.7 },
      { ...base, temperature: undefined },
      { ...base, n: 3 },
    ]) {
      expect(decide({ body })).toBeNull();
      expect(decide({ body, mode: 'use' })?.mode).toBe('use');
      expect(decide({ body, mode: 'refresh' })?.mode).toBe('refresh');
    }
  });

  it('stores only answers whose every choice finished normally', () => {
    expect(isCacheableResponse({ choices: [{ finish_reason: 'stop' }, { finish_reason: 'length' }] })).toBe(
      true,
    );
    expect(isCacheableResponse({ choices: [{ finish_reason: 'tool_calls' }] })).toBe(true);
    expect(isCacheableResponse({ choices: [{ finish_reason: 'content_filter' }] })).toBe(false);
    expect(isCacheableResponse({ choices: [{ finish_reason: null }] })).toBe(false);
    expect(isCacheableResponse({ choices: [] })).toBe(false);
  });
});

describe('cache facts', () => {
  const submitted: RequestSubmitted = {
    type: 'request.submitted',
    version: 3,
    endpoint: '/v1/chat/completions',
    eventId: 'req_new/0/request.submitted',
    requestId: 'req_new',
    tenantId: 'ten_a',
    pool: 'default',
    model: 'gpt-4o-mini',
    priority: 'standard',
    attempt: 0,
    occurredAt: '2026-01-01T10:00:00.000Z',
    body: base,
    stream: false,
    source: 'trpc',
    estimate: { promptTokens: 10, maxOutputTokens: 20, tpmCost: 30 },
    idempotencyKey: null,
    deadline: null,
    cache: { mode: 'use', scope: 'ten_a', key: 'a'.repeat(64), ttlSeconds: 60 },
    route: 'sync',
    replyTo: null,
    tier: null,
  };
  const response = {
    id: 'chatcmpl-1',
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: '4' } }],
    usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
  };

  it('a hit completes at attempt 0 with the stored answer and bills its tokens on the cache channel', () => {
    const [completed, usage] = cacheHitEvents(
      submitted,
      {
        model: 'gpt-4o-mini',
        sourceRequestId: 'req_old',
        response,
        promptTokens: 12,
        cachedTokens: 0,
        completionTokens: 3,
        reasoningTokens: 0,
        expiresAt: new Date('2026-01-01T11:00:00Z'),
      },
      new Date('2026-01-01T10:00:00.010Z'),
    );
    expect(completed).toMatchObject({
      type: 'request.completed',
      version: 3,
      attempt: 0,
      requestId: 'req_new',
      response: { id: 'chatcmpl-1' },
      cache: { hit: true, sourceRequestId: 'req_old', scope: 'ten_a' },
    });
    expect(usage).toMatchObject({ channel: 'cache', promptTokens: 12, completionTokens: 3, totalTokens: 15 });
    // A hit is not a fill: only its recency counts.
    expect(cacheChangesOf([completed])).toEqual([
      { kind: 'hit', scope: 'ten_a', key: 'a'.repeat(64), at: new Date('2026-01-01T10:00:00.010Z') },
    ]);
  });

  it('an eligible upstream answer fills its key until its TTL; partial answers and others do not', () => {
    const completed = (over: Record<string, unknown>): SluiceEvent =>
      ({
        type: 'request.completed',
        version: 3,
        endpoint: '/v1/chat/completions',
        eventId: 'req_x/1/request.completed',
        requestId: 'req_x',
        tenantId: 'ten_a',
        pool: 'default',
        model: 'gpt-4o-mini',
        priority: 'standard',
        attempt: 1,
        occurredAt: '2026-01-01T10:00:00.000Z',
        response,
        upstreamLatencyMs: 5,
        queueWaitMs: 1,
        upstreamRequestId: null,
        upstreamProcessingMs: null,
        cache: { hit: false, scope: 'ten_a', key: 'b'.repeat(64), ttlSeconds: 60, sourceRequestId: null },
        ...over,
      }) as SluiceEvent;
    const [fill] = cacheChangesOf([completed({})]);
    expect(fill).toMatchObject({
      kind: 'fill',
      entry: {
        scope: 'ten_a',
        key: 'b'.repeat(64),
        sourceRequestId: 'req_x',
        promptTokens: 12,
        completionTokens: 3,
        expiresAt: new Date('2026-01-01T10:01:00.000Z'),
      },
    });
    expect(cacheChangesOf([completed({ cache: null })])).toEqual([]);
    expect(
      cacheChangesOf([
        completed({ response: { ...response, choices: [{ index: 0, finish_reason: 'content_filter' }] } }),
      ]),
    ).toEqual([]);
  });
});

describe('cache settings and price', () => {
  it('keeps TTL and scope unless given; a shared scope lives apart from tenant ids', () => {
    const on = applyCacheInput(undefined, { enabled: true, scope: 'team' });
    expect(on).toEqual({ enabled: true, ttlSeconds: 3_600, scope: 'shared:team' });
    expect(applyCacheInput(on, { enabled: false })).toEqual({
      enabled: false,
      ttlSeconds: 3_600,
      scope: 'shared:team',
    });
    expect(applyCacheInput(on, { enabled: true, ttlSeconds: 60, scope: null })).toEqual({
      enabled: true,
      ttlSeconds: 60,
      scope: undefined,
    } as never);
  });

  it('bills a hit at the operator’s percentage of the synchronous price, per price version', () => {
    const table = parsePriceTable({
      cacheHitPercent: 10,
      models: {
        m: [
          { effectiveFrom: '2025-01-01T00:00:00Z', input: '1.00', cachedInput: '0.50', output: '2.00' },
          {
            effectiveFrom: '2025-06-01T00:00:00Z',
            input: '1.00',
            cachedInput: '0.50',
            output: '2.00',
            cacheHitPercent: 0,
          },
        ],
      },
    });
    expect(priceAt(table, 'm', new Date('2025-02-01T00:00:00Z'), 'cache')).toEqual({
      inputMicrosPer1M: 100_000,
      cachedInputMicrosPer1M: 50_000,
      outputMicrosPer1M: 200_000,
    });
    expect(priceAt(table, 'm', new Date('2025-07-01T00:00:00Z'), 'cache')?.outputMicrosPer1M).toBe(0);
  });
});

describe('cache configuration', () => {
  it('defaults to 256 MiB without Redis, and reads the bound and REDIS_URL from the environment', () => {
    expect(loadConfig({}).cache).toEqual({ maxBytes: 256 * 1024 * 1024, maxEntries: 1_000_000 });
    expect(
      loadConfig({
        SLUICE_CACHE_MAX_BYTES: '1048576',
        SLUICE_CACHE_MAX_ENTRIES: '10',
        REDIS_URL: 'redis://r:6379',
      }).cache,
    ).toEqual({ maxBytes: 1_048_576, maxEntries: 10, redisUrl: 'redis://r:6379' });
  });

  it('names the variable when a value is bad', () => {
    expect(() => loadConfig({ SLUICE_CACHE_MAX_BYTES: 'lots' })).toThrow(/SLUICE_CACHE_MAX_BYTES/);
    expect(() => loadConfig({ SLUICE_CACHE_MAX_ENTRIES: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_URL: 'http://r' })).toThrow(/REDIS_URL/);
  });
});
