import type { SluiceEvent, SluiceEventType } from '@sluice/events';
import { costMicros, formatUsd } from '../billing/cost';
import { billedChannel, type Channel, type PriceTable, priceAt } from '../billing/prices';
import { hourOf } from '../store/projections';

/** A fact worth showing about an event: scalars only (bodies are a separate, deliberate read). */
export type TimelineFact = string | number | boolean | null;

export interface TimelineEntry {
  at: string;
  type: SluiceEventType;
  attempt: number;
  /** Since the submission, and since the entry before it. */
  offsetMs: number;
  gapMs: number;
  facts: Record<string, TimelineFact>;
}

/** One upstream attempt: when it left the queue, how long it waited and took, and how it ended. */
export interface TimelineAttempt {
  attempt: number;
  dispatchedAt: string | null;
  queueWaitMs: number | null;
  endedAt: string | null;
  upstreamLatencyMs: number | null;
  outcome: 'completed' | 'retry' | 'failed' | 'cancelled' | 'in flight';
  reason: string | null;
  status: number | null;
  message: string | null;
  /** For a retry: how long the backoff waited before the next attempt. */
  delayMs: number | null;
}

export interface TimelineUsage {
  attempt: number;
  /** The channel that billed it: a synchronous answer's tier as the upstream reported it (`flex`, `priority`). */
  channel: Channel;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  totalTokens: number;
  estimated: boolean;
  /** Priced with the version of the price table in force in the hour it was used; null = model not priced. */
  costMicros: number | null;
  costUsd: string | null;
}

export interface RequestTimeline {
  entries: TimelineEntry[];
  attempts: TimelineAttempt[];
  /** Submission to the first dispatch, and the answering attempt's upstream time. */
  queueWaitMs: number | null;
  upstreamLatencyMs: number | null;
  /** Submission to the terminal event (null while it is open). */
  totalMs: number | null;
  cancellation: { at: string; by: string; reason: string } | null;
  usage: TimelineUsage[];
  costMicros: number;
  costUsd: string;
  /** False when some usage was of a model the price table does not know. */
  fullyPriced: boolean;
}

/**
 * A request's story from its events (pure): each event with its offset from the submission, the
 * attempts with their queue wait, upstream latency and why each retry happened, the cancellation,
 * and the usage priced with the billing price table.
 */
