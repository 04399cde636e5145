import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startOpenAISimulator } from './index';

describe('OpenAI simulator over HTTP, driven by the official openai SDK', () => {
  let sim: RunningSimulator;
  let client: OpenAI;
  beforeAll(async () => {
    sim = await startOpenAISimulator({ limits: { default: { rpm: 5, tpm: 100_000 } } });
    client = new OpenAI({ apiKey: 'sk-test', baseURL: sim.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('answers a chat completion with real token counts and the x-ratelimit-* headers', async () => {
    sim.reset();
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 5 })
      .withResponse();
    expect(data.choices[0]?.message.content).toBeTruthy();
    expect(data.usage?.completion_tokens).toBe(5);
    expect(data.choices[0]?.finish_reason).toBe('length');
    expect(data.usage?.prompt_tokens).toBe(3 + 3 + 1 + 1); // priming + per message + "Hello" + role
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('5');
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('4');
    expect(response.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+(\.\d+)?(ms|s)$/);
  });

  it('returns OpenAI 429 bodies with retry-after once RPM is spent', async () => {
    sim.reset();
    const send = () =>
      client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
        max_tokens: 1,
      });
    for (let i = 0; i < 5; i++) await send();
    const error = (await send().catch((e: unknown) => e)) as InstanceType<typeof OpenAI.RateLimitError>;
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.code).toBe('rate_limit_exceeded');
    expect(error.message).toMatch(
      /Rate limit reached for gpt-4o-mini .* on requests per min \(RPM\): Limit 5/,
    );
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(error.headers?.get('retry-after-ms'))).toBeGreaterThan(0);
    expect(sim.stats().rateLimited.requests).toBe(1);
  });

  it('streams chunks and a final usage chunk with stream_options.include_usage', async () => {
    sim.reset();
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Stream' }],
      max_tokens: 100,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toContain('simulated answer');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('refuses a bad key, an unknown model and a body without messages like OpenAI', async () => {
    const strict = await startOpenAISimulator({ apiKeys: ['sk-good'] });
    try {
      const bad = new OpenAI({ apiKey: 'sk-bad', baseURL: strict.url, maxRetries: 0 });
      await expect(bad.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
      const good = new OpenAI({ apiKey: 'sk-good', baseURL: strict.url, maxRetries: 0 });
      const e404 = await good.chat.completions
        .create({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] })
        .catch((e: unknown) => e);
      expect((e404 as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
      const res = await fetch(`${strict.url}/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-good', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o' }),
      });
      expect(res.status).toBe(400);
    } finally {
      await strict.close();
    }
  });

  it('injects faults configured over HTTP: 5xx, insufficient_quota, malformed bodies, dropped connections', async () => {
    const faulty = await startOpenAISimulator({ limits: { default: { rpm: 1_000, tpm: 1_000_000 } } });
    const c = new OpenAI({ apiKey: 'sk-x', baseURL: faulty.url, maxRetries: 0 });
    const call = () =>
      c.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
        max_tokens: 2,
      });
    const configure = (faults: object) =>
      fetch(`${faulty.url.replace(/\/v1$/, '')}/_sim/config`, {
        method: 'POST',
        body: JSON.stringify({ faults }),
      });
    try {
      await configure({ serverErrorRate: 1, serverErrorStatus: 503 });
      expect(((await call().catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>).status).toBe(
        503,
      );
      await configure({ insufficientQuota: true });
      const quota = (await call().catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(quota.status).toBe(429);
      expect(quota.code).toBe('insufficient_quota');
      await configure({ malformedRate: 1 });
      expect(await call().catch((e: unknown) => e)).toBeInstanceOf(Error);
      await configure({ dropRate: 1 });
      expect(await call().catch((e: unknown) => e)).toBeInstanceOf(OpenAI.APIConnectionError);
      await configure({});
      expect((await call()).object).toBe('chat.completion');
      const stats = (await (await fetch(`${faulty.url.replace(/\/v1$/, '')}/_sim/stats`)).json()) as {
        serverErrors: number;
        drops: number;
      };
      expect(stats).toMatchObject({ serverErrors: 1, drops: 1 });
    } finally {
      await faulty.close();
    }
  });
});

describe('simulator options for rate-limit evidence', () => {
  it('charges the exact prompt tokens with promptCharge "tokens", drops headers, changes limits mid-run and names daily limits', async () => {
    let t = 1_000_000;
    const sim = await startOpenAISimulator({
      limits: { default: { rpm: 100, tpm: 100_000, tpd: 400 } },
      promptCharge: 'tokens',
      headerDropRate: 1,
      limitChanges: [{ afterMs: 10_000, limits: { default: { rpm: 100, tpm: 100_000, tpd: 100_000 } } }],
      now: () => t,
    });
    try {
      const client = new OpenAI({ apiKey: 'sk-test', baseURL: sim.url, maxRetries: 0 });
      const body = {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user' as const, content: 'Hello' }],
        max_tokens: 5,
      };
      const { data, response } = await client.chat.completions.create(body).withResponse();
      expect(sim.stats().tokensCharged).toBe((data.usage?.prompt_tokens ?? 0) + 5);
      expect(response.headers.get('x-ratelimit-remaining-tokens')).toBeNull();
      const big = { ...body, max_tokens: 390 };
      const error = (await client.chat.completions.create(big).catch((e: unknown) => e)) as InstanceType<
        typeof OpenAI.RateLimitError
      >;
      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      expect(error.message).toMatch(/on tokens per day \(TPD\): Limit 400/);
      expect(sim.stats().rateLimited.daily).toBe(1);
      // The tier upgrade 10 s in: the daily limit is 100,000 now.
      t += 10_000;
      await expect(client.chat.completions.create(big)).resolves.toBeTruthy();
    } finally {
      await sim.close();
    }
  });
});
