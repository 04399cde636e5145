/**
 * The simulator's rate-limit engine: pure, clock passed in. Per (api key, model) it keeps an RPM
 * and a TPM budget and enforces them one of two ways real providers do:
 * - `continuous`: token buckets of one minute's capacity refilling continuously;
 * - `quantized`: one-second windows each allowing limit/60 (no carry-over), while the headers
 *   still describe the per-minute bucket — so a client that trusts only the headers gets 429s.
 */
export type Enforcement = 'continuous' | 'quantized';

export interface ModelLimits {
  rpm: number;
  tpm: number;
}

export type LimitVerdict =
  | { ok: true; headers: RateLimitHeaderValues }
  | {
      ok: false;
      reason: 'requests' | 'tokens' | 'too_large';
      limit: number;
      used: number;
      requested: number;
      retryAfterMs: number;
      headers: RateLimitHeaderValues;
    };

export interface RateLimitHeaderValues {
  limitRequests: number;
  limitTokens: number;
  remainingRequests: number;
  remainingTokens: number;
  resetRequestsMs: number;
  resetTokensMs: number;
}

interface Bucket {
  level: number;
  at: number;
}

interface Window {
  second: number;
  requests: number;
  tokens: number;
}

interface KeyState {
  requests: Bucket;
  tokens: Bucket;
  window: Window;
}

const MINUTE = 60_000;

function refill(b: Bucket, capacity: number, now: number): void {
  if (now > b.at) {
    b.level = Math.min(capacity, b.level + ((now - b.at) * capacity) / MINUTE);
    b.at = now;
  }
}

export function createRateLimitEngine(opts: { enforcement: Enforcement }) {
  let enforcement = opts.enforcement;
  const states = new Map<string, KeyState>();

  function state(key: string, limits: ModelLimits, now: number): KeyState {
    let s = states.get(key);
    if (!s) {
      s = {
        requests: { level: limits.rpm, at: now },
        tokens: { level: limits.tpm, at: now },
        window: { second: Math.floor(now / 1000), requests: 0, tokens: 0 },
      };
      states.set(key, s);
    }
    refill(s.requests, limits.rpm, now);
    refill(s.tokens, limits.tpm, now);
    const second = Math.floor(now / 1000);
    if (s.window.second !== second) s.window = { second, requests: 0, tokens: 0 };
    return s;
  }

  function headers(s: KeyState, limits: ModelLimits): RateLimitHeaderValues {
    return {
      limitRequests: limits.rpm,
      limitTokens: limits.tpm,
      remainingRequests: Math.max(0, Math.floor(s.requests.level)),
      remainingTokens: Math.max(0, Math.floor(s.tokens.level)),
      resetRequestsMs: Math.ceil(((limits.rpm - s.requests.level) * MINUTE) / limits.rpm),
      resetTokensMs: Math.ceil(((limits.tpm - s.tokens.level) * MINUTE) / limits.tpm),
    };
  }

  return {
    setEnforcement(e: Enforcement) {
      enforcement = e;
    },
    get enforcement() {
      return enforcement;
    },
    reset() {
      states.clear();
    },
    /** Admits (and charges) one request of `tokens` against key × model, or says why not. */
    check(key: string, limits: ModelLimits, tokens: number, now: number): LimitVerdict {
      const s = state(key, limits, now);
      if (tokens > limits.tpm) {
        return {
          ok: false,
          reason: 'too_large',
          limit: limits.tpm,
          used: 0,
          requested: tokens,
          retryAfterMs: 0,
          headers: headers(s, limits),
        };
      }
      if (enforcement === 'continuous') {
        if (s.requests.level < 1) {
          const wait = ((1 - s.requests.level) * MINUTE) / limits.rpm;
          return deny('requests', limits.rpm, limits.rpm - s.requests.level, 1, wait, s, limits);
        }
        if (s.tokens.level < tokens) {
          const wait = ((tokens - s.tokens.level) * MINUTE) / limits.tpm;
          return deny('tokens', limits.tpm, limits.tpm - s.tokens.level, tokens, wait, s, limits);
        }
      } else {
        const capRequests = limits.rpm / 60;
        const capTokens = limits.tpm / 60;
        const toNextSecond = 1000 - (now % 1000);
        if (s.window.requests + 1 > capRequests) {
          return deny('requests', limits.rpm, s.window.requests * 60, 1, toNextSecond, s, limits);
        }
        // A request bigger than one second's share still fits an otherwise empty window.
        if (s.window.tokens > 0 && s.window.tokens + tokens > capTokens) {
          return deny('tokens', limits.tpm, s.window.tokens * 60, tokens, toNextSecond, s, limits);
        }
      }
      s.requests.level -= 1;
      s.tokens.level -= tokens;
      s.window.requests += 1;
      s.window.tokens += tokens;
      return { ok: true, headers: headers(s, limits) };
    },
  };

  function deny(
    reason: 'requests' | 'tokens',
    limit: number,
    used: number,
    requested: number,
    waitMs: number,
    s: KeyState,
    limits: ModelLimits,
  ): LimitVerdict {
    return {
      ok: false,
      reason,
      limit,
      used: Math.round(used),
      requested,
      retryAfterMs: Math.max(1, Math.ceil(waitMs)),
      headers: headers(s, limits),
    };
  }
}

export type RateLimitEngine = ReturnType<typeof createRateLimitEngine>;

/** Go-style duration as OpenAI writes it: `20ms`, `1s`, `1.5s`, `6m0s`, `1m30.5s`. */
export function formatGoDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const totalSeconds = ms / 1000;
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = Math.round((totalSeconds - minutes * 60) * 1000) / 1000;
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

/** What OpenAI charges against TPM at admission: ~chars/4 for the prompt plus the output allowance. */
export function chargedTokens(
  body: { messages?: unknown; max_tokens?: unknown; max_completion_tokens?: unknown; n?: unknown },
  defaultMaxTokens: number,
): number {
  const chars = JSON.stringify(body.messages ?? []).length;
  const max = Number(body.max_completion_tokens ?? body.max_tokens ?? defaultMaxTokens) || defaultMaxTokens;
  const n = Number(body.n ?? 1) || 1;
  return Math.ceil(chars / 4) + max * n;
}
