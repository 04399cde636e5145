import { MinHeap } from '../internal/min-heap';
import type { QueuedRequest } from '../limiter';
import { createUpstreamModel, type Enforcement, seededRandom, type UpstreamLimits } from './upstream-model';

export interface SdkClientsOptions {
  limits: UpstreamLimits;
  enforcement: Enforcement;
  /** Each worker sends its next request when the last one ended (the SDK called in a loop). */
  workers: number;
  requests: QueuedRequest[];
  latencyMs: number;
  latencyJitterMs?: number;
  admitJitterMs?: number;
  /** openai-node's default is 2. */
  maxRetries?: number;
  startDrained?: boolean;
  charge?: (r: QueuedRequest) => number;
  untilMs: number;
  seed?: number;
}

export interface SdkClientsResult {
  attempts: number;
  rateLimited: number;
  completed: number;
  /** Requests given up after `maxRetries` retries. */
  failed: number;
  tokensPerSecond: number[];
}

/**
 * What applications do without Sluice: `workers` loops calling the `openai` SDK directly against
 * the same upstream model. A 429 is retried after `retry-after-ms` (else the SDK's backoff:
 * min(0.5 · 2^n, 8) s less up to 25% jitter), at most `maxRetries` times, then the request fails.
 * The yardstick the limiter's simulations report beside their own figures.
 */
export function simulateSdkClients(o: SdkClientsOptions): SdkClientsResult {
  const random = seededRandom(o.seed ?? 1);
  const upstream = createUpstreamModel({
    limits: o.limits,
    enforcement: o.enforcement,
    ...(o.startDrained ? { startDrained: true } : {}),
  });
  const maxRetries = o.maxRetries ?? 2;
  const result: SdkClientsResult = {
    attempts: 0,
    rateLimited: 0,
    completed: 0,
    failed: 0,
    tokensPerSecond: [],
  };
  const events = new MinHeap<{ at: number; seq: number; run: (now: number) => void }>(
    (e) => e.at + e.seq * 1e-9,
  );
  let seq = 0;
  let next = 0;
  const at = (t: number, run: (now: number) => void) => events.push({ at: t, seq: seq++, run });
  const send = (r: QueuedRequest, retry: number, now: number) => {
    const arrive = now + (o.admitJitterMs ? Math.floor(random() * o.admitJitterMs) : 0);
    at(arrive, (t) => {
      result.attempts++;
      const cost = o.charge ? o.charge(r) : r.tokens;
      const verdict = upstream.admit(cost, t);
      if (verdict.ok) {
        const s = Math.floor(t / 1000);
        result.tokensPerSecond[s] = (result.tokensPerSecond[s] ?? 0) + cost;
        const latency = o.latencyMs + Math.floor(random() * (o.latencyJitterMs ?? 0));
        at(t + latency, (done) => {
          result.completed++;
          startNext(done);
        });
        return;
      }
      result.rateLimited++;
      if (retry >= maxRetries) {
        result.failed++;
        at(t + 1, startNext);
        return;
      }
      const backoff = Math.min(500 * 2 ** retry, 8_000) * (1 - 0.25 * random());
      const wait = verdict.reason === 'too_large' ? backoff : verdict.retryAfterMs;
      at(t + 1 + wait, (again) => send(r, retry + 1, again));
    });
  };
  const startNext = (now: number) => {
    const r = o.requests[next++];
    if (r) send(r, 0, Math.max(now, r.enqueuedAt));
  };
  for (let w = 0; w < o.workers; w++) startNext(0);
  while (events.size && events.peek()!.at <= o.untilMs) {
    const e = events.pop()!;
    e.run(e.at);
  }
  return result;
}
