import type { SluiceEvent } from '@sluice/events';
import { billedChannel } from '../billing/prices';
import type { RequestRow, UsageRollupRow } from '../db/schema';
import { requestFingerprint } from '../intake/idempotency';

/**
 * Projections as pure functions (emmett's evolve): live updates and `sluice replay` share them,
 * so a rebuilt projection equals the live one by construction.
 */
export type RequestState = RequestRow;

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

export function isTerminalStatus(status: string): boolean {
  return TERMINAL.has(status);
}

function blank(e: SluiceEvent): RequestState {
  const at = new Date(e.occurredAt);
  return {
    requestId: e.requestId,
    tenantId: e.tenantId,
    endpoint: e.endpoint,
    pool: e.pool,
    model: e.model,
    priority: e.priority,
    status: 'queued',
    attempts: 0,
    submittedAt: at,
    lastEventAt: at,
    completedAt: null,
    queueWaitMs: null,
    upstreamLatencyMs: null,
    estimatedTokens: 0,
    idempotencyKey: null,
    fingerprint: null,
    source: 'trpc',
    stream: false,
    errorReason: null,
    errorMessage: null,
    errorStatus: null,
    deadLettered: false,
    upstreamError: null,
    upstreamRequestId: null,
    upstreamProcessingMs: null,
    response: null,
    cache: null,
  };
}

export function evolveRequest(state: RequestState | undefined, e: SluiceEvent): RequestState {
  const s: RequestState = { ...(state ?? blank(e)) };
  const at = new Date(e.occurredAt);
  if (at > s.lastEventAt) s.lastEventAt = at;
  switch (e.type) {
    case 'request.submitted':
      s.submittedAt = at;
      s.estimatedTokens = e.estimate.tpmCost;
      s.idempotencyKey = e.idempotencyKey;
      // Only a request that can be named again needs its fingerprint.
      s.fingerprint = e.idempotencyKey ? requestFingerprint(e.endpoint, e.body) : null;
      s.source = e.source;
      s.stream = e.stream;
      return s;
    case 'request.dispatched':
      s.attempts = Math.max(s.attempts, e.attempt);
      s.queueWaitMs = s.queueWaitMs ?? e.queueWaitMs;
      if (!isTerminalStatus(s.status)) s.status = 'dispatched';
      return s;
    case 'request.retry_scheduled':
      s.attempts = Math.max(s.attempts, e.attempt);
      if (!isTerminalStatus(s.status)) s.status = 'retrying';
      return s;
    case 'request.completed':
      // An answer that arrives after a cancellation was still paid for: it wins.
      s.status = 'completed';
      s.attempts = Math.max(s.attempts, e.attempt);
      s.completedAt = at;
      s.response = e.response;
      s.upstreamLatencyMs = e.upstreamLatencyMs;
      s.queueWaitMs = e.queueWaitMs;
      s.upstreamRequestId = e.upstreamRequestId;
      s.upstreamProcessingMs = e.upstreamProcessingMs;
      s.cache = e.cache ? (e.cache.hit ? 'hit' : 'miss') : null;
      return s;
    case 'request.failed':
      if (s.status === 'completed') return s;
      s.status = 'failed';
      s.completedAt = at;
      s.errorReason = e.reason;
      s.errorMessage = e.message;
      s.errorStatus = e.status;
      s.deadLettered = e.deadLettered;
      s.upstreamError = e.upstreamError;
      s.upstreamRequestId = e.upstreamRequestId;
      return s;
    case 'request.cancelled':
      if (isTerminalStatus(s.status)) return s;
      s.status = 'cancelled';
      s.completedAt = at;
      s.errorReason = e.cancelledBy === 'deadline' ? 'deadline' : 'cancelled';
      s.errorMessage = e.reason;
      return s;
    case 'usage.recorded':
      return s;
    default: {
      const never: never = e;
      return never;
    }
  }
}

export type UsageCounters = Omit<
  UsageRollupRow,
  'tenantId' | 'bucketStart' | 'model' | 'endpoint' | 'channel' | UsageHistogram
>;
export type UsageHistogram = 'queueWaitHist' | 'upstreamLatencyHist';
export type UsageDelta = {
  tenantId: string;
  bucketStart: Date;
  model: string;
  endpoint: UsageRollupRow['endpoint'];
  channel: UsageRollupRow['channel'];
} & Partial<UsageCounters> &
  Partial<Record<UsageHistogram, number[]>> & {
    /** Counted units that are not tokens, by kind (`usage_units`). */
    units?: Record<string, number>;
  };

