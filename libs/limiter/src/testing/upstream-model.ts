/**
 * A model of an OpenAI-like upstream's rate limiting, with limits hidden from the limiter under
 * test. Pure: the clock is passed in. The per-minute limits are enforced in one of the families
 * real providers use (the same as the project's simulator):
 * - `{ kind: 'bucket', capacityMs }`: refills continuously at limit/minute and holds `capacityMs`
 *   worth of the limit (60 s = the minute bucket, 1 s = bursts of limit/60); headers describe it;
 * - `{ kind: 'windows', windowMs }`: fixed windows each allowing limit × windowMs/60 s (no
 *   carry-over) while the headers still describe the per-minute bucket — a client that trusts only
 *   the headers gets 429s.
 * `continuous` and `quantized` are the historic names of a minute bucket and 1 s windows.
 * It charges TPM by *its own* figure for each request (e.g. OpenAI's ceil(chars/4) + max_tokens),
 * which need not equal the client's estimate, and optionally refunds to actual usage.
 *
 * The simulator (`@sluice/openai-simulator`) names the same families with its own copy of these
 * types, on purpose: the limiter depends on no upstream, and the two models of an upstream are
 * written apart, so neither can hide the other's mistake.
 */
export type Enforcement =
  | 'continuous'
  | 'quantized'
  | { kind: 'bucket'; capacityMs: number }
  | { kind: 'windows'; windowMs: number };

export type EnforcementFamily =
  | { kind: 'bucket'; capacityMs: number }
  | { kind: 'windows'; windowMs: number };

const MINUTE = 60_000;
const DAY = 86_400_000;

export function enforcementFamily(e: Enforcement): EnforcementFamily {
  if (e === 'continuous') return { kind: 'bucket', capacityMs: MINUTE };
  if (e === 'quantized') return { kind: 'windows', windowMs: 1_000 };
  return e;
}

export interface UpstreamLimits {
  rpm: number;
  tpm: number;
  rpd?: number;
  tpd?: number;
}

export interface UpstreamModelOptions {
  limits: UpstreamLimits;
  enforcement: Enforcement;
  /** Send `x-ratelimit-limit-*` (and remaining/reset) headers; some endpoints omit them. */
  announceLimits?: boolean;
  /** `estimate`: the admission charge is kept (OpenAI); `actual`: refunded to real usage on completion. */
  chargeBasis?: 'estimate' | 'actual';
  /** `remaining`/`reset` as they were this long ago. */
  headerLagMs?: number;
  /** Probability that an answer carries no rate-limit headers (needs `random`). */
  headerDropRate?: number;
  random?: () => number;
  /** Limits replaced at these absolute times (a tier upgrade mid-run), in order. */
  limitChanges?: Array<{ at: number; limits: UpstreamLimits }>;
  /** The budget starts spent (someone used the minute's quota just before). */
  startDrained?: boolean;
}

export type UpstreamVerdict =
  | { ok: true; status: 200; charged: number; headers: Record<string, string> }
  | {
      ok: false;
      status: 429;
      reason: 'requests' | 'tokens' | 'too_large';
      period: 'minute' | 'day';
      retryAfterMs: number;
      headers: Record<string, string>;
      body: { error: { message: string; type: string; param: null; code: string } };
    };

export interface UpstreamModel {
  /**
   * A request for `model` reaching the upstream at `now` that it charges `charge` tokens. A 429
   * names the model called, even when its limit is shared with other models (as OpenAI's does).
   */
  admit(charge: number, now: number, model?: string): UpstreamVerdict;
  /** The call finished; with `chargeBasis: 'actual'` the difference is refunded. */
  complete(charged: number, actualTokens: number, now: number): void;
  /** Every admitted request, for window checks. */
  readonly admitted: ReadonlyArray<{ at: number; tokens: number }>;
  /** The limits in force at `now`. */
  limitsAt(now: number): UpstreamLimits;
}

interface Level {
  level: number;
  at: number;
}

