import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, eventIdFor, isSluiceError, validateEvent } from './index';
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

  it('upcasts a usage.recorded written at version 1 to the current version', () => {
    const s = makeSubmittedEvent();
    const v1 = {
      type: 'usage.recorded',
      version: 1,
      eventId: eventIdFor('usage.recorded', s.requestId, 1),
      requestId: s.requestId,
      tenantId: s.tenantId,
      pool: s.pool,
      model: s.model,
      priority: s.priority,
      attempt: 1,
      occurredAt: '2026-01-01T00:00:00.000Z',
      promptTokens: 10,
      completionTokens: 5,
      totalTokens: 15,
    };
    expect(decodeEvent(JSON.stringify(v1))).toMatchObject({
      version: 2,
      promptTokens: 10,
      completionTokens: 5,
      cachedTokens: 0,
      reasoningTokens: 0,
      estimated: false,
      channel: 'sync',
    });
  });

  it('upcasts a request.submitted written at version 1: no cache directive, synchronous route', () => {
    const { cache: _cache, route: _route, ...current } = makeSubmittedEvent();
    const v1 = { ...current, version: 1 };
    expect(decodeEvent(JSON.stringify(v1))).toEqual({ ...current, version: 2, cache: null, route: 'sync' });
  });

  it('upcasts a request.completed written at version 1: not a cache hit nor an eligible miss', () => {
    const s = makeSubmittedEvent();
    const v1 = {
      type: 'request.completed',
      version: 1,
      eventId: eventIdFor('request.completed', s.requestId, 1),
      requestId: s.requestId,
      tenantId: s.tenantId,
      pool: s.pool,
      model: s.model,
      priority: s.priority,
      attempt: 1,
      occurredAt: '2026-01-01T00:00:00.000Z',
      response: { id: 'chatcmpl-1', choices: [] },
      upstreamLatencyMs: 10,
      queueWaitMs: 1,
      upstreamRequestId: null,
    };
    expect(decodeEvent(JSON.stringify(v1))).toEqual({ ...v1, version: 2, cache: null });
    const hit = {
      ...v1,
      version: 2,
      cache: { hit: true, scope: 't', key: 'a'.repeat(64), ttlSeconds: 60, sourceRequestId: 'req_src' },
    };
    expect(decodeEvent(JSON.stringify(hit))).toEqual(hit);
  });

  it('upcasts a request.dispatched written at version 1: a synchronous call, no batch', () => {
    const { batch: _batch, ...current } = makeEvent('request.dispatched');
    const v1 = { ...current, version: 1 };
    expect(decodeEvent(JSON.stringify(v1))).toEqual({ ...current, version: 2, batch: null });
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
