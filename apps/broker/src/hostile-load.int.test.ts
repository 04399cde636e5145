import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSluice, type TestSluice } from './__tests__/harness';

// Hostile load: what one request or one connection could do to the whole process. Each case was a
// stall or a free hold before: the key is checked before the body is read, a body must be UTF-8
// JSON, and the intake's token estimate stays linear however long one unbroken run of text is.
describe('hostile load (embedded)', () => {
  let s: TestSluice;

  beforeAll(async () => {
    s = await startTestSluice({ mode: 'embedded' });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
    fetch(`${s.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenant.apiKey}`, 'content-type': 'application/json', ...headers },
      body,
    });

  it('answers a half-sent body without a key with 401 at once, and closes the connection', async () => {
    const socket = connect(Number(new URL(s.url).port), '127.0.0.1');
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d) => {
        text += d.toString();
      });
      socket.on('close', () => resolve(text));
    });
    socket.write(
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"model":',
    );
    // The rest of the body never comes: the answer and the close must not wait for it.
    const text = await answer;
    expect(text).toMatch(/^HTTP\/1\.1 401/);
    expect(text).toMatch(/didn't provide an API key/);
  });

  it('refuses a body that is not valid UTF-8 (400) or declares another charset (415), naming why', async () => {
    const valid = Buffer.from(
      JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'héllo' }], max_tokens: 5 }),
    );
    const broken = Buffer.from(valid);
    broken[broken.indexOf(0xc3)] = 0xff; // é's first byte: no longer UTF-8
    const before = s.simulator.stats().requests;

    const bad = await post('/v1/chat/completions', broken);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'invalid_encoding',
      message: expect.stringMatching(/not valid UTF-8/),
    });
    const trpc = await post(
      '/trpc/requests.submit',
      Buffer.concat([Buffer.from('{"params":'), broken, Buffer.from('}')]),
    );
    expect(trpc.status).toBe(400);
    expect(await trpc.text()).toMatch(/not valid UTF-8/);

    const utf16 = await post('/v1/chat/completions', valid, {
      'content-type': 'application/json; charset=utf-16',
    });
    expect(utf16.status).toBe(415);
    expect(await utf16.text()).toMatch(/charset utf-16/i);
    expect(s.simulator.stats().requests).toBe(before);

    const declared = await post('/v1/chat/completions', valid, {
      'content-type': 'application/json; charset=UTF-8',
    });
    expect(declared.status).toBe(200);
  });

  it('refuses unknown keys around a tRPC submission, as /v1 refuses unknown Sluice headers', async () => {
    const res = await post(
      '/trpc/requests.submit',
      JSON.stringify({
        params: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
        priorty: 'interactive',
      }),
    );
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/priorty/);
  });

  it('estimates a request whose text is one 200,000-character run (quadratic before: hours)', async () => {
    const content = 'a'.repeat(200_000);
    const res = await post(
      '/v1/chat/completions',
      JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 5 }),
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { prompt_tokens: number } };
    // A run of one letter merges into tokens of several letters each.
    expect(body.usage.prompt_tokens).toBeGreaterThan(200_000 / 64);
    expect(body.usage.prompt_tokens).toBeLessThan(200_000 / 2);
  });
});

describe('connection limits (embedded)', () => {
  let s: TestSluice;

  beforeAll(async () => {
    s = await startTestSluice({
      mode: 'embedded',
      connections: { total: 100, perClient: 5 },
      bodyTimeoutMs: 500,
      largeBodies: { minBytes: 10_000, perTenant: 1, bytesPerSecond: 100 * 1024 * 1024 },
    });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  const open = (from?: string) =>
    new Promise<Socket>((resolve) => {
      const socket = connect(
        { port: Number(new URL(s.url).port), host: '127.0.0.1', ...(from ? { localAddress: from } : {}) },
        () => resolve(socket),
      );
    });
  const answerOf = (socket: Socket, request?: string) =>
    new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d) => {
        text += d.toString();
        if (request && /\r\n\r\n[\s\S]*\}/.test(text)) resolve(text);
      });
      socket.on('close', () => resolve(text));
      if (request) socket.write(request);
    });

  it('answers 408 and closes the connection when a body does not arrive in time, even with a valid key', async () => {
    const answer = answerOf(
      await open(),
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.tenant.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":`,
    );
    const text = await answer;
    expect(text).toMatch(/^HTTP\/1\.1 408/);
    expect(text).toMatch(/did not arrive within 0\.5 s/);
  });

  it('refuses a client holding more connections than its limit with 429, and serves it again once one closes', async () => {
    const held = await Promise.all(Array.from({ length: 5 }, open));
    const refused = await answerOf(await open());
    expect(refused).toMatch(/^HTTP\/1\.1 429/);
    expect(refused).toMatch(/Too many connections from 127\.0\.0\.1: at most 5/);
    held[0]?.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const served = await answerOf(await open(), 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(served).toMatch(/^HTTP\/1\.1 200/);
    for (const socket of held) socket.destroy();
  });
  it("reads one tenant's large bodies a few at a time: the next waits, then 429; another tenant's pass", async () => {
    const halfSent = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.tenant.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 50000\r\n\r\n{"model":`;
    // Two half-sent large bodies: the first holds the tenant's one slot until its deadline, the
    // second then holds it until its own.
    // From addresses of their own: this describe's per-client connection limit is 5.
    const holders = [
      answerOf(await open('127.0.0.7'), halfSent),
      answerOf(await open('127.0.0.8'), halfSent),
    ];
    await new Promise((r) => setTimeout(r, 50));
    const large = (key: string) =>
      fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          max_tokens: 5,
          messages: [{ role: 'user', content: 'lorem ipsum '.repeat(2_000) }],
        }),
      });
    const other = await s.newTenant(`other-${Date.now()}`);
    const [waited, passed] = await Promise.all([large(s.tenant.apiKey), large(other.apiKey)]);
    expect(passed.status).toBe(200);
    expect(waited.status).toBe(429);
    expect(waited.headers.get('retry-after')).toBe('1');
    expect(((await waited.json()) as { error: { message: string } }).error.message).toMatch(
      /1 large request bodies being read already/,
    );
    for (const holder of holders) expect(await holder).toMatch(/^HTTP\/1\.1 408/);
    // Its slot given back, the tenant's next large body is read at once.
    expect((await large(s.tenant.apiKey)).status).toBe(200);
  });

  it('lets bodies refused unread pass their deadline quietly (they used to fail later, unheard)', async () => {
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const headers = { authorization: `Bearer ${s.tenant.apiKey}`, 'content-type': 'application/json' };
    const refused = await Promise.all([
      fetch(`${s.url}/v1/chat/completions`, { method: 'PUT', headers, body }),
      fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'image/png' },
        body,
      }),
      fetch(`${s.url}/trpc/requests.submit`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      }),
    ]);
    expect(refused.map((r) => r.status >= 400 && r.status < 500)).toEqual([true, true, true]);
    await new Promise((r) => setTimeout(r, 800)); // past the 0.5 s deadline
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  });
});
