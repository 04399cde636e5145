import { z } from 'zod';

/**
 * An upstream pool is separately provisioned capacity with its own limits (an OpenAI project,
 * an Azure deployment). Never several keys of one account to dodge its limits.
 */
export interface PoolConfig {
  name: string;
  apiKey: string;
  baseURL?: string;
  /** Models this pool serves; absent = whatever its /v1/models lists. */
  models?: string[];
  /** Configured limits per model (`*` = any): a ceiling for the learned ones. */
  limits?: Record<
    string,
    {
      rpm?: number;
      tpm?: number;
      rpd?: number;
      tpd?: number /** Batch API queue limit (tokens enqueued). */;
      batchQueueTokens?: number;
    }
  >;
  timeoutMs: number;
  /**
   * Limits of their own for a service tier, per model (as `limits`): the limiter paces that tier's
   * requests in a pool of their own (`limiterPoolOf`), apart from the pool's other traffic.
   */
  tierLimits?: Partial<Record<'flex' | 'priority', PoolConfig['limits']>>;
  /** A flex-tier call's timeout: flex answers slowly (OpenAI suggests up to 15 minutes). Default 900,000. */
  flexTimeoutMs?: number;
}

export const DEFAULT_POOL = 'default';
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 120_000;
export const DEFAULT_FLEX_TIMEOUT_MS = 900_000;

const Limits = z.strictObject({
  rpm: z.number().int().positive().optional(),
  tpm: z.number().int().positive().optional(),
  rpd: z.number().int().positive().optional(),
  tpd: z.number().int().positive().optional(),
  batchQueueTokens: z.number().int().positive().optional(),
});

/** The pools file (`SLUICE_POOLS_FILE`): keys are named by environment variable, never written in the file. */
export const PoolsFileSchema = z.strictObject({
  pools: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits, . _ -'),
        baseURL: z.url().optional(),
        apiKeyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'the name of an environment variable'),
        models: z.array(z.string().min(1)).optional(),
        limits: z.record(z.string(), Limits).optional(),
        timeoutMs: z.number().int().positive().optional(),
        flexTimeoutMs: z.number().int().positive().optional(),
        tierLimits: z
          .strictObject({
            flex: z.record(z.string(), Limits).optional(),
            priority: z.record(z.string(), Limits).optional(),
          })
          .optional(),
      }),
    )
    .min(1),
});

/**
 * The limiter's pool for a request of `pool` at `tier`: a pool of its own (`<pool>~<tier>`) where
 * the pool declares limits for that tier, so neither tier's traffic spends the other's quota.
 */
export function limiterPoolOf(
  pools: readonly PoolConfig[],
  pool: string,
  tier: string | null | undefined,
): string {
  if (tier !== 'flex' && tier !== 'priority') return pool;
  return pools.find((p) => p.name === pool)?.tierLimits?.[tier] ? `${pool}~${tier}` : pool;
}

/** Every limiter pool's limits: each pool's own, and those of its tiers with limits of their own. */
export function limiterLimits(
  pools: readonly PoolConfig[],
): Record<string, NonNullable<PoolConfig['limits']>> {
  const out: Record<string, NonNullable<PoolConfig['limits']>> = {};
  for (const p of pools) {
    if (p.limits) out[p.name] = p.limits;
    for (const [tier, limits] of Object.entries(p.tierLimits ?? {}))
      if (limits) out[`${p.name}~${tier}`] = limits;
  }
  return out;
}

/** Picks the pool for a model: the first pool that lists it, else the default (first) pool. */
export function poolForModel(pools: readonly PoolConfig[], model: string): PoolConfig {
  const listed = pools.find((p) => p.models?.includes(model));
  const pool = listed ?? pools.find((p) => !p.models) ?? pools[0];
  if (!pool) throw new Error('no upstream pool configured');
  return pool;
}
