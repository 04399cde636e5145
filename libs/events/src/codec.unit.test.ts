import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, isSluiceError, validateEvent } from './index';
import { CommitTracker } from './internal/commit-tracker';
import { partitionForKey } from './internal/partitioner';
import { makeEvent, makeSubmittedEvent, makeUsageEvent } from './testing/fixtures';

describe('event codec', () => {
  it('round-trips every current event through bytes', () => {
    const s = makeSubmittedEvent();
    const u = makeUsageEvent(s);
    expect(decodeEvent(encodeEvent(s))).toEqual(s);
    expect(decodeEvent(encodeEvent(u))).toEqual(u);
  });

  /** An event as an older version wrote it: the current one without the fields that version lacked. */
  function olderVersion<T extends object>(event: T, version: number, ...dropped: string[]) {
    const old: Record<string, unknown> = { ...event, version };
    for (const field of ['endpoint', ...dropped]) delete old[field];
    return old;
  }

  it('upcasts a usage.recorded written at version 1 to the current version, as chat', () => {
    const u = makeUsageEvent(makeSubmittedEvent());
    const v1 = olderVersion(
      u,
      1,
      'cachedTokens',
      'reasoningTokens',
      'estimated',
      'channel',
      'serviceTier',
      'units',
    );
    expect(decodeEvent(JSON.stringify(v1))).toEqual({
      ...u,
      cachedTokens: 0,
      reasoningTokens: 0,
      estimated: false,
      channel: 'sync',
      serviceTier: null,
      units: {},
    });
    const v2 = olderVersion(u, 2, 'serviceTier', 'units');
    expect(decodeEvent(JSON.stringify(v2))).toEqual({ ...u, serviceTier: null, units: {} });
  });

  it('upcasts a request.submitted of versions 1 and 2: chat, no cache directive, synchronous route', () => {
    const current = makeSubmittedEvent();
    const v1 = olderVersion(current, 1, 'cache', 'route');
    expect(decodeEvent(JSON.stringify(v1))).toEqual({ ...current, cache: null, route: 'sync' });
    expect(decodeEvent(JSON.stringify(olderVersion(current, 2)))).toEqual(current);
  });

  it('upcasts a request.completed of versions 1 and 2: chat, no processing time, not cached', () => {
    const current = makeEvent('request.completed');
    const v1 = olderVersion(current, 1, 'cache', 'upstreamProcessingMs');
    expect(decodeEvent(JSON.stringify(v1))).toEqual({ ...current, cache: null, upstreamProcessingMs: null });
    const hit = {
      ...olderVersion(current, 2, 'upstreamProcessingMs'),
      cache: { hit: true, scope: 't', key: 'a'.repeat(64), ttlSeconds: 60, sourceRequestId: 'req_src' },
    };
    expect(decodeEvent(JSON.stringify(hit))).toEqual({
      ...hit,
      version: 3,
      endpoint: '/v1/chat/completions',
      upstreamProcessingMs: null,
    });
  });

  it('upcasts a request.dispatched of versions 1 and 2: chat, a synchronous call, no batch', () => {
    const current = makeEvent('request.dispatched');
    expect(decodeEvent(JSON.stringify(olderVersion(current, 1, 'batch')))).toEqual({
      ...current,
      batch: null,
    });
    expect(decodeEvent(JSON.stringify(olderVersion(current, 2)))).toEqual(current);
  });

  it('upcasts failures, retries and cancellations of version 1 as chat, without an upstream error body', () => {
    const failed = makeEvent('request.failed');
    expect(
      decodeEvent(JSON.stringify(olderVersion(failed, 1, 'upstreamError', 'upstreamRequestId'))),
    ).toEqual({
      ...failed,
      upstreamError: null,
      upstreamRequestId: null,
    });
    for (const type of ['request.retry_scheduled', 'request.cancelled'] as const) {
      const current = makeEvent(type);
      expect(decodeEvent(JSON.stringify(olderVersion(current, 1)))).toEqual(current);
    }
  });

  it('decodes v3 submissions and dispatches written before service tiers with no tier and no fallback', () => {
    const { tier: _tier, ...before } = makeSubmittedEvent({ tier: null });
    expect(decodeEvent(JSON.stringify(before))).toMatchObject({ type: 'request.submitted', tier: null });
    const {
      serviceTier: _s,
      tierFallback: _f,
      ...dispatched
    } = makeEvent('request.dispatched') as Record<string, unknown>;
    expect(decodeEvent(JSON.stringify(dispatched))).toMatchObject({ serviceTier: null, tierFallback: null });
    const chosen = makeSubmittedEvent({ tier: { tier: 'flex', chosenBy: 'sluice', fallback: true } });
    expect(decodeEvent(encodeEvent(chosen))).toEqual(chosen);
    expect(() =>
      validateEvent({ ...chosen, tier: { tier: 'turbo', chosenBy: 'sluice', fallback: true } }),
    ).toThrow(/tier/);
  });

  it('refuses a body or a result of another endpoint than the event names', () => {
    const chat = makeSubmittedEvent();
    expect(() => validateEvent({ ...chat, endpoint: '/v1/embeddings' })).toThrow(/body\.input/);
    const embeddings = {
      ...chat,
      endpoint: '/v1/embeddings',
      body: { model: 'text-embedding-3-small', input: ['a', 'b'] },
    };
    expect(validateEvent(embeddings)).toEqual(embeddings);
    const completed = makeEvent('request.completed');
    expect(() => validateEvent({ ...completed, endpoint: '/v1/embeddings' })).toThrow(/response\.data/);
    expect(() => validateEvent({ ...chat, endpoint: '/v1/images' })).toThrow(/endpoint/);
  });

  it('refuses a cache directive whose key is not a sha256', () => {
    const bad = { ...makeSubmittedEvent(), cache: { mode: 'use', scope: 't', key: 'nope', ttlSeconds: 60 } };
    expect(() => validateEvent(bad)).toThrow(/cache\.key/);
  });

  it('names the field when an event is invalid', () => {
    const bad = { ...makeSubmittedEvent(), estimate: { promptTokens: -1, maxOutputTokens: 1, tpmCost: 1 } };
    try {
      validateEvent(bad);
      expect.unreachable();
    } catch (error) {
      expect(isSluiceError(error) && error.code).toBe('invalid_event');
      expect((error as Error).message).toContain('estimate.promptTokens');
    }
  });

  it('refuses bytes that are not JSON, or of an unknown type, with a typed error', () => {
    for (const bytes of ['{nope', '"a string"', '{"type":"request.exploded","version":1}']) {
      expect(() => decodeEvent(bytes)).toThrowError(/invalid|not JSON/);
    }
  });
});

