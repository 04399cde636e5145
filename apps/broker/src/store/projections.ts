import type { SluiceEvent } from '@sluice/events';
import type { RequestRow, UsageRollupRow } from '../db/schema';

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
    source: 'trpc',
    stream: false,
    errorReason: null,
    errorMessage: null,
    errorStatus: null,
    deadLettered: false,
    response: null,
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
      return s;
    case 'request.failed':
      if (s.status === 'completed') return s;
      s.status = 'failed';
      s.completedAt = at;
      s.errorReason = e.reason;
      s.errorMessage = e.message;
      s.errorStatus = e.status;
      s.deadLettered = e.deadLettered;
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

export type UsageCounters = Omit<UsageRollupRow, 'tenantId' | 'bucketStart' | 'model'>;
export type UsageDelta = { tenantId: string; bucketStart: Date; model: string } & Partial<UsageCounters>;

export function hourOf(iso: string): Date {
  const d = new Date(iso);
  d.setUTCMinutes(0, 0, 0);
  return d;
}

/** What one event adds to the usage rollup, given the request's state before it. */
export function usageDelta(e: SluiceEvent, before: RequestState | undefined): UsageDelta | undefined {
  const key = { tenantId: e.tenantId, bucketStart: hourOf(e.occurredAt), model: e.model };
  switch (e.type) {
    case 'request.submitted':
      return { ...key, requests: 1 };
    case 'request.dispatched':
      return undefined;
    case 'request.retry_scheduled':
      return { ...key, retries: 1, rateLimited: e.reason === 'rate_limited' ? 1 : 0 };
    case 'request.completed':
      return {
        ...key,
        completed: 1,
        // Counted once per request: a completion after a cancellation moves it from cancelled.
        cancelled: before?.status === 'cancelled' ? -1 : 0,
        queueWaitMsSum: e.queueWaitMs,
        upstreamLatencyMsSum: e.upstreamLatencyMs,
        latencyCount: 1,
      };
    case 'request.failed':
      return before?.status === 'completed' ? undefined : { ...key, failed: 1 };
    case 'request.cancelled':
      return before && isTerminalStatus(before.status) ? undefined : { ...key, cancelled: 1 };
    case 'usage.recorded':
      return {
        ...key,
        promptTokens: e.promptTokens,
        cachedTokens: e.cachedTokens,
        completionTokens: e.completionTokens,
        reasoningTokens: e.reasoningTokens,
        estimatedUsage: e.estimated ? 1 : 0,
      };
    default: {
      const never: never = e;
      return never;
    }
  }
}

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
] as const satisfies ReadonlyArray<keyof UsageCounters>;
