import type { RequestSubmitted, SluiceEvent } from '@sluice/events';
import { type Dispatch, type Limiter, parseRateLimitHeaders, type RateLimitHeaders } from '@sluice/limiter';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { Next } from './request-decider';

/** How one upstream attempt ended, with what the decider made of it. */
export type AttemptEnd =
  | { kind: 'answered'; status: number; headers: Headers; events: readonly SluiceEvent[] }
  | {
      kind: 'broken';
      status: number;
      headers: Headers;
      events: readonly SluiceEvent[];
      cause: string;
      message: string;
    }
  | {
      kind: 'failed';
      status: number | undefined;
      /** The upstream's error message (a 429's names the limit that refused: a daily one is learned). */
      message: string | undefined;
      /** Parsed once by the caller (the decider needs their retry-after too). */
      headers: RateLimitHeaders | undefined;
      /** Flex without capacity: says nothing about the limits. */
      flexUnavailable: boolean;
      events: readonly SluiceEvent[];
      next: Next;
    };

/**
 * What an attempt's end tells the rest of the system, apart from the decision: the limiter learns
 * the limits and the actual usage (or that no answer came), and the metrics and logs count it.
 * One call per attempt, so every outcome is fed back exactly once.
 */
export function reportAttempt(
  deps: { limiter: Limiter; metrics?: Metrics | undefined },
  d: Dispatch,
  s: RequestSubmitted,
  end: AttemptEnd,
  at: { dispatchedAt: number; now: number },
  log: Logger,
): void {
  const { limiter, metrics } = deps;
  const { now } = at;
  const labels = { pool: s.pool, model: s.model, tenant: s.tenantId };
  const usage = end.events.find((e) => e.type === 'usage.recorded');
  const headers = end.kind === 'failed' ? end.headers : parseRateLimitHeaders(end.headers, now);
  if (end.kind === 'failed' && (end.status === undefined || !headers || end.flexUnavailable))
    limiter.onNoResponse(d.reservation, now);
  else
    limiter.onResponse(
      d.reservation,
      {
        status: end.status ?? 0,
        headers: headers ?? {},
        ...(usage && end.kind !== 'failed' ? { actualTokens: usage.totalTokens } : {}),
        ...(end.kind === 'failed' && end.message ? { message: end.message } : {}),
      },
      now,
    );

  switch (end.kind) {
    case 'broken':
      metrics?.upstreamErrors.inc({ ...labels, kind: `stream_${end.cause}` });
      log.warn({ cause: end.cause, message: end.message }, 'stream broke after its first chunk');
      return;
    case 'answered':
      if (!usage) return;
      metrics?.completed.inc(labels);
      metrics?.tokens.inc({ ...labels, kind: 'prompt' }, usage.promptTokens);
      metrics?.tokens.inc({ ...labels, kind: 'cached' }, usage.cachedTokens);
      metrics?.tokens.inc({ ...labels, kind: 'completion' }, usage.completionTokens);
      metrics?.tokens.inc({ ...labels, kind: 'reasoning' }, usage.reasoningTokens);
      metrics?.upstreamLatencySeconds.observe(
        { pool: s.pool, model: s.model },
        (now - at.dispatchedAt) / 1000,
      );
      log.debug({ latencyMs: now - at.dispatchedAt }, 'completed');
      return;
    case 'failed': {
      const failure = end.events.find(
        (e) => e.type === 'request.failed' || e.type === 'request.retry_scheduled',
      );
      const kind = failure && 'reason' in failure ? failure.reason : 'connection';
      metrics?.upstreamErrors.inc({ ...labels, kind });
      if (end.status === 429 && !end.flexUnavailable) metrics?.upstream429.inc(labels);
      if (end.next.kind === 'retry')
        log.info(
          { kind, status: end.status, retryAt: end.next.notBefore },
          'upstream attempt failed; retry scheduled',
        );
      else {
        log.warn({ kind, status: end.status, upstreamMs: now - at.dispatchedAt }, 'request failed');
        metrics?.failed.inc({ ...labels, reason: kind });
      }
      return;
    }
    default: {
      const never: never = end;
      throw new Error(`unknown attempt end ${String(never)}`);
    }
  }
}
