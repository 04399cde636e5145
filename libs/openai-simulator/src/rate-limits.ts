/**
 * The simulator's rate-limit engine: pure, clock passed in. Per (api key, model) it keeps RPM and
 * TPM (and optional RPD/TPD) budgets and enforces the per-minute ones in one of the families real
 * providers use (OpenAI documents only "quantized"; the mechanism differs by model and provider):
 * - `{ kind: 'bucket', capacityMs }`: a bucket refilling continuously at limit/minute that holds
 *   `capacityMs` worth of the limit (60 s = the classic minute bucket; 1 s = bursts of limit/60);
 * - `{ kind: 'windows', windowMs }`: fixed windows of `windowMs` each allowing limit × windowMs/60 s,
 *   no carry-over, while the headers still describe a per-minute bucket (so a client trusting only
 *   the headers gets 429s).
 * `continuous` and `quantized` are the historic names of a minute bucket and 1-second windows.
 * Headers can lag (`remaining` as it was `headerLagMs` ago) or be missing on some answers.
 * The limiter's own test model of an upstream keeps a separate copy of these types on purpose:
 * the limiter depends on no upstream, and two models written apart cannot hide each other's mistakes.
 */
export type Enforcement =
  | 'continuous'
  | 'quantized'
  | { kind: 'bucket'; capacityMs: number }
  | { kind: 'windows'; windowMs: number };

export type EnforcementFamily =
  | { kind: 'bucket'; capacityMs: number }
  | { kind: 'windows'; windowMs: number };

/** The family an enforcement names (`continuous` = a 60 s bucket, `quantized` = 1 s windows). */
export function enforcementFamily(e: Enforcement): EnforcementFamily {
  if (e === 'continuous') return { kind: 'bucket', capacityMs: MINUTE };
  if (e === 'quantized') return { kind: 'windows', windowMs: 1_000 };
  if (e.kind === 'bucket') {
    if (!(e.capacityMs > 0 && e.capacityMs <= MINUTE))
      throw new Error(`bucket capacityMs must be in (0, 60000], got ${e.capacityMs}`);
    return e;
  }
  if (e.kind === 'windows') {
    if (!(e.windowMs > 0 && e.windowMs <= MINUTE))
      throw new Error(`windows windowMs must be in (0, 60000], got ${e.windowMs}`);
    return e;
  }
  const never: never = e;
  throw new Error(`unknown enforcement ${JSON.stringify(never)}`);
}

/** `continuous`, `quantized`, `bucket:1000` (capacity in ms) or `windows:1000` (window in ms), as a CLI writes it. */
export function parseEnforcement(text: string): Enforcement {
  if (text === 'continuous' || text === 'quantized') return text;
  const m = /^(bucket|windows):(\d+(?:\.\d+)?)$/.exec(text.trim());
  if (!m)
    throw new Error(`enforcement must be continuous, quantized, bucket:<ms> or windows:<ms>, got "${text}"`);
  const ms = Number(m[2]);
  const e: Enforcement =
    m[1] === 'bucket' ? { kind: 'bucket', capacityMs: ms } : { kind: 'windows', windowMs: ms };
  enforcementFamily(e);
  return e;
}

/** A short label: `bucket 60s`, `bucket 1s`, `windows 1s`. */
export function enforcementLabel(e: Enforcement): string {
  const f = enforcementFamily(e);
  return f.kind === 'bucket' ? `bucket ${f.capacityMs / 1000}s` : `windows ${f.windowMs / 1000}s`;
}

export interface ModelLimits {
  rpm: number;
  tpm: number;
  /** Requests per day (a bucket refilling over 24 h). */
  rpd?: number;
  /** Tokens per day. */
  tpd?: number;
}

export type LimitVerdict =
  | { ok: true; headers: RateLimitHeaderValues | undefined }
  | {
      ok: false;
      reason: 'requests' | 'tokens' | 'too_large';
      /** Which limit refused: the per-minute one or a daily one. */
      period: 'minute' | 'day';
      limit: number;
      used: number;
      requested: number;
      retryAfterMs: number;
      headers: RateLimitHeaderValues | undefined;
    };

export interface RateLimitHeaderValues {
  limitRequests: number;
  limitTokens: number;
  remainingRequests: number;
  remainingTokens: number;
  resetRequestsMs: number;
  resetTokensMs: number;
}

export interface RateLimitEngineOptions {
  enforcement: Enforcement;
  /** `remaining`/`reset` describe the budget as it was this long ago (a lagging counter). */
  headerLagMs?: number;
  /** Probability that an answer carries no `x-ratelimit-*` headers at all. */
  headerDropRate?: number;
  /** Source of randomness for `headerDropRate` (seeded by the simulator). */
  random?: () => number;
  /**
   * What of the daily limits a key × model has already spent when it is first seen (the day's
   * earlier traffic): lets a minutes-long run reach a daily limit whose refill is still meaningful.
   */
  dailySpentAtStart?: { requests?: number; tokens?: number };
}

