import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLEX_UNAVAILABLE_MESSAGE, type RunningSimulator, startOpenAISimulator } from './index';

const user = (content: string) => [{ role: 'user' as const, content }];
type ApiError = InstanceType<typeof OpenAI.APIError>;

describe('service tiers: flex slower and sometimes unavailable, priority faster', () => {
  let sim: RunningSimulator;
  let client: OpenAI;
  beforeAll(async () => {
    sim = await startOpenAISimulator({
      limits: { default: { rpm: 10_000, tpm: 10_000_000 } },
      latency: { baseMs: 60 },
      tiers: { flex: { slowdown: 4 }, priority: { speedup: 0.25 } },
    });
    client = new OpenAI({ apiKey: 'sk-tiers', baseURL: sim.url, maxRetries: 0 });
  });
  afterAll(() => sim.close());

  async function timed(tier: 'flex' | 'default' | 'priority') {
    const started = performance.now();
    const answer = await client.chat.completions.create({
      model: 'gpt-5-mini',
      messages: user('Hi'),
      max_completion_tokens: 5,
      service_tier: tier,
    });
    return { ms: performance.now() - started, tier: answer.service_tier };
  }

  it('answers each tier as itself, flex slower and priority faster than default', async () => {
    const flex = await timed('flex');
    const standard = await timed('default');
    const priority = await timed('priority');
    expect([flex.tier, standard.tier, priority.tier]).toEqual(['flex', 'default', 'priority']);
    expect(flex.ms).toBeGreaterThanOrEqual(4 * 60 - 5);
    expect(standard.ms).toBeGreaterThanOrEqual(55);
    expect(standard.ms).toBeLessThan(flex.ms);
    expect(priority.ms).toBeLessThan(standard.ms);
    expect(sim.stats().byTier).toMatchObject({ flex: 1, default: 1, priority: 1 });
  });

  it('refuses flex with 429 resource_unavailable at the configured rate, charging no quota', async () => {
    sim.configure({ tiers: { flex: { unavailableRate: 1 } } });
    const charged = sim.stats().tokensCharged;
    const refused = (await client.chat.completions
      .create({ model: 'gpt-5-mini', messages: user('Hi'), service_tier: 'flex' })
      .catch((e: unknown) => e)) as ApiError;
    expect(refused.status).toBe(429);
    expect(refused.code).toBe('resource_unavailable');
    expect(refused.message).toContain(FLEX_UNAVAILABLE_MESSAGE);
    expect(sim.stats().flexUnavailable).toBe(1);
    expect(sim.stats().tokensCharged).toBe(charged);
    // The other tiers are not affected.
    expect((await timed('default')).tier).toBe('default');
    sim.configure({ tiers: { flex: { unavailableRate: 0.5 } } });
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, () =>
        client.chat.completions
          .create({ model: 'gpt-5-mini', messages: user('Hi'), service_tier: 'flex' })
          .then(() => 'ok' as const)
          .catch(() => 'unavailable' as const),
      ),
    );
    const unavailable = outcomes.filter((o) => o === 'unavailable').length;
    expect(unavailable).toBeGreaterThan(5);
    expect(unavailable).toBeLessThan(35);
    sim.configure({ tiers: {} });
  });
});
