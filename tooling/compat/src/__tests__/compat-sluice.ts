import { startTestSluice, type TestSluice } from '@sluice/broker/testing';
import { z } from 'zod';

/**
 * A running Sluice (embedded: PGlite and the Postgres-backed log) in front of its simulator, as every
 * client file of the suite starts it. The simulator answers at once, and its quota is wide: a request
 * without `max_tokens` reserves the model's whole output limit, and the suite checks what clients
 * see, not pacing.
 */
export function startCompatSluice(): Promise<TestSluice> {
  return startTestSluice({
    simulator: { latency: { baseMs: 1 }, limits: { default: { rpm: 100_000, tpm: 1_000_000_000 } } },
  });
}

/** The body the simulator last received on one endpoint: proof of what reached the upstream. */
export function lastUpstreamBody(
  s: TestSluice,
  endpoint: 'chat.completions' | 'embeddings' | 'completions' | 'moderations',
): Record<string, unknown> | undefined {
  return s.simulator.stats().lastBodies[endpoint];
}

/** A parameter no client or Sluice knows today: it must reach the upstream exactly as sent. */
export const FUTURE_PARAMETER = {
  some_future_parameter: { nested: [1, 'two', { three: true }], flag: null },
} as const;

/** OpenAI's refusal of `max_tokens` on a reasoning model, as the simulator (and OpenAI) sends it. */
export const MAX_TOKENS_REFUSAL =
  "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.";

/** OpenAI's refusal of `top_logprobs` above 20 (a field Sluice does not read). */
export const TOP_LOGPROBS_REFUSAL = "Invalid 'top_logprobs': integer above maximum value";

/** OpenAI's refusal of `dimensions` on text-embedding-ada-002. */
export const DIMENSIONS_REFUSAL = 'This model does not support specifying dimensions.';

/** The weather tool every client declares in its own way: same name, same arguments. */
export const WeatherArgs = z.object({ city: z.string(), unit: z.enum(['celsius', 'fahrenheit']) });
export const WEATHER_RESULT = { forecast: 'sunny', temperature: 24 };

/** The structured answer every client's helper parses. */
export const Recipe = z.object({
  name: z.string(),
  servings: z.number().int(),
  vegetarian: z.boolean(),
  ingredients: z.array(z.object({ item: z.string(), grams: z.number() })),
});

/** The simulator's canned chat answer starts with these words (no tools, no response format). */
export const CANNED_ANSWER_START = 'This is a simulated';

/**
 * Every path a client may call: tRPC procedures and /v1 routes Sluice serves, and ones it does not.
 * A bad or missing key is a 401 on each, before anything else is looked at.
 */
export const PATHS = {
  v1Known: [
    { method: 'POST', path: '/v1/chat/completions' },
    { method: 'POST', path: '/v1/embeddings' },
    { method: 'POST', path: '/v1/completions' },
    { method: 'POST', path: '/v1/moderations' },
    { method: 'GET', path: '/v1/models' },
    { method: 'GET', path: '/v1/models/gpt-4o-mini' },
  ],
  v1Unknown: [
    { method: 'POST', path: '/v1/images/generations' },
    { method: 'POST', path: '/v1/audio/speech' },
    { method: 'GET', path: '/v1/files' },
    { method: 'POST', path: '/v1/no-such-endpoint' },
  ],
  trpcKnown: [
    { method: 'POST', path: '/trpc/chat.completions.create' },
    { method: 'POST', path: '/trpc/embeddings.create' },
    { method: 'POST', path: '/trpc/requests.submit' },
    { method: 'GET', path: '/trpc/usage.mine' },
  ],
  trpcUnknown: [
    { method: 'POST', path: '/trpc/no.such.procedure' },
    { method: 'GET', path: '/trpc/images.generate' },
  ],
} as const;