interface Bucket {
  level: number;
  at: number;
}

interface KeyState {
  requests: Bucket;
  tokens: Bucket;
  /** Per-minute view for the headers of window enforcement. */
  minuteRequests: Bucket;
  minuteTokens: Bucket;
  daily?: { requests: Bucket; tokens: Bucket };
  window: { index: number; requests: number; tokens: number };
  /** Recent header values, for lagging headers. */
  history: Array<{ at: number; headers: RateLimitHeaderValues }>;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

function refill(b: Bucket, capacity: number, period: number, now: number): void {
  if (now > b.at) {
    b.level = Math.min(capacity, b.level + ((now - b.at) * capacity) / period);
    b.at = now;
  } else if (b.level > capacity) b.level = capacity;
}

export function createRateLimitEngine(opts: RateLimitEngineOptions) {
  let family = enforcementFamily(opts.enforcement);
  let enforcement = opts.enforcement;
  const lag = opts.headerLagMs ?? 0;
  const dropRate = opts.headerDropRate ?? 0;
  const random = opts.random ?? Math.random;
  const spent = opts.dailySpentAtStart;
  const states = new Map<string, KeyState>();

  /** Capacity of the enforced per-minute budget: the bucket's, or the minute's for windows. */
  const capacity = (limit: number) =>
    family.kind === 'bucket' ? (limit * family.capacityMs) / MINUTE : limit;

  function state(key: string, limits: ModelLimits, now: number): KeyState {
    let s = states.get(key);
    if (!s) {
      s = {
        requests: { level: capacity(limits.rpm), at: now },
        tokens: { level: capacity(limits.tpm), at: now },
        minuteRequests: { level: limits.rpm, at: now },
        minuteTokens: { level: limits.tpm, at: now },
        window: { index: Number.NaN, requests: 0, tokens: 0 },
        history: [],
      };
      states.set(key, s);
    }
    // Refill at limit/minute whatever the capacity: the capacity bounds bursts, not the rate.
    refill(s.requests, capacity(limits.rpm), (MINUTE * capacity(limits.rpm)) / limits.rpm, now);
    refill(s.tokens, capacity(limits.tpm), (MINUTE * capacity(limits.tpm)) / limits.tpm, now);
    refill(s.minuteRequests, limits.rpm, MINUTE, now);
    refill(s.minuteTokens, limits.tpm, MINUTE, now);
    if (limits.rpd !== undefined || limits.tpd !== undefined) {
      s.daily ??= {
        requests: { level: (limits.rpd ?? Number.POSITIVE_INFINITY) - (spent?.requests ?? 0), at: now },
        tokens: { level: (limits.tpd ?? Number.POSITIVE_INFINITY) - (spent?.tokens ?? 0), at: now },
      };
      if (limits.rpd !== undefined) refill(s.daily.requests, limits.rpd, DAY, now);
      if (limits.tpd !== undefined) refill(s.daily.tokens, limits.tpd, DAY, now);
    }
    if (family.kind === 'windows') {
      const index = Math.floor(now / family.windowMs);
      if (s.window.index !== index) s.window = { index, requests: 0, tokens: 0 };
    }
    return s;
  }

  function currentHeaders(s: KeyState, limits: ModelLimits): RateLimitHeaderValues {
    // Buckets report themselves; windows report a per-minute bucket, as quantizing providers do.
    const [req, tok, capR, capT] =
      family.kind === 'bucket'
        ? [s.requests, s.tokens, capacity(limits.rpm), capacity(limits.tpm)]
        : [s.minuteRequests, s.minuteTokens, limits.rpm, limits.tpm];
    return {
      limitRequests: limits.rpm,
      limitTokens: limits.tpm,
      remainingRequests: Math.max(0, Math.floor(req.level)),
      remainingTokens: Math.max(0, Math.floor(tok.level)),
      resetRequestsMs: Math.ceil((Math.max(0, capR - req.level) * MINUTE) / limits.rpm),
      resetTokensMs: Math.ceil((Math.max(0, capT - tok.level) * MINUTE) / limits.tpm),
    };
  }

  function headers(s: KeyState, limits: ModelLimits, now: number): RateLimitHeaderValues | undefined {
    const current = currentHeaders(s, limits);
    let shown = current;
    if (lag > 0) {
      s.history.push({ at: now, headers: current });
      // The newest values at least `lag` old (the oldest kept while nothing is that old yet).
      while (s.history.length > 1 && s.history[1]!.at <= now - lag) s.history.shift();
      shown = s.history[0]!.headers;
    }
    if (dropRate > 0 && random() < dropRate) return undefined;
    return shown;
  }

  function deny(
    reason: 'requests' | 'tokens',
    period: 'minute' | 'day',
    limit: number,
    used: number,
    requested: number,
    waitMs: number,
    s: KeyState,
    limits: ModelLimits,
    now: number,
  ): LimitVerdict {
    return {
      ok: false,
      reason,
      period,
      limit,
      used: Math.round(used),
      requested,
      retryAfterMs: Math.max(1, Math.ceil(waitMs)),
      headers: headers(s, limits, now),
    };
  }

  return {
    setEnforcement(e: Enforcement) {
      family = enforcementFamily(e);
      enforcement = e;
      states.clear();
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
      if (tokens > limits.tpm || (limits.tpd !== undefined && tokens > limits.tpd)) {
        return {
          ok: false,
          reason: 'too_large',
          period: 'minute',
          limit: limits.tpm,
          used: 0,
          requested: tokens,
          retryAfterMs: 0,
          headers: headers(s, limits, now),
        };
      }
      if (s.daily) {
        const { requests, tokens: dayTokens } = s.daily;
        if (limits.rpd !== undefined && requests.level < 1)
          return deny(
            'requests',
            'day',
            limits.rpd,
            limits.rpd - requests.level,
            1,
            ((1 - requests.level) * DAY) / limits.rpd,
            s,
            limits,
            now,
          );
        if (limits.tpd !== undefined && dayTokens.level < tokens)
          return deny(
            'tokens',
            'day',
            limits.tpd,
            limits.tpd - dayTokens.level,
            tokens,
            ((tokens - dayTokens.level) * DAY) / limits.tpd,
            s,
            limits,
            now,
          );
      }
      if (family.kind === 'bucket') {
        const capR = capacity(limits.rpm);
        const capT = capacity(limits.tpm);
        // A request bigger than the bucket still goes when the bucket is full (it then goes negative).
        const needR = Math.min(1, capR);
        const needT = Math.min(tokens, capT);
        if (s.requests.level < needR) {
          const wait = ((needR - s.requests.level) * MINUTE) / limits.rpm;
          return deny('requests', 'minute', limits.rpm, capR - s.requests.level, 1, wait, s, limits, now);
        }
        if (s.tokens.level < needT) {
          const wait = ((needT - s.tokens.level) * MINUTE) / limits.tpm;
          return deny('tokens', 'minute', limits.tpm, capT - s.tokens.level, tokens, wait, s, limits, now);
        }
      } else {
        const share = family.windowMs / MINUTE;
        const toNext = family.windowMs - (now % family.windowMs);
        // A request bigger than one window's share still fits an otherwise empty window.
        if (s.window.requests > 0 && s.window.requests + 1 > limits.rpm * share)
          return deny('requests', 'minute', limits.rpm, s.window.requests / share, 1, toNext, s, limits, now);
        if (s.window.tokens > 0 && s.window.tokens + tokens > limits.tpm * share)
          return deny(
            'tokens',
            'minute',
            limits.tpm,
            s.window.tokens / share,
            tokens,
            toNext,
            s,
            limits,
            now,
          );
      }
      s.requests.level -= 1;
      s.tokens.level -= tokens;
      s.minuteRequests.level -= 1;
      s.minuteTokens.level -= tokens;
      s.window.requests += 1;
      s.window.tokens += tokens;
      if (s.daily) {
        s.daily.requests.level -= 1;
        s.daily.tokens.level -= tokens;
      }
      return { ok: true, headers: headers(s, limits, now) };
    },
    /** Spends part of the budget at once (a drained start: the quota already used by someone else). */
    drain(key: string, limits: ModelLimits, now: number, fraction = 1): void {
      const s = state(key, limits, now);
      s.requests.level -= capacity(limits.rpm) * fraction;
      s.tokens.level -= capacity(limits.tpm) * fraction;
      s.minuteRequests.level -= limits.rpm * fraction;
      s.minuteTokens.level -= limits.tpm * fraction;
    },
  };
}

export type RateLimitEngine = ReturnType<typeof createRateLimitEngine>;

/** The dimension a 429 message names, as OpenAI writes it. */
export function limitDimension(reason: 'requests' | 'tokens', period: 'minute' | 'day'): string {
  if (period === 'day') return reason === 'tokens' ? 'tokens per day (TPD)' : 'requests per day (RPD)';
  return reason === 'tokens' ? 'tokens per min (TPM)' : 'requests per min (RPM)';
}

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
