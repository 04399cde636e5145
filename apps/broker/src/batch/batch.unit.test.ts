import { makeSubmittedEvent } from '@sluice/events/testing';
import { describe, expect, it } from 'vitest';
import { batchInputLine, linesThatFit, parseResultLines } from './batch-file';
import { memberOutcome, resultsByRequest } from './batch-outcomes';
import { BATCH_COMPLETION_WINDOW_MS, decideRoute } from './route-decision';

const NOW = Date.parse('2026-11-23T12:00:00Z');
const noJitter = () => 0.5;

describe('decideRoute', () => {
  const base = {
    priority: 'batch' as const,
    batchApiEnabled: true,
    tenantAllowsBatchApi: true,
    deadline: null,
    stream: false,
    now: NOW,
  };
  it('sends batch-class work of a tenant that allows it through the Batch API', () => {
    expect(decideRoute(base)).toBe('batch_api');
    expect(decideRoute({ ...base, deadline: NOW + BATCH_COMPLETION_WINDOW_MS })).toBe('batch_api');
  });
  it.each([
    ['the tenant does not allow it', { tenantAllowsBatchApi: false }],
    ['the operator switched it off', { batchApiEnabled: false }],
    ['the class is not batch', { priority: 'standard' as const }],
    ['the class is interactive', { priority: 'interactive' as const }],
    ['the deadline is under 24 h away', { deadline: NOW + BATCH_COMPLETION_WINDOW_MS - 1 }],
    ['the request streams', { stream: true }],
  ])('keeps a request synchronous when %s', (_why, change) => {
    expect(decideRoute({ ...base, ...change })).toBe('sync');
  });
});

describe('batch files', () => {
  it('writes one line per request: custom_id is the request id, the body never streams', () => {
    const s = makeSubmittedEvent({
      body: {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        max_tokens: 5,
      },
    });
    const line = batchInputLine(s);
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toEqual({
      custom_id: s.requestId,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 },
    });
  });

  it('splits by request count and by bytes, but always takes at least one line', () => {
    expect(linesThatFit([10, 10, 10], { maxRequests: 2, maxBytes: 1_000 })).toBe(2);
    expect(linesThatFit([10, 10, 10], { maxRequests: 10, maxBytes: 25 })).toBe(2);
    expect(linesThatFit([10, 10, 10], { maxRequests: 10, maxBytes: 30 })).toBe(3);
    expect(linesThatFit([100, 10], { maxRequests: 10, maxBytes: 50 })).toBe(1);
    expect(linesThatFit([], { maxRequests: 10, maxBytes: 50 })).toBe(0);
  });

  it('parses results and counts lines that are not results instead of throwing', () => {
    const text = [
      JSON.stringify({ id: 'r1', custom_id: 'req_a', response: { status_code: 200, body: {} }, error: null }),
      '',
      '{"truncated": ',
      JSON.stringify({ no: 'custom id' }),
      JSON.stringify({ custom_id: 'req_b', response: null, error: { code: 'batch_expired', message: 'x' } }),
    ].join('\n');
    const parsed = parseResultLines(text);
    expect(parsed.invalid).toBe(2);
    expect(parsed.lines.map((l) => l.custom_id)).toEqual(['req_a', 'req_b']);
    expect(parsed.lines[1]?.error).toEqual({ code: 'batch_expired', message: 'x' });
  });
});

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
};

