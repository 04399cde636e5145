import { parseRateLimitHeaders } from '../headers';
import { MinHeap } from '../internal/min-heap';
import type { Limiter, QueuedRequest } from '../limiter';
import {
  createUpstreamModel,
  type Enforcement,
  seededRandom,
  type UpstreamLimits,
  type UpstreamModel,
  type UpstreamModelOptions,
} from './upstream-model';

export interface SimulationOptions {
  limiter: Limiter;
  /** The upstream's hidden limits (the limiter is not told): each model has its own. */
  limits: UpstreamLimits;
  /**
   * Models drawing on one upstream limit (OpenAI: "some model families share one limit"): each
   * list shares one set of `limits`; a model in no list has its own.
   */
  sharedLimits?: string[][];
  enforcement: Enforcement;
  /** Time from dispatch to the upstream's admission, uniform in [0, admitJitterMs) (network jitter). */
  admitJitterMs?: number;
  headerLagMs?: number;
  headerDropRate?: number;
  limitChanges?: UpstreamModelOptions['limitChanges'];
  /** The upstream's budget starts spent (as the benchmark's drained start). */
  startDrained?: boolean;
  /** A limiter wake-up fires up to this much late, uniformly (a busy event loop). */
  timerLateMs?: number;
  /** Requests arriving over time (absolute simulated ms). */
  arrivals: QueuedRequest[];
  /** Upstream latency per call. */
  latencyMs: number;
  /** Extra latency drawn uniformly from [0, latencyJitterMs) with a seeded PRNG. */
  latencyJitterMs?: number;
  seed?: number;
  /** Stop at this simulated time. */
  untilMs: number;
  /** What the upstream charges per request by its own estimate (defaults to the request's `tokens`). */
  charge?: (r: QueuedRequest) => number;
  /** Real usage reported in the response (defaults to the charge). */
  actual?: (r: QueuedRequest) => number;
  chargeBasis?: 'estimate' | 'actual';
  announceLimits?: boolean;
  startMs?: number;
}

export interface SimulationResult {
  attempts: number;
  completed: Array<{ request: QueuedRequest; dispatchedAt: number; attempts: number }>;
  rateLimited: number;
  /** ok answers per simulated second. */
  okPerSecond: number[];
  /** Tokens the upstream charged per simulated second. */
  tokensPerSecond: number[];
  /** The same, per model. */
  tokensPerSecondByModel: Record<string, number[]>;
  endedAt: number;
  /** Dispatch times (ms) of every attempt, for window checks. */
  dispatchTimes: number[];
  /** Time of every 429. */
  rateLimitedAt: number[];
  /** poll() calls made. */
  polls: number;
}

/**
 * Drives a limiter against an upstream model in simulated time: a day runs in a second, and
 * the same inputs always give the same result.
 */