describe('partitioner', () => {
  it('puts a key on the partition kafkajs would', () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    for (const key of ['default', 'pool-a', 'azure-eu', 'ünïcødé', '', 'x'.repeat(100)]) {
      for (const n of [1, 3, 6, 12]) {
        const expected = kafkajs({
          topic: 't',
          partitionMetadata: Array.from({ length: n }, (_, i) => ({
            partitionId: i,
            leader: 0,
            replicas: [0],
            isr: [0],
            partitionErrorCode: 0,
          })),
          message: { key, value: 'v' },
        });
        expect(partitionForKey(key, n)).toBe(expected);
      }
    }
  });
});

describe('commit tracker', () => {
  it('commits only over the contiguous settled prefix, whatever order handlers finish in', () => {
    const t = new CommitTracker();
    for (const o of [10, 11, 12, 13]) t.started(o);
    expect(t.settled(12)).toBeUndefined();
    expect(t.settled(11)).toBeUndefined();
    expect(t.settled(10)).toBe(13);
    expect(t.settled(13)).toBe(14);
    expect(t.settled(13)).toBeUndefined();
  });

  it('skips gaps (offsets never delivered)', () => {
    const t = new CommitTracker();
    t.started(5);
    t.started(9);
    expect(t.settled(5)).toBe(9);
    expect(t.settled(9)).toBe(10);
  });
});
