import { z } from 'zod';
import { BATCH_LIMITS } from './batch-file';

/** Batch API routing tunables (`SLUICE_BATCH_*`); tests inject their own. */
export interface BatchSettings {
  /** The operator's global switch: off = every request is synchronous, whatever tenants allow. */
  enabled: boolean;
  /** A collector flushes when it holds this many requests (OpenAI allows 50,000 per batch). */
  maxRequests: number;
  maxBytes: number;
  /** …or when its oldest request has waited this long. */
  flushMs: number;
  /** How often in-flight batches are polled. */
  pollMs: number;
  /** How long a dispatcher holds a batch it polls; a dead one's batches are taken over after this. */
  leaseMs: number;
  /** Batch queue limit (tokens enqueued per model) when the pools file declares none; absent = learned. */
  queueTokens?: number;
}

export const BATCH_DEFAULTS: BatchSettings = {
  enabled: true,
  maxRequests: BATCH_LIMITS.maxRequests,
  maxBytes: BATCH_LIMITS.maxBytes,
  flushMs: 60_000,
  pollMs: 30_000,
  leaseMs: 5 * 60_000,
};

/** The environment variables, merged into the broker's env schema. */
export const BATCH_ENV = {
  SLUICE_BATCH_API: z.enum(['on', 'off'], { message: 'on or off' }).default('on'),
  SLUICE_BATCH_MAX_REQUESTS: z.coerce.number().int().min(1).max(BATCH_LIMITS.maxRequests).optional(),
  SLUICE_BATCH_FLUSH_MS: z.coerce.number().int().min(10).optional(),
  SLUICE_BATCH_POLL_MS: z.coerce.number().int().min(10).optional(),
  SLUICE_BATCH_LEASE_MS: z.coerce.number().int().min(100).optional(),
  SLUICE_BATCH_QUEUE_TOKENS: z.coerce.number().int().min(1).optional(),
};

type BatchEnv = z.infer<z.ZodObject<typeof BATCH_ENV>>;

export function batchSettingsFromEnv(e: BatchEnv): BatchSettings {
  return {
    ...BATCH_DEFAULTS,
    enabled: e.SLUICE_BATCH_API === 'on',
    ...(e.SLUICE_BATCH_MAX_REQUESTS !== undefined ? { maxRequests: e.SLUICE_BATCH_MAX_REQUESTS } : {}),
    ...(e.SLUICE_BATCH_FLUSH_MS !== undefined ? { flushMs: e.SLUICE_BATCH_FLUSH_MS } : {}),
    ...(e.SLUICE_BATCH_POLL_MS !== undefined ? { pollMs: e.SLUICE_BATCH_POLL_MS } : {}),
    ...(e.SLUICE_BATCH_LEASE_MS !== undefined ? { leaseMs: e.SLUICE_BATCH_LEASE_MS } : {}),
    ...(e.SLUICE_BATCH_QUEUE_TOKENS !== undefined ? { queueTokens: e.SLUICE_BATCH_QUEUE_TOKENS } : {}),
  };
}
