import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { startOpenAISimulator } from './index';

const ask = (client: OpenAI, model: string) =>
  client.chat.completions
    .create({ model, messages: [{ role: 'user', content: 'x' }], max_tokens: 1 })
    .withResponse();

const refusal = (client: OpenAI, model: string) =>
  ask(client, model).then(
    () => undefined,
    (e: unknown) => e as InstanceType<typeof OpenAI.RateLimitError>,
  );

describe('models sharing one limit (sharedLimits)', () => {
  it('draws the models of one list on one bucket per key, with the first model’s limits, and names the model called', async () => {
    const sim = await startOpenAISimulator({
      limits: {
        'gpt-4o-mini': { rpm: 3, tpm: 100_000 },
        'gpt-4.1-mini': { rpm: 100, tpm: 100_000 },
        default: { rpm: 100, tpm: 100_000 },
      },
      sharedLimits: [['gpt-4o-mini', 'gpt-4.1-mini']],
    });
    try {
      const a = new OpenAI({ apiKey: 'sk-a', baseURL: sim.url, maxRetries: 0 });
      const b = new OpenAI({ apiKey: 'sk-b', baseURL: sim.url, maxRetries: 0 });
      await ask(a, 'gpt-4o-mini');
      await ask(a, 'gpt-4o-mini');
      // The other model of the list reports the shared bucket: the first model's limit, one request left.
      const { response } = await ask(a, 'gpt-4.1-mini');
      expect(response.headers.get('x-ratelimit-limit-requests')).toBe('3');
      expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      const error = await refusal(a, 'gpt-4.1-mini');
      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      expect(error?.message).toMatch(
        /^429 Rate limit reached for gpt-4\.1-mini in organization .* \(RPM\): Limit 3, Used 3/,
      );
      expect((await refusal(a, 'gpt-4o-mini'))?.message).toMatch(/for gpt-4o-mini .* Limit 3/);
      // A model outside the list keeps its own bucket, and another key has its own shared bucket.
      await expect(ask(a, 'gpt-4o')).resolves.toBeTruthy();
      const other = await ask(b, 'gpt-4.1-mini');
      expect(other.response.headers.get('x-ratelimit-remaining-requests')).toBe('2');
      const timeline = sim.stats().timelineByModel;
      expect(timeline['gpt-4.1-mini']?.reduce((n, s) => n + s.ok, 0)).toBe(2);
      expect(timeline['gpt-4o-mini']?.reduce((n, s) => n + s.rateLimited, 0)).toBe(1);
    } finally {
      await sim.close();
    }
  });

  it('shares the daily limits too', async () => {
    const sim = await startOpenAISimulator({
      limits: { default: { rpm: 100, tpm: 100_000, rpd: 2 } },
      sharedLimits: [['gpt-4o-mini', 'gpt-4.1-mini']],
    });
    try {
      const a = new OpenAI({ apiKey: 'sk-a', baseURL: sim.url, maxRetries: 0 });
      await ask(a, 'gpt-4o-mini');
      await ask(a, 'gpt-4.1-mini');
      expect((await refusal(a, 'gpt-4.1-mini'))?.message).toMatch(
        /for gpt-4\.1-mini .* on requests per day \(RPD\): Limit 2/,
      );
      expect(sim.stats().rateLimited.daily).toBe(1);
    } finally {
      await sim.close();
    }
  });

  it('follows a limit change given to configure, counted from that call', async () => {
    let t = 5_000_000;
    const sim = await startOpenAISimulator({
      limits: { default: { rpm: 2, tpm: 100_000 } },
      sharedLimits: [['gpt-4o-mini', 'gpt-4.1-mini']],
      now: () => t,
    });
    try {
      const a = new OpenAI({ apiKey: 'sk-a', baseURL: sim.url, maxRetries: 0 });
      await ask(a, 'gpt-4o-mini');
      await ask(a, 'gpt-4.1-mini');
      t += 60_000; // long after start: the change counts from configure, not from start
      await ask(a, 'gpt-4o-mini');
      await ask(a, 'gpt-4.1-mini');
      sim.configure({ limitChanges: [{ afterMs: 1_000, limits: { default: { rpm: 120, tpm: 100_000 } } }] });
      t += 999;
      const before = await refusal(a, 'gpt-4.1-mini');
      expect(before?.headers?.get('x-ratelimit-limit-requests')).toBe('2');
      t += 1;
      const at = await refusal(a, 'gpt-4o-mini');
      expect(at?.headers?.get('x-ratelimit-limit-requests')).toBe('120');
      // From the change on, the shared bucket refills at 120/min: one request per 500 ms.
      t += 500;
      const { response } = await ask(a, 'gpt-4.1-mini');
      expect(response.headers.get('x-ratelimit-limit-requests')).toBe('120');
    } finally {
      await sim.close();
    }
  });

  it('refuses a model listed twice', async () => {
    await expect(
      startOpenAISimulator({ sharedLimits: [['gpt-4o', 'gpt-4o-mini'], ['gpt-4o-mini']] }),
    ).rejects.toThrow(/gpt-4o-mini is in more than one list/);
  });
});

describe('a day already partly spent (dailySpentAtStart)', () => {
  it('starts every key × model with that much of its daily limits used', async () => {
    const sim = await startOpenAISimulator({
      limits: { default: { rpm: 100, tpm: 100_000, tpd: 10_000 } },
      dailySpentAtStart: { tokens: 9_990 },
    });
    try {
      const a = new OpenAI({ apiKey: 'sk-a', baseURL: sim.url, maxRetries: 0 });
      // ceil(chars/4) of the messages (8) plus max_tokens (5): more than the 10 tokens left.
      const body = {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user' as const, content: 'x' }],
        max_tokens: 5,
      };
      const error = (await a.chat.completions.create(body).catch((e: unknown) => e)) as Error;
      expect(error.message).toMatch(/on tokens per day \(TPD\): Limit 10000, Used 9990/);
      expect(sim.stats().rateLimited.daily).toBe(1);
    } finally {
      await sim.close();
    }
  });
});