/**
 * Upper bounds (ms) of the fixed latency buckets; one more bucket holds everything above the last.
 * Changing them needs `sluice replay` (old rollups were counted with the old bounds).
 */
export const LATENCY_BUCKETS_MS = [
  10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 900_000,
  3_600_000,
] as const;

/** Index of the bucket holding `ms`: the first bound it does not exceed, else the overflow bucket. */
export function latencyBucket(ms: number): number {
  const i = LATENCY_BUCKETS_MS.findIndex((upper) => ms <= upper);
  return i === -1 ? LATENCY_BUCKETS_MS.length : i;
}

/** A histogram holding one observation. */
export function oneObservation(ms: number): number[] {
  const h = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  h[latencyBucket(ms)] = 1;
  return h;
}

/** Element-wise sum; histograms of different lengths (an empty default) merge too. */
export function addHistograms(a: readonly number[], b: readonly number[]): number[] {
  return Array.from({ length: Math.max(a.length, b.length) }, (_, i) => (a[i] ?? 0) + (b[i] ?? 0));
}

/**
 * The value below which `p` (0..1) of the observations fall, interpolated linearly inside its
 * bucket: exact to the bucket's resolution. Overflow answers the last bound. Null when empty.
 */
export function histogramPercentile(hist: readonly number[], p: number): number | null {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = p * total;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    const n = hist[i] ?? 0;
    if (n > 0 && seen + n >= rank) {
      const lower = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1]!;
      const upper = LATENCY_BUCKETS_MS[i];
      if (upper === undefined) return lower;
      return Math.round(lower + ((upper - lower) * Math.max(0, rank - seen)) / n);
    }
    seen += n;
  }
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]!;
}

export function hourOf(iso: string): Date {
  const d = new Date(iso);
  d.setUTCMinutes(0, 0, 0);
  return d;
}

/** What one event adds to the usage rollup, given the request's state before it. */
export function usageDelta(e: SluiceEvent, before: RequestState | undefined): UsageDelta | undefined {
  const key = {
    tenantId: e.tenantId,
    bucketStart: hourOf(e.occurredAt),
    model: e.model,
    endpoint: e.endpoint,
    channel: 'sync' as UsageRollupRow['channel'],
  };
  switch (e.type) {
    case 'request.submitted':
      return { ...key, requests: 1 };
    case 'request.dispatched':
      return undefined;
    case 'request.retry_scheduled':
      return { ...key, retries: 1, rateLimited: e.reason === 'rate_limited' ? 1 : 0 };
    case 'request.completed':
      // A cache hit never waited in a queue nor called upstream: it stays out of the latency figures.
      if (e.cache?.hit) return { ...key, completed: 1, cacheHits: 1 };
      return {
        ...key,
        completed: 1,
        cacheMisses: e.cache ? 1 : 0,
        // Counted once per request: a completion after a cancellation moves it from cancelled.
        cancelled: before?.status === 'cancelled' ? -1 : 0,
        queueWaitMsSum: e.queueWaitMs,
        upstreamLatencyMsSum: e.upstreamLatencyMs,
        latencyCount: 1,
        queueWaitHist: oneObservation(e.queueWaitMs),
        upstreamLatencyHist: oneObservation(e.upstreamLatencyMs),
      };
    case 'request.failed':
      return before?.status === 'completed' ? undefined : { ...key, failed: 1 };
    case 'request.cancelled':
      return before && isTerminalStatus(before.status) ? undefined : { ...key, cancelled: 1 };
    case 'usage.recorded':
      return {
        ...key,
        channel: billedChannel(e.channel, e.serviceTier),
        promptTokens: e.promptTokens,
        cachedTokens: e.cachedTokens,
        completionTokens: e.completionTokens,
        reasoningTokens: e.reasoningTokens,
        estimatedUsage: e.estimated ? 1 : 0,
        ...(Object.keys(e.units).length ? { units: e.units } : {}),
      };
    default: {
      const never: never = e;
      return never;
    }
  }
}

export const USAGE_HISTOGRAMS = [
  'queueWaitHist',
  'upstreamLatencyHist',
] as const satisfies readonly UsageHistogram[];

export const USAGE_COUNTERS = [
  'requests',
  'completed',
  'failed',
  'cancelled',
  'retries',
  'rateLimited',
  'promptTokens',
  'cachedTokens',
  'completionTokens',
  'reasoningTokens',
  'estimatedUsage',
  'queueWaitMsSum',
  'upstreamLatencyMsSum',
  'latencyCount',
  'cacheHits',
  'cacheMisses',
] as const satisfies ReadonlyArray<keyof UsageCounters>;
