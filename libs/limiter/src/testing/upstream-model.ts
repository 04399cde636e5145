/**
 * A model of an OpenAI-like upstream's rate limiting, with limits hidden from the limiter under
 * test. Pure: the clock is passed in. Two enforcement styles real providers use:
 * - `continuous`: buckets of one minute's capacity refilling continuously;
 * - `quantized`: one-second windows each allowing limit/60 (no carry-over), while the headers
 *   still describe the per-minute bucket — a client that trusts only the headers gets 429s.
 * It charges TPM by *its own* figure for each request (e.g. OpenAI's ceil(chars/4) + max_tokens),
 * which need not equal the client's estimate, and optionally refunds to actual usage.
 */
export type Enforcement = 'continuous' | 'quantized';

export interface UpstreamModelOptions {
  limits: { rpm: number; tpm: number };
  enforcement: Enforcement;
  /** Send `x-ratelimit-limit-*` (and remaining/reset) headers; some endpoints omit them. */
  announceLimits?: boolean;
  /** `estimate`: the admission charge is kept (OpenAI); `actual`: refunded to real usage on completion. */
  chargeBasis?: 'estimate' | 'actual';
}

export type UpstreamVerdict =
  | { ok: true; status: 200; charged: number; headers: Record<string, string> }
  | {
      ok: false;
      status: 429;
      reason: 'requests' | 'tokens' | 'too_large';
      retryAfterMs: number;
      headers: Record<string, string>;
      body: { error: { message: string; type: string; param: null; code: string } };
    };

const MINUTE = 60_000;

export interface UpstreamModel {
  /** A request reaching the upstream at `now` that it charges `charge` tokens. */
  admit(charge: number, now: number): UpstreamVerdict;
  /** The call finished; with `chargeBasis: 'actual'` the difference is refunded. */
  complete(charged: number, actualTokens: number, now: number): void;
  /** Every admitted request, for window checks. */
  readonly admitted: ReadonlyArray<{ at: number; tokens: number }>;
}

export function createUpstreamModel(o: UpstreamModelOptions): UpstreamModel {
  const { rpm, tpm } = o.limits;
  const requests = { level: rpm, at: Number.NEGATIVE_INFINITY };
  const tokens = { level: tpm, at: Number.NEGATIVE_INFINITY };
  let window = { second: Number.NaN, requests: 0, tokens: 0 };
  const admitted: Array<{ at: number; tokens: number }> = [];

  const refill = (b: { level: number; at: number }, capacity: number, now: number) => {
    if (now > b.at) {
      b.level =
        b.at === Number.NEGATIVE_INFINITY
          ? capacity
          : Math.min(capacity, b.level + ((now - b.at) * capacity) / MINUTE);
      b.at = now;
    }
  };

  function headers(): Record<string, string> {
    if (o.announceLimits === false) return {};
    return {
      'x-ratelimit-limit-requests': String(rpm),
      'x-ratelimit-limit-tokens': String(tpm),
      'x-ratelimit-remaining-requests': String(Math.max(0, Math.floor(requests.level))),
      'x-ratelimit-remaining-tokens': String(Math.max(0, Math.floor(tokens.level))),
      'x-ratelimit-reset-requests': formatGoDuration(((rpm - requests.level) * MINUTE) / rpm),
      'x-ratelimit-reset-tokens': formatGoDuration(((tpm - tokens.level) * MINUTE) / tpm),
    };
  }

  function deny(
    reason: 'requests' | 'tokens' | 'too_large',
    waitMs: number,
    charge: number,
  ): UpstreamVerdict {
    const retryAfterMs = Math.max(1, Math.ceil(waitMs));
    const h = headers();
    if (reason !== 'too_large') {
      h['retry-after-ms'] = String(retryAfterMs);
      h['retry-after'] = String(Math.ceil(retryAfterMs / 1000));
    }
    const dimension = reason === 'requests' ? 'requests per min (RPM)' : 'tokens per min (TPM)';
    const message =
      reason === 'too_large'
        ? `Request too large for model on tokens per min (TPM): Limit ${tpm}, Requested ${charge}.`
        : `Rate limit reached for model on ${dimension}: Limit ${reason === 'requests' ? rpm : tpm}. Please try again in ${formatGoDuration(retryAfterMs)}.`;
    return {
      ok: false,
      status: 429,
      reason,
      retryAfterMs,
      headers: h,
      body: {
        error: {
          message,
          type: reason === 'requests' ? 'requests' : 'tokens',
          param: null,
          code: 'rate_limit_exceeded',
        },
      },
    };
  }

  return {
    admitted,
    admit(charge, now) {
      refill(requests, rpm, now);
      refill(tokens, tpm, now);
      const second = Math.floor(now / 1000);
      if (window.second !== second) window = { second, requests: 0, tokens: 0 };
      if (charge > tpm) return deny('too_large', 0, charge);
      if (o.enforcement === 'continuous') {
        if (requests.level < 1) return deny('requests', ((1 - requests.level) * MINUTE) / rpm, charge);
        if (tokens.level < charge) return deny('tokens', ((charge - tokens.level) * MINUTE) / tpm, charge);
      } else {
        const toNextSecond = 1000 - (now % 1000);
        if (window.requests + 1 > rpm / 60) return deny('requests', toNextSecond, charge);
        // A request bigger than one second's share still fits an otherwise empty window.
        if (window.tokens > 0 && window.tokens + charge > tpm / 60)
          return deny('tokens', toNextSecond, charge);
      }
      requests.level -= 1;
      tokens.level -= charge;
      window.requests += 1;
      window.tokens += charge;
      admitted.push({ at: now, tokens: charge });
      return { ok: true, status: 200, charged: charge, headers: headers() };
    },
    complete(charged, actualTokens, now) {
      if (o.chargeBasis !== 'actual') return;
      refill(tokens, tpm, now);
      tokens.level = Math.min(tpm, tokens.level + charged - actualTokens);
    },
  };
}

/** Go-style duration as OpenAI writes it: `20ms`, `1s`, `1.5s`, `6m0s`, `1m30.5s`. */
export function formatGoDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const totalSeconds = ms / 1000;
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = Math.round((totalSeconds - minutes * 60) * 1000) / 1000;
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

/** A small seeded PRNG (mulberry32) for reproducible jitter in simulations and tests. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
