/**
 * Per-tenant submit rate: a token bucket per tenant, so one tenant cannot flood the request log.
 * In-process (each API process enforces it on its own submits); the clock is passed in.
 */
export interface SubmitRateLimit {
  /** Sustained submits per second per tenant. */
  ratePerSecond: number;
  /** Submits a tenant may make at once after being idle. */
  burst: number;
}

export const DEFAULT_SUBMIT_RATE: SubmitRateLimit = { ratePerSecond: 200, burst: 400 };

export interface TokenBucket {
  tokens: number;
  updatedAt: number;
}

export type TakeDecision =
  | { allowed: true; bucket: TokenBucket }
  | { allowed: false; bucket: TokenBucket; retryAfterMs: number };

/** The bucket refilled up to `now` (a clock going backwards refills nothing). */
export function refill(bucket: TokenBucket | undefined, now: number, limit: SubmitRateLimit): TokenBucket {
  if (!bucket) return { tokens: limit.burst, updatedAt: now };
  const elapsedMs = Math.max(0, now - bucket.updatedAt);
  const tokens = Math.min(limit.burst, bucket.tokens + (elapsedMs * limit.ratePerSecond) / 1000);
  return { tokens, updatedAt: Math.max(now, bucket.updatedAt) };
}

/** Takes one token if there is one; otherwise says how long until there is. */
export function takeToken(
  bucket: TokenBucket | undefined,
  now: number,
  limit: SubmitRateLimit,
): TakeDecision {
  const current = refill(bucket, now, limit);
  // The epsilon absorbs float drift, so waiting exactly `retryAfterMs` always suffices.
  if (current.tokens >= 1 - 1e-9)
    return { allowed: true, bucket: { ...current, tokens: Math.max(0, current.tokens - 1) } };
  const retryAfterMs = Math.ceil(((1 - current.tokens) * 1000) / limit.ratePerSecond);
  return { allowed: false, bucket: current, retryAfterMs: Math.max(1, retryAfterMs) };
}

/** How many idle tenants' buckets are kept before full ones are forgotten (a full bucket is the default). */
const MAX_BUCKETS = 10_000;

export function createSubmitRateLimiter(limit: SubmitRateLimit, clock: () => number = Date.now) {
  if (!(limit.ratePerSecond > 0) || !(limit.burst >= 1)) {
    throw new RangeError('submit rate: ratePerSecond must be > 0 and burst >= 1');
  }
  const buckets = new Map<string, TokenBucket>();

  function forgetFullBuckets(now: number): void {
    for (const [tenantId, bucket] of buckets) {
      if (refill(bucket, now, limit).tokens >= limit.burst) buckets.delete(tenantId);
    }
  }

  return {
    limit,
    /** One submit by `tenantId` now: allowed (and counted), or refused with the wait until the next token. */
    take(tenantId: string): { allowed: true } | { allowed: false; retryAfterMs: number } {
      const now = clock();
      const decision = takeToken(buckets.get(tenantId), now, limit);
      buckets.set(tenantId, decision.bucket);
      if (buckets.size > MAX_BUCKETS) forgetFullBuckets(now);
      return decision.allowed ? { allowed: true } : { allowed: false, retryAfterMs: decision.retryAfterMs };
    },
    /** Tenants currently tracked (for tests). */
    size: () => buckets.size,
  };
}

export type SubmitRateLimiter = ReturnType<typeof createSubmitRateLimiter>;
