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
      }),
    )
    .min(1),
});

/** Picks the pool for a model: the first pool that lists it, else the default (first) pool. */
export function poolForModel(pools: readonly PoolConfig[], model: string): PoolConfig {
  const listed = pools.find((p) => p.models?.includes(model));
  const pool = listed ?? pools.find((p) => !p.models) ?? pools[0];
  if (!pool) throw new Error('no upstream pool configured');
  return pool;
}
