import type { TestSluice } from '@sluice/broker/testing';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATHS, startCompatSluice } from './__tests__/compat-sluice';

type ApiError = InstanceType<typeof OpenAI.APIError>;

/** A plausible body for each path, so that only the key can be what is refused. */
function bodyFor(path: string): string | undefined {
  if (path.startsWith('/trpc/'))
    return JSON.stringify({ params: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } });
  if (path.includes('embeddings')) return JSON.stringify({ model: 'text-embedding-3-small', input: 'hi' });
  if (path.includes('moderations')) return JSON.stringify({ input: 'hi' });
  if (path === '/v1/completions') return JSON.stringify({ model: 'gpt-3.5-turbo-instruct', prompt: 'hi' });
  return JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
}

const ALL_PATHS = [...PATHS.v1Known, ...PATHS.v1Unknown, ...PATHS.trpcKnown, ...PATHS.trpcUnknown];
const BROKERED = ['/v1/chat/completions', '/v1/embeddings', '/v1/completions', '/v1/moderations'];

// Authentication comes first: a missing or bad key is a 401 on every path, known or not, on /v1
// and tRPC alike; with a valid key an unknown /v1 path is an OpenAI-style 404 naming what Sluice
// brokers. Plain HTTP, as any client (or a scanner) sends it, and the openai SDK's view of it.
describe('authentication on every path', () => {
  let s: TestSluice;

  beforeAll(async () => {
    s = await startCompatSluice();
  }, 60_000);
  afterAll(async () => {
    await s?.close();
  });

  const send = async (method: string, path: string, authorization?: string) => {
    const res = await fetch(`${s.url}${path}`, {
      method,
      headers: {
        ...(authorization ? { authorization } : {}),
        ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
      },
      ...(method === 'POST' ? { body: bodyFor(path) } : {}),
    });
    const text = await res.text();
    return { status: res.status, text };
  };

  const credentials = {
    'no key': undefined,
    'an unknown key': 'Bearer sk-not-a-sluice-key',
    'a malformed header': 'Basic c2x1aWNlOnNlY3JldA==',
  } as const;

  for (const [what, authorization] of Object.entries(credentials)) {
    for (const { method, path } of ALL_PATHS) {
      it(`${method} ${path} with ${what} is a 401`, async () => {
        const r = await send(method, path, authorization);
        expect(r.status).toBe(401);
        expect(r.text).toMatch(/key/i);
        // /v1 answers in OpenAI's error shape, which every OpenAI SDK reads.
        if (path.startsWith('/v1/')) {
          const body = JSON.parse(r.text) as { error: { message: string; type: string } };
          expect(body.error.message).toMatch(/key/i);
          expect(body.error.type).toBe('invalid_request_error');
        }
      });
    }
  }

  it("with a valid key, an unknown /v1 path is OpenAI's 404, naming the endpoints Sluice brokers", async () => {
    for (const { method, path } of PATHS.v1Unknown) {
      const r = await send(method, path, `Bearer ${s.tenant.apiKey}`);
      expect(r.status).toBe(404);
      const body = JSON.parse(r.text) as { error: { message: string; type: string } };
      expect(body.error.type).toBe('invalid_request_error');
      for (const endpoint of BROKERED) expect(body.error.message).toContain(endpoint);
    }
  });

  it('the openai SDK sees the same: AuthenticationError on an endpoint Sluice does not broker, NotFoundError with a valid key', async () => {
    const bad = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sk-not-a-sluice-key' });
    const good = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.tenant.apiKey });
    const refused = (await bad.images
      .generate({ model: 'gpt-image-1', prompt: 'a cat' })
      .catch((e: unknown) => e)) as ApiError;
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
    const notFound = (await good.images
      .generate({ model: 'gpt-image-1', prompt: 'a cat' })
      .catch((e: unknown) => e)) as ApiError;
    expect(notFound).toBeInstanceOf(OpenAI.NotFoundError);
    for (const endpoint of BROKERED) expect(notFound.message).toContain(endpoint);
  });
});