describe('batch outcomes', () => {
  const ids = ['req_ok', 'req_err', 'req_missing'];
  const output = [
    { custom_id: 'req_ok', response: { status_code: 200, request_id: 'rq1', body: completion }, error: null },
  ];
  const errors = [
    {
      custom_id: 'req_err',
      response: { status_code: 500, body: { error: { message: 'boom', type: 'server_error' } } },
      error: null,
    },
  ];

  it('maps output and error lines back by custom_id', () => {
    const r = resultsByRequest({ requestIds: ids, status: 'completed', failure: null, output, errors });
    expect(r.get('req_ok')).toEqual({ ok: true, result: completion, upstreamRequestId: 'rq1' });
    expect(r.get('req_err')).toMatchObject({ ok: false, facts: { status: 500 }, message: 'boom' });
    expect(r.get('req_missing')).toMatchObject({ ok: false, facts: { malformed: true } });
  });

  it("an expired batch's unanswered requests are retried; its answered ones complete", () => {
    const r = resultsByRequest({ requestIds: ids, status: 'expired', failure: null, output, errors: [] });
    expect(r.get('req_ok')?.ok).toBe(true);
    const m = { submitted: makeSubmittedEvent({ requestId: 'req_err' }), attempt: 1, queueWaitMs: 0 };
    const o = memberOutcome(m, r.get('req_err')!, {
      at: new Date(NOW),
      upstreamLatencyMs: 10,
      random: noJitter,
    });
    expect(o.action).toBe('retry');
    expect(o.events[0]).toMatchObject({ type: 'request.retry_scheduled', attempt: 1, reason: 'timeout' });
  });

  it('a batch refused for the queue limit retries every request; any other failed batch fails them', () => {
    const full = resultsByRequest({
      requestIds: ['a'],
      status: 'failed',
      failure: { code: 'token_limit_exceeded', message: 'Limit: 100 enqueued tokens' },
      output: [],
      errors: [],
    });
    const m = { submitted: makeSubmittedEvent({ requestId: 'a' }), attempt: 1, queueWaitMs: 0 };
    const ctx = { at: new Date(NOW), upstreamLatencyMs: 0, random: noJitter };
    expect(memberOutcome(m, full.get('a')!, ctx)).toMatchObject({ action: 'retry', kind: 'rate_limited' });
    const invalid = resultsByRequest({
      requestIds: ['a'],
      status: 'failed',
      failure: { code: 'invalid_json_line', message: 'bad line' },
      output: [],
      errors: [],
    });
    expect(memberOutcome(m, invalid.get('a')!, ctx)).toMatchObject({
      action: 'failed',
      kind: 'client_error',
      deadLetter: false,
    });
  });

  it('records completion and usage priced as batch, with the same ids as the synchronous path', () => {
    const s = makeSubmittedEvent({ requestId: 'req_ok' });
    const o = memberOutcome(
      { submitted: s, attempt: 2, queueWaitMs: 40 },
      { ok: true, result: completion, upstreamRequestId: 'rq1' },
      { at: new Date(NOW), upstreamLatencyMs: 1234, random: noJitter },
    );
    expect(o.action).toBe('completed');
    expect(o.events.map((e) => e.eventId)).toEqual(['req_ok/2/request.completed', 'req_ok/2/usage.recorded']);
    expect(o.events[1]).toMatchObject({
      promptTokens: 12,
      completionTokens: 5,
      channel: 'batch',
      estimated: false,
    });
    expect(o.events[0]).toMatchObject({ queueWaitMs: 40, upstreamLatencyMs: 1234, upstreamRequestId: 'rq1' });
  });

  it('after the last attempt a failing line is dead-lettered', () => {
    const m = { submitted: makeSubmittedEvent(), attempt: 3, queueWaitMs: 0 };
    const o = memberOutcome(
      m,
      { ok: false, facts: { status: 500 }, message: 'boom' },
      {
        at: new Date(NOW),
        upstreamLatencyMs: 0,
        random: noJitter,
        policy: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
      },
    );
    expect(o).toMatchObject({ action: 'failed', deadLetter: true });
    expect(o.events[0]).toMatchObject({ type: 'request.failed', deadLettered: true });
  });

  it("a line answered with another endpoint's result is malformed, and retried like a synchronous one", () => {
    const m = { submitted: makeSubmittedEvent(), attempt: 1, queueWaitMs: 0 };
    const o = memberOutcome(
      m,
      { ok: true, result: { object: 'list', data: [] }, upstreamRequestId: null },
      { at: new Date(NOW), upstreamLatencyMs: 0, random: noJitter },
    );
    expect(o).toMatchObject({ action: 'retry', kind: 'malformed_response' });
  });

  it('writes each line with its own endpoint as url', () => {
    const s = makeSubmittedEvent({
      endpoint: '/v1/embeddings',
      model: 'text-embedding-3-small',
      body: { model: 'text-embedding-3-small', input: ['a', 'b'] },
    } as never);
    expect(JSON.parse(batchInputLine(s))).toMatchObject({
      url: '/v1/embeddings',
      body: { input: ['a', 'b'] },
    });
  });
});
