import { createRateLimitEngine, type Enforcement, formatGoDuration } from '@sluice/openai-simulator';
import { parseRateLimitHeaders } from '../headers';
import { MinHeap } from '../internal/min-heap';
import type { Limiter, QueuedRequest } from '../limiter';

export interface SimulationOptions {
  limiter: Limiter;
  /** The upstream's hidden limits (the limiter is not told). */
  limits: { rpm: number; tpm: number };
  enforcement: Enforcement;
  /** Requests arriving over time (absolute simulated ms). */
  arrivals: QueuedRequest[];
  /** Upstream latency per call. */
  latencyMs: number;
  /** Stop at this simulated time. */
  untilMs: number;
  /** What the upstream charges per request (defaults to the request's `tokens`). */
  charge?: (r: QueuedRequest) => number;
  startMs?: number;
}

export interface SimulationResult {
  attempts: number;
  completed: Array<{ request: QueuedRequest; dispatchedAt: number; attempts: number }>;
  rateLimited: number;
  /** ok answers per simulated second. */
  okPerSecond: number[];
  tokensPerSecond: number[];
  endedAt: number;
  /** Dispatch times (ms) of every attempt, for window checks. */
  dispatchTimes: number[];
}

/**
 * Drives a limiter against an upstream model in simulated time: a day runs in a second, and
 * the same inputs always give the same result.
 */
export function simulate(o: SimulationOptions): SimulationResult {
  const engine = createRateLimitEngine({ enforcement: o.enforcement });
  const start = o.startMs ?? 0;
  const arrivals = [...o.arrivals].sort((a, b) => a.enqueuedAt - b.enqueuedAt);
  type Pending = { at: number; run: () => void };
  const responses = new MinHeap<Pending>((p) => p.at);
  const result: SimulationResult = {
    attempts: 0,
    completed: [],
    rateLimited: 0,
    okPerSecond: [],
    tokensPerSecond: [],
    endedAt: start,
    dispatchTimes: [],
  };
  const attemptsById = new Map<string, number>();
  let next = 0;
  let now = start;
  const bump = (arr: number[], t: number, by: number) => {
    const s = Math.floor((t - start) / 1000);
    arr[s] = (arr[s] ?? 0) + by;
  };

  while (now <= o.untilMs) {
    while (next < arrivals.length && arrivals[next]!.enqueuedAt <= now)
      o.limiter.enqueue(arrivals[next++]!, now);
    while (responses.size && responses.peek()!.at <= now) responses.pop()!.run();
    for (const d of o.limiter.poll(now)) {
      const r = d.request;
      result.attempts++;
      result.dispatchTimes.push(now);
      attemptsById.set(r.id, (attemptsById.get(r.id) ?? 0) + 1);
      const cost = o.charge ? o.charge(r) : r.tokens;
      const verdict = engine.check('key', o.limits, cost, now);
      const h = verdict.headers;
      const headers: Record<string, string> = {
        'x-ratelimit-limit-requests': String(h.limitRequests),
        'x-ratelimit-limit-tokens': String(h.limitTokens),
        'x-ratelimit-remaining-requests': String(h.remainingRequests),
        'x-ratelimit-remaining-tokens': String(h.remainingTokens),
        'x-ratelimit-reset-requests': formatGoDuration(h.resetRequestsMs),
        'x-ratelimit-reset-tokens': formatGoDuration(h.resetTokensMs),
      };
      const dispatchedAt = now;
      if (verdict.ok) {
        bump(result.okPerSecond, now, 1);
        bump(result.tokensPerSecond, now, cost);
        responses.push({
          at: now + o.latencyMs,
          run: () => {
            const t = dispatchedAt + o.latencyMs;
            o.limiter.onResponse(
              d.reservation,
              { status: 200, headers: parseRateLimitHeaders(headers, t) },
              t,
            );
            result.completed.push({ request: r, dispatchedAt, attempts: attemptsById.get(r.id) ?? 1 });
          },
        });
      } else {
        result.rateLimited++;
        headers['retry-after-ms'] = String(verdict.retryAfterMs);
        responses.push({
          at: now + 1,
          run: () => {
            const t = dispatchedAt + 1;
            o.limiter.onResponse(
              d.reservation,
              { status: 429, headers: parseRateLimitHeaders(headers, t) },
              t,
            );
            o.limiter.enqueue({ ...r, notBefore: t + verdict.retryAfterMs }, t);
          },
        });
      }
    }
    const candidates = [o.limiter.nextWakeAt(now), responses.peek()?.at, arrivals[next]?.enqueuedAt].filter(
      (t): t is number => t !== undefined,
    );
    if (candidates.length === 0) break;
    now = Math.max(now + 1, Math.min(...candidates));
    result.endedAt = now;
  }
  return result;
}

/** `n` requests of one tenant and class, all arriving at `at`. */
export function backlog(
  n: number,
  opts: {
    tenantId?: string;
    priority?: QueuedRequest['priority'];
    tokens?: number;
    at?: number;
    prefix?: string;
    model?: string;
  } = {},
): QueuedRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${opts.prefix ?? opts.tenantId ?? 't'}-${i}`,
    tenantId: opts.tenantId ?? 't',
    pool: 'p',
    model: opts.model ?? 'gpt-4o-mini',
    priority: opts.priority ?? 'standard',
    tokens: opts.tokens ?? 100,
    enqueuedAt: opts.at ?? 0,
  }));
}
