/**
 * The Batch API's own limit: tokens enqueued in unfinished batches, per pool and model (OpenAI's
 * "batch queue limit"), separate from the synchronous RPM/TPM. Pure: time is passed in.
 *
 * The limit is configured (the pool's `batchQueueTokens`) or learned from a batch that failed with
 * `token_limit_exceeded` ("… Limit: 90,000 enqueued tokens …"). While it is unknown and a batch was
 * refused anyway, new batches wait out a growing backoff.
 */
export interface BatchQueueConfig {
  /** Configured limits: pool → model (`*` = any) → tokens. */
  limits?: Record<string, Record<string, number>>;
  /** First backoff after a refusal whose limit could not be read; doubles up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export const BATCH_QUEUE_DEFAULTS = { backoffMs: 30_000, maxBackoffMs: 15 * 60_000 } as const;

export interface BatchQueueGroupSnapshot {
  pool: string;
  model: string;
  enqueuedTokens: number;
  /** Null while unknown (nothing configured, nothing learned). */
  limitTokens: number | null;
  limitSource: 'configured' | 'learned' | 'unknown';
  batches: number;
  /** Epoch ms until which no batch is submitted (after a refusal of unknown size), or null. */
  backoffUntil: number | null;
}

interface Group {
  enqueued: number;
  learned?: number;
  refusals: number;
  backoffUntil?: number;
}

export type BatchAllowance =
  /** How many tokens a new batch may carry now (Infinity when no limit is known). */
  { ok: true; tokens: number } | { ok: false; reason: 'queue_full' | 'backing_off'; retryAt?: number };

export interface BatchQueueBudget {
  /** What a new batch for (pool, model) may carry now. */
  allowance(pool: string, model: string, now: number): BatchAllowance;
  /** A batch was created (or found again after a restart): its tokens count until it ends. Idempotent per id. */
  reserve(batchId: string, pool: string, model: string, tokens: number): void;
  /** The batch ended (any terminal status): its tokens leave the queue. Idempotent. */
  release(batchId: string): void;
  /** A batch was refused for the queue limit: learn the limit from the message, or back off. */
  onLimitExceeded(pool: string, model: string, message: string, now: number): void;
  snapshot(now: number): BatchQueueGroupSnapshot[];
}

/** "Limit: 90,000 enqueued tokens" / "limit 90000" → 90000; undefined when no number is given. */
export function parseBatchQueueLimit(message: string): number | undefined {
  const m = /\blimit\b:?\s*(\d[\d,_]*)/i.exec(message);
  if (!m?.[1]) return undefined;
  const n = Number(m[1].replace(/[,_]/g, ''));
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export function createBatchQueueBudget(config: BatchQueueConfig = {}): BatchQueueBudget {
  const backoffMs = config.backoffMs ?? BATCH_QUEUE_DEFAULTS.backoffMs;
  const maxBackoffMs = config.maxBackoffMs ?? BATCH_QUEUE_DEFAULTS.maxBackoffMs;
  const groups = new Map<string, Group>();
  const batches = new Map<string, { key: string; tokens: number }>();
  const keyOf = (pool: string, model: string) => `${pool}\u0000${model}`;

  function group(key: string): Group {
    let g = groups.get(key);
    if (!g) {
      g = { enqueued: 0, refusals: 0 };
      groups.set(key, g);
    }
    return g;
  }

  function configured(pool: string, model: string): number | undefined {
    const p = config.limits?.[pool];
    return p?.[model] ?? p?.['*'];
  }

  /** The tighter of the configured and the learned limit: the upstream's word wins when lower. */
  function limitOf(pool: string, model: string, g: Group | undefined): number | undefined {
    const c = configured(pool, model);
    const l = g?.learned;
    if (c === undefined) return l;
    return l === undefined ? c : Math.min(c, l);
  }

  return {
    allowance(pool, model, now) {
      const g = groups.get(keyOf(pool, model));
      if (g?.backoffUntil !== undefined && now < g.backoffUntil)
        return { ok: false, reason: 'backing_off', retryAt: g.backoffUntil };
      const limit = limitOf(pool, model, g);
      if (limit === undefined) return { ok: true, tokens: Number.POSITIVE_INFINITY };
      const free = limit - (g?.enqueued ?? 0);
      return free > 0 ? { ok: true, tokens: free } : { ok: false, reason: 'queue_full' };
    },
    reserve(batchId, pool, model, tokens) {
      if (batches.has(batchId)) return;
      const key = keyOf(pool, model);
      batches.set(batchId, { key, tokens });
      group(key).enqueued += tokens;
    },
    release(batchId) {
      const b = batches.get(batchId);
      if (!b) return;
      batches.delete(batchId);
      const g = group(b.key);
      g.enqueued = Math.max(0, g.enqueued - b.tokens);
    },
    onLimitExceeded(pool, model, message, now) {
      const g = group(keyOf(pool, model));
      const learned = parseBatchQueueLimit(message);
      g.refusals++;
      if (learned !== undefined) {
        g.learned = learned;
        g.backoffUntil = undefined;
        return;
      }
      g.backoffUntil = now + Math.min(maxBackoffMs, backoffMs * 2 ** (g.refusals - 1));
    },
    snapshot(now) {
      return [...groups.entries()].map(([key, g]) => {
        const [pool = '', model = ''] = key.split('\u0000');
        const limit = limitOf(pool, model, g);
        return {
          pool,
          model,
          enqueuedTokens: g.enqueued,
          limitTokens: limit ?? null,
          limitSource:
            limit === undefined ? 'unknown' : limit === configured(pool, model) ? 'configured' : 'learned',
          batches: [...batches.values()].filter((b) => b.key === key).length,
          backoffUntil: g.backoffUntil !== undefined && g.backoffUntil > now ? g.backoffUntil : null,
        };
      });
    },
  };
}

/**
 * How many of `tokens` (in order) one batch takes: as many as fit the allowance, but at least the
 * first when nothing of this group is enqueued (a request larger than the whole limit is sent alone,
 * and the upstream's refusal turns it into a failure instead of a queue that never drains).
 */
export function takeWithinAllowance(
  tokens: readonly number[],
  allowance: number,
  nothingEnqueued: boolean,
): number {
  let sum = 0;
  let n = 0;
  for (const t of tokens) {
    if (sum + t > allowance) break;
    sum += t;
    n++;
  }
  return n === 0 && nothingEnqueued && tokens.length > 0 ? 1 : n;
}