export function createUpstreamModel(o: UpstreamModelOptions): UpstreamModel {
  const family = enforcementFamily(o.enforcement);
  let limits = o.limits;
  const changes = [...(o.limitChanges ?? [])];
  const capacity = (limit: number) =>
    family.kind === 'bucket' ? (limit * family.capacityMs) / MINUTE : limit;
  const fill = (limit: number) => (o.startDrained ? 0 : capacity(limit));
  // The enforced bucket (for windows: the per-minute one the headers describe).
  const requests: Level = { level: fill(limits.rpm), at: Number.NaN };
  const tokens: Level = { level: fill(limits.tpm), at: Number.NaN };
  const day = {
    requests: { level: limits.rpd ?? 0, at: Number.NaN },
    tokens: { level: limits.tpd ?? 0, at: Number.NaN },
  };
  let window = { index: Number.NaN, requests: 0, tokens: 0 };
  const admitted: Array<{ at: number; tokens: number }> = [];
  const history: Array<{ at: number; headers: Record<string, string> }> = [];

  const refill = (b: Level, cap: number, perMs: number, now: number) => {
    if (Number.isNaN(b.at)) b.at = now;
    if (now > b.at) {
      b.level = Math.min(cap, b.level + (now - b.at) * perMs);
      b.at = now;
    } else b.level = Math.min(cap, b.level);
  };
  const advance = (now: number) => {
    while (changes.length && changes[0]!.at <= now) limits = changes.shift()!.limits;
    refill(requests, capacity(limits.rpm), limits.rpm / MINUTE, now);
    refill(tokens, capacity(limits.tpm), limits.tpm / MINUTE, now);
    if (limits.rpd !== undefined) refill(day.requests, limits.rpd, limits.rpd / DAY, now);
    if (limits.tpd !== undefined) refill(day.tokens, limits.tpd, limits.tpd / DAY, now);
    if (family.kind === 'windows') {
      const index = Math.floor(now / family.windowMs);
      if (window.index !== index) window = { index, requests: 0, tokens: 0 };
    }
  };

  function headers(now: number): Record<string, string> {
    if (o.announceLimits === false) return {};
    const capR = capacity(limits.rpm);
    const capT = capacity(limits.tpm);
    let h: Record<string, string> = {
      'x-ratelimit-limit-requests': String(limits.rpm),
      'x-ratelimit-limit-tokens': String(limits.tpm),
      'x-ratelimit-remaining-requests': String(Math.max(0, Math.floor(requests.level))),
      'x-ratelimit-remaining-tokens': String(Math.max(0, Math.floor(tokens.level))),
      'x-ratelimit-reset-requests': formatGoDuration(
        (Math.max(0, capR - requests.level) * MINUTE) / limits.rpm,
      ),
      'x-ratelimit-reset-tokens': formatGoDuration((Math.max(0, capT - tokens.level) * MINUTE) / limits.tpm),
    };
    if (o.headerLagMs) {
      history.push({ at: now, headers: h });
      while (history.length > 1 && history[1]!.at <= now - o.headerLagMs) history.shift();
      h = { ...history[0]!.headers };
    }
    if (o.headerDropRate && (o.random ?? Math.random)() < o.headerDropRate) return {};
    return h;
  }

  function deny(
    reason: 'requests' | 'tokens' | 'too_large',
    period: 'minute' | 'day',
    waitMs: number,
    charge: number,
    now: number,
    model: string,
  ): UpstreamVerdict {
    const retryAfterMs = Math.max(1, Math.ceil(waitMs));
    const h = headers(now);
    if (reason !== 'too_large') {
      h['retry-after-ms'] = String(retryAfterMs);
      h['retry-after'] = String(Math.ceil(retryAfterMs / 1000));
    }
    const dimension =
      period === 'day'
        ? reason === 'requests'
          ? 'requests per day (RPD)'
          : 'tokens per day (TPD)'
        : reason === 'requests'
          ? 'requests per min (RPM)'
          : 'tokens per min (TPM)';
    const limit =
      period === 'day'
        ? reason === 'requests'
          ? limits.rpd
          : limits.tpd
        : reason === 'requests'
          ? limits.rpm
          : limits.tpm;
    const message =
      reason === 'too_large'
        ? `Request too large for ${model} on tokens per min (TPM): Limit ${limits.tpm}, Requested ${charge}.`
        : `Rate limit reached for ${model} in organization org-sim on ${dimension}: Limit ${limit}. Please try again in ${formatGoDuration(retryAfterMs)}.`;
    return {
      ok: false,
      status: 429,
      reason,
      period,
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
    limitsAt(now) {
      advance(now);
      return limits;
    },
    admit(charge, now, model = 'model') {
      advance(now);
      if (charge > limits.tpm) return deny('too_large', 'minute', 0, charge, now, model);
      if (limits.rpd !== undefined && day.requests.level < 1)
        return deny('requests', 'day', ((1 - day.requests.level) * DAY) / limits.rpd, charge, now, model);
      if (limits.tpd !== undefined && day.tokens.level < charge)
        return deny('tokens', 'day', ((charge - day.tokens.level) * DAY) / limits.tpd, charge, now, model);
      if (family.kind === 'bucket') {
        // A request bigger than the bucket goes when the bucket is full.
        const needR = Math.min(1, capacity(limits.rpm));
        const needT = Math.min(charge, capacity(limits.tpm));
        if (requests.level < needR)
          return deny(
            'requests',
            'minute',
            ((needR - requests.level) * MINUTE) / limits.rpm,
            charge,
            now,
            model,
          );
        if (tokens.level < needT)
          return deny('tokens', 'minute', ((needT - tokens.level) * MINUTE) / limits.tpm, charge, now, model);
      } else {
        const share = family.windowMs / MINUTE;
        const toNext = family.windowMs - (now % family.windowMs);
        // A request bigger than one window's share still fits an otherwise empty window.
        if (window.requests > 0 && window.requests + 1 > limits.rpm * share)
          return deny('requests', 'minute', toNext, charge, now, model);
        if (window.tokens > 0 && window.tokens + charge > limits.tpm * share)
          return deny('tokens', 'minute', toNext, charge, now, model);
      }
      requests.level -= 1;
      tokens.level -= charge;
      day.requests.level -= 1;
      day.tokens.level -= charge;
      window.requests += 1;
      window.tokens += charge;
      admitted.push({ at: now, tokens: charge });
      return { ok: true, status: 200, charged: charge, headers: headers(now) };
    },
    complete(charged, actualTokens, now) {
      if (o.chargeBasis !== 'actual') return;
      advance(now);
      tokens.level = Math.min(capacity(limits.tpm), tokens.level + charged - actualTokens);
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
