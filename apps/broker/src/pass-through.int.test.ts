import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSluice, type TestSluice } from './__tests__/harness';
import type { AppRouter } from './root';

// What a client sends reaches OpenAI, and what OpenAI answers reaches the client: pass-through of
// fields Sluice does not read, upstream errors relayed as sent (on /v1 and tRPC, streamed or not),
// the upstream's request id, and idempotency keys bound to their request.
const REFUSED =
  "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.";

describe('faithful pass-through (embedded)', () => {
  let s: TestSluice;
  let openai: OpenAI;
  let trpc: ReturnType<typeof createTRPCClient<AppRouter>>;

  beforeAll(async () => {
    s = await startTestSluice({ simulator: { latency: { baseMs: 2 } } });
    openai = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.tenant.apiKey, maxRetries: 0 });
    trpc = createTRPCClient<AppRouter>({
      links: [httpLink({ url: `${s.url}/trpc`, headers: { authorization: `Bearer ${s.tenant.apiKey}` } })],
    });
  }, 60_000);
  afterAll(async () => {
    await s?.close();
  });

  const messages = [{ role: 'user' as const, content: 'hello' }];

  it('passes parameters Sluice does not read to the upstream unchanged, newer and unknown ones alike', async () => {
    const extra = {
      reasoning_effort: 'minimal',
      prompt_cache_retention: '24h',
      verbosity: 'low',
      some_future_parameter: { nested: [1, 'two', { three: true }] },
    };
    await openai.chat.completions.create({ model: 'gpt-5-mini', messages, ...extra } as never);
    expect(s.simulator.stats().lastBodies['chat.completions']).toEqual({
      model: 'gpt-5-mini',
      messages,
      ...extra,
    });
    await trpc.chat.completions.create.mutate({ params: { model: 'gpt-5-mini', messages, ...extra } });
    expect(s.simulator.stats().lastBodies['chat.completions']).toEqual({
      model: 'gpt-5-mini',
      messages,
      ...extra,
    });
  });

  it("relays the upstream's 400 as it sent it: status, message, type, param, code", async () => {
    const e = (await openai.chat.completions
      .create({ model: 'o3', messages, max_tokens: 10 })
      .catch((x: unknown) => x)) as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e.status).toBe(400);
    expect(e.error).toEqual({
      message: REFUSED,
      type: 'invalid_request_error',
      param: 'max_tokens',
      code: 'unsupported_parameter',
    });
    expect(e.headers?.get('x-sluice-request-id')).toMatch(/^req_/);
    expect(e.requestID).toMatch(/^req_/);
  });

  it('relays it before the first byte of a stream: an HTTP error, not an event inside a 200', async () => {
    const e = (await (async () => {
      const stream = await openai.chat.completions.create({
        model: 'o3',
        messages,
        max_tokens: 10,
        stream: true,
      });
      for await (const _ of stream);
    })().catch((x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e.status).toBe(400);
    expect(e.message).toContain(REFUSED);
    expect(e.param).toBe('max_tokens');
  });

  it('relays it over tRPC too, with the upstream fields in the error data', async () => {
    const e = (await trpc.chat.completions.create
      .mutate({ params: { model: 'o3', messages, max_tokens: 10 } })
      .catch((x: unknown) => x)) as TRPCClientError<AppRouter>;
    expect(e).toBeInstanceOf(TRPCClientError);
    expect(e.message).toBe(REFUSED);
    expect(e.data).toMatchObject({
      code: 'BAD_REQUEST',
      httpStatus: 400,
      sluiceCode: 'upstream_refused',
      upstream: {
        status: 400,
        type: 'invalid_request_error',
        param: 'max_tokens',
        code: 'unsupported_parameter',
      },
    });
  });

  it("gives the caller the upstream's x-request-id and openai-processing-ms beside Sluice's own id", async () => {
    const r = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages, max_tokens: 5 })
      .withResponse();
    const sluiceId = r.response.headers.get('x-sluice-request-id');
    expect(sluiceId).toMatch(/^req_/);
    expect(r.request_id).toMatch(/^req_/);
    expect(r.request_id).not.toBe(sluiceId);
    expect(Number(r.response.headers.get('openai-processing-ms'))).toBeGreaterThanOrEqual(0);
    const view = await trpc.requests.get.query({ id: sluiceId! });
    expect(view.upstreamRequestId).toBe(r.request_id);
  });

  it('names one request per idempotency key: the same body again is that request, another body a 422', async () => {
    const key = `order-${Date.now()}`;
    const body = { model: 'gpt-4o-mini', messages, max_tokens: 5 };
    const first = await openai.chat.completions
      .create(body, { headers: { 'Idempotency-Key': key } })
      .withResponse();
    const firstId = first.response.headers.get('x-sluice-request-id');
    const again = await openai.chat.completions
      .create({ max_tokens: 5, messages, model: 'gpt-4o-mini' }, { headers: { 'Idempotency-Key': key } })
      .withResponse();
    expect(again.response.headers.get('x-sluice-request-id')).toBe(firstId);
    expect(again.data.id).toBe(first.data.id);

    const e = (await openai.chat.completions
      .create({ ...body, max_tokens: 6 }, { headers: { 'Idempotency-Key': key } })
      .catch((x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
    expect(e.status).toBe(422);
    expect(e.code).toBe('idempotency_key_reused');
    expect(e.message).toContain(firstId!);

    const t = (await trpc.requests.submit
      .mutate({ params: { ...body, max_tokens: 7 }, options: { idempotencyKey: key } })
      .catch((x: unknown) => x)) as TRPCClientError<AppRouter>;
    expect(t.data).toMatchObject({ httpStatus: 422, sluiceCode: 'idempotency_key_reused' });
    // The same key on another endpoint is another body as well.
    const other = (await openai.embeddings
      .create({ model: 'text-embedding-3-small', input: 'x' }, { headers: { 'Idempotency-Key': key } })
      .catch((x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
    expect(other.status).toBe(422);
  });
});