export function simulate(o: SimulationOptions): SimulationResult {
  const random = seededRandom(o.seed ?? 1);
  const headerRandom = seededRandom((o.seed ?? 1) + 7);
  const lateness = seededRandom((o.seed ?? 1) + 13);
  const options: UpstreamModelOptions = {
    limits: o.limits,
    enforcement: o.enforcement,
    ...(o.chargeBasis ? { chargeBasis: o.chargeBasis } : {}),
    ...(o.announceLimits === false ? { announceLimits: false } : {}),
    ...(o.headerLagMs ? { headerLagMs: o.headerLagMs } : {}),
    ...(o.headerDropRate ? { headerDropRate: o.headerDropRate, random: headerRandom } : {}),
    ...(o.limitChanges ? { limitChanges: o.limitChanges } : {}),
    ...(o.startDrained ? { startDrained: true } : {}),
  };
  // One upstream limit per model, or per list of models that share one.
  const upstreams = new Map<string, UpstreamModel>();
  const upstreamFor = (model: string): UpstreamModel => {
    const shared = o.sharedLimits?.findIndex((models) => models.includes(model)) ?? -1;
    const key = shared >= 0 ? `shared ${shared}` : `model ${model}`;
    let u = upstreams.get(key);
    if (!u) {
      u = createUpstreamModel(options);
      upstreams.set(key, u);
    }
    return u;
  };
  const start = o.startMs ?? 0;
  const arrivals = [...o.arrivals].sort((a, b) => a.enqueuedAt - b.enqueuedAt);
  type Pending = { at: number; seq: number; run: () => void };
  let seq = 0;
  const responses = new MinHeap<Pending>((p) => p.at + p.seq * 1e-9);
  const result: SimulationResult = {
    attempts: 0,
    completed: [],
    rateLimited: 0,
    okPerSecond: [],
    tokensPerSecond: [],
    tokensPerSecondByModel: {},
    endedAt: start,
    dispatchTimes: [],
    rateLimitedAt: [],
    polls: 0,
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
    result.polls++;
    for (const d of o.limiter.poll(now)) {
      const r = d.request;
      result.attempts++;
      result.dispatchTimes.push(now);
      attemptsById.set(r.id, (attemptsById.get(r.id) ?? 0) + 1);
      const dispatchedAt = now;
      const arrive = () => {
        const at = dispatchedAt + transit;
        const cost = o.charge ? o.charge(r) : r.tokens;
        const upstream = upstreamFor(r.model);
        const verdict = upstream.admit(cost, at, r.model);
        const latency = o.latencyMs + Math.floor(random() * (o.latencyJitterMs ?? 0));
        if (verdict.ok) {
          bump(result.okPerSecond, at, 1);
          bump(result.tokensPerSecond, at, cost);
          result.tokensPerSecondByModel[r.model] ??= [];
          bump(result.tokensPerSecondByModel[r.model]!, at, cost);
          const actualTokens = o.actual ? o.actual(r) : cost;
          responses.push({
            at: at + latency,
            seq: seq++,
            run: () => {
              const t = at + latency;
              upstream.complete(cost, actualTokens, t);
              o.limiter.onResponse(
                d.reservation,
                { status: 200, headers: parseRateLimitHeaders(verdict.headers, t), actualTokens },
                t,
              );
              result.completed.push({ request: r, dispatchedAt, attempts: attemptsById.get(r.id) ?? 1 });
            },
          });
        } else {
          result.rateLimited++;
          result.rateLimitedAt.push(at);
          responses.push({
            at: at + 1,
            seq: seq++,
            run: () => {
              const t = at + 1;
              const headers = parseRateLimitHeaders(verdict.headers, t);
              o.limiter.onResponse(
                d.reservation,
                { status: 429, headers, message: verdict.body.error.message },
                t,
              );
              o.limiter.enqueue({ ...r, notBefore: t + (headers.retryAfterMs ?? 1_000) }, t);
            },
          });
        }
      };
      const transit = o.admitJitterMs ? Math.floor(random() * o.admitJitterMs) : 0;
      if (transit === 0) arrive();
      else responses.push({ at: now + transit, seq: seq++, run: arrive });
    }
    const wake = o.limiter.nextWakeAt(now);
    const late = o.timerLateMs ? Math.floor(lateness() * o.timerLateMs) : 0;
    const candidates = [
      wake === undefined ? undefined : wake + late,
      responses.peek()?.at,
      arrivals[next]?.enqueuedAt,
    ].filter((t): t is number => t !== undefined);
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
    pool?: string;
  } = {},
): QueuedRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${opts.prefix ?? opts.tenantId ?? 't'}-${i}`,
    tenantId: opts.tenantId ?? 't',
    pool: opts.pool ?? 'p',
    model: opts.model ?? 'gpt-4o-mini',
    priority: opts.priority ?? 'standard',
    tokens: opts.tokens ?? 100,
    enqueuedAt: opts.at ?? 0,
  }));
}