export function buildTimeline(events: readonly SluiceEvent[], prices: PriceTable): RequestTimeline {
  const sorted = [...events].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
  const submitted = sorted.find((e) => e.type === 'request.submitted');
  const origin = Date.parse((submitted ?? sorted[0])?.occurredAt ?? new Date(0).toISOString());
  const attempts = new Map<number, TimelineAttempt>();
  const attemptOf = (n: number): TimelineAttempt => {
    let a = attempts.get(n);
    if (!a) {
      a = {
        attempt: n,
        dispatchedAt: null,
        queueWaitMs: null,
        endedAt: null,
        upstreamLatencyMs: null,
        outcome: 'in flight',
        reason: null,
        status: null,
        message: null,
        delayMs: null,
      };
      attempts.set(n, a);
    }
    return a;
  };
  const entries: TimelineEntry[] = [];
  const usage: TimelineUsage[] = [];
  let cancellation: RequestTimeline['cancellation'] = null;
  let terminalAt: number | null = null;
  let answering: TimelineAttempt | undefined;
  let previous = origin;

  for (const e of sorted) {
    const at = Date.parse(e.occurredAt);
    const entry = (facts: Record<string, TimelineFact>) => {
      entries.push({
        at: e.occurredAt,
        type: e.type,
        attempt: e.attempt,
        offsetMs: Math.max(0, at - origin),
        gapMs: Math.max(0, at - previous),
        facts,
      });
      previous = at;
    };
    switch (e.type) {
      case 'request.submitted':
        entry({
          priority: e.priority,
          model: e.model,
          pool: e.pool,
          source: e.source,
          stream: e.stream,
          route: e.route,
          estimatedPromptTokens: e.estimate.promptTokens,
          maxOutputTokens: e.estimate.maxOutputTokens,
          idempotencyKey: e.idempotencyKey,
          deadline: e.deadline,
          cache: e.cache ? e.cache.mode : null,
        });
        break;
      case 'request.dispatched': {
        const a = attemptOf(e.attempt);
        a.dispatchedAt = e.occurredAt;
        a.queueWaitMs = e.queueWaitMs;
        entry({
          dispatcher: e.dispatcherId,
          queueWaitMs: e.queueWaitMs,
          reservedTokens: e.reservedTokens,
          batch: e.batch?.localId ?? null,
        });
        break;
      }
      case 'request.retry_scheduled': {
        const a = attemptOf(e.attempt);
        Object.assign(a, {
          endedAt: e.occurredAt,
          outcome: 'retry',
          reason: e.reason,
          status: e.status,
          message: e.message,
          delayMs: e.delayMs,
          upstreamLatencyMs: a.dispatchedAt ? Math.max(0, at - Date.parse(a.dispatchedAt)) : null,
        } satisfies Partial<TimelineAttempt>);
        entry({
          reason: e.reason,
          status: e.status,
          message: e.message,
          delayMs: e.delayMs,
          retryAt: e.retryAt,
        });
        break;
      }
      case 'request.completed': {
        const a = attemptOf(e.attempt);
        Object.assign(a, {
          endedAt: e.occurredAt,
          outcome: 'completed',
          upstreamLatencyMs: e.upstreamLatencyMs,
          queueWaitMs: a.queueWaitMs ?? e.queueWaitMs,
        } satisfies Partial<TimelineAttempt>);
        answering = a;
        terminalAt = at;
        entry({
          upstreamLatencyMs: e.upstreamLatencyMs,
          queueWaitMs: e.queueWaitMs,
          upstreamRequestId: e.upstreamRequestId,
          cacheHit: e.cache ? e.cache.hit : null,
          cacheSource: e.cache?.sourceRequestId ?? null,
        });
        break;
      }
      case 'request.failed': {
        const a = attemptOf(e.attempt);
        Object.assign(a, {
          endedAt: e.occurredAt,
          outcome: 'failed',
          reason: e.reason,
          status: e.status,
          message: e.message,
          upstreamLatencyMs: a.dispatchedAt ? Math.max(0, at - Date.parse(a.dispatchedAt)) : null,
        } satisfies Partial<TimelineAttempt>);
        terminalAt ??= at;
        entry({ reason: e.reason, status: e.status, message: e.message, deadLettered: e.deadLettered });
        break;
      }
      case 'request.cancelled':
        cancellation = { at: e.occurredAt, by: e.cancelledBy, reason: e.reason };
        if (e.attempt > 0 && attempts.has(e.attempt)) attemptOf(e.attempt).outcome = 'cancelled';
        terminalAt ??= at;
        entry({ by: e.cancelledBy, reason: e.reason });
        break;
      case 'usage.recorded': {
        const channel = billedChannel(e.channel, e.serviceTier);
        const price = priceAt(prices, e.model, hourOf(e.occurredAt), channel);
        const cost = price ? costMicros(e, price) : null;
        usage.push({
          attempt: e.attempt,
          channel,
          promptTokens: e.promptTokens,
          cachedTokens: e.cachedTokens,
          completionTokens: e.completionTokens,
          reasoningTokens: e.reasoningTokens,
          totalTokens: e.totalTokens,
          estimated: e.estimated,
          costMicros: cost,
          costUsd: cost === null ? null : formatUsd(cost),
        });
        entry({
          channel: e.channel,
          promptTokens: e.promptTokens,
          cachedTokens: e.cachedTokens,
          completionTokens: e.completionTokens,
          reasoningTokens: e.reasoningTokens,
          estimated: e.estimated,
          costUsd: cost === null ? 'not priced' : formatUsd(cost),
        });
        break;
      }
      default: {
        const never: never = e;
        return never;
      }
    }
  }

  const ordered = [...attempts.values()].sort((a, b) => a.attempt - b.attempt);
  const firstDispatch = ordered.find((a) => a.dispatchedAt !== null);
  const total = usage.reduce((n, u) => n + (u.costMicros ?? 0), 0);
  return {
    entries,
    attempts: ordered,
    queueWaitMs: firstDispatch?.queueWaitMs ?? answering?.queueWaitMs ?? null,
    upstreamLatencyMs: answering?.upstreamLatencyMs ?? null,
    totalMs: terminalAt === null ? null : Math.max(0, terminalAt - origin),
    cancellation,
    usage,
    costMicros: total,
    costUsd: formatUsd(total),
    fullyPriced: usage.every((u) => u.costMicros !== null),
  };
}
