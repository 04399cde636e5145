import { z } from 'zod';
import { CACHE_MODES } from '../cache/cache-key';

/** Options Sluice adds around a request (SDK second argument, or `x-sluice-*` headers on `/v1`). */
export const SubmitOptionsSchema = z.strictObject({
  priority: z.enum(['interactive', 'standard', 'batch']).default('standard'),
  idempotencyKey: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .optional(),
  /**
   * Exact response cache, for tenants an operator opted in: `use` (default for deterministic
   * requests; asking it opts a sampled request in), `refresh` (never read, store the fresh answer),
   * `bypass` (neither).
   */
  cache: z.enum(CACHE_MODES).optional(),
  /** The caller stops caring after this many ms; queued requests past it are cancelled. */
  timeoutMs: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600_000)
    .optional(),
});

export type SubmitOptions = z.input<typeof SubmitOptionsSchema>;
export type ParsedSubmitOptions = z.output<typeof SubmitOptionsSchema>;
