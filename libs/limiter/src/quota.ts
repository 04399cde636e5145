import { LIMITER_DEFAULTS } from './defaults';
import type { RateLimitHeaders } from './headers';

export interface QuotaLimits {
  rpm?: number;
  tpm?: number;
  rpd?: number;
  tpd?: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/** A continuously refilling budget of `capacity` per `period`. */
class Bucket {
  level: number;
  constructor(
    public capacity: number,
    readonly period: number,
    private at: number,
    level = capacity,
  ) {
    this.level = level;
  }
  refill(now: number): void {
    if (now > this.at) {
      this.level = Math.min(this.capacity, this.level + ((now - this.at) * this.capacity) / this.period);
      this.at = now;
    }
  }
  /** ms until `amount` is available (0 = now). */
  waitFor(amount: number, now: number): number {
    this.refill(now);
    const need = Math.min(amount, this.capacity) - this.level;
    return need <= 0 ? 0 : Math.ceil((need * this.period) / this.capacity);
  }
  resize(capacity: number): void {
    this.capacity = capacity;
    this.level = Math.min(this.level, capacity);
  }
}

/**
 * The quota of one (pool, model): what the upstream allows, learned from its headers, and what
 * is left. Two constraints are kept together, so both kinds of enforcement are honoured:
 * per-minute buckets refilling continuously, and per-second windows of limit/60 (providers that
 * quantize their limits per second reject bursts that a per-minute bucket would allow).
 */
export class PoolModelQuota {
  private rpm: Bucket;
  private tpm: Bucket;
  private rpd?: Bucket;
  private tpd?: Bucket;
  private window = { second: -1, requests: 0, tokens: 0, carryTokens: 0 };
  /** GCRA: the earliest time the next dispatch keeps an even pace (so a new arrival waits one interval, not a burst). */
  private nextEvenAt = 0;
  /** After a 429 that only per-second windows explain, windows get no carry-over. */
  strictWindows = false;
  learned: boolean;
  probesInFlight = 0;
  pausedUntil = 0;
  consecutive429 = 0;
  limits: Required<Pick<QuotaLimits, 'rpm' | 'tpm'>> & QuotaLimits;

  constructor(
    private readonly ceiling: QuotaLimits | undefined,
    private readonly margin: number,
    initial: Required<Pick<QuotaLimits, 'rpm' | 'tpm'>>,
    now: number,
  ) {
    // Configured limits are trusted from the start; unknown limits begin with a single probe.
    this.learned = ceiling?.rpm !== undefined && ceiling?.tpm !== undefined;
    this.limits = { rpm: ceiling?.rpm ?? initial.rpm, tpm: ceiling?.tpm ?? initial.tpm };
    this.rpm = new Bucket(this.limits.rpm, MINUTE, now);
    this.tpm = new Bucket(this.effectiveTokens(this.limits.tpm), MINUTE, now);
    if (ceiling?.rpd) this.rpd = new Bucket(ceiling.rpd, DAY, now);
    if (ceiling?.tpd) this.tpd = new Bucket(ceiling.tpd, DAY, now);
  }

  private effectiveTokens(limit: number): number {
    return Math.max(1, Math.floor(limit * (1 - this.margin)));
  }

  /** Largest single request that can ever fit, if known. */
  maxTokens(): number | undefined {
    return this.learned ? this.limits.tpm : undefined;
  }

  private rollWindow(now: number): void {
    const second = Math.floor(now / 1000);
    if (second !== this.window.second) {
      const cap = this.tokensPerWindow();
      const unused = this.window.second === second - 1 ? Math.max(0, cap - this.window.tokens) : 0;
      this.window = {
        second,
        requests: 0,
        tokens: 0,
        carryTokens: this.strictWindows ? 0 : Math.min(unused, cap * 0.25),
      };
    }
  }
  private tokensPerWindow(): number {
    return this.limits.tpm / 60;
  }
  private requestsInWindow(second: number): number {
    const c = this.limits.rpm / 60;
    if (this.strictWindows) return Math.max(1, Math.floor(c));
    // Spread the fractional part over windows so the average is exact.
    return Math.max(1, Math.floor((second + 1) * c) - Math.floor(second * c));
  }

  /** ms until a request of `tokens` may go (0 = now), or Infinity while waiting for a probe. */
  waitFor(tokens: number, now: number): number {
    if (now < this.pausedUntil) return this.pausedUntil - now;
    if (!this.learned) return this.probesInFlight > 0 ? Number.POSITIVE_INFINITY : 0;
    let wait = Math.max(this.rpm.waitFor(1, now), this.tpm.waitFor(tokens, now));
    if (this.rpd) wait = Math.max(wait, this.rpd.waitFor(1, now));
    if (this.tpd) wait = Math.max(wait, this.tpd.waitFor(tokens, now));
    if (wait > 0) return wait;
    if (now < this.nextEvenAt) return Math.ceil(this.nextEvenAt - now);
    this.rollWindow(now);
    const inSecond = now % 1000;
    const toNext = 1000 - inSecond + 1;
    if (inSecond >= 1000 - LIMITER_DEFAULTS.windowGuardMs) return toNext;
    if (this.window.requests + 1 > this.requestsInWindow(this.window.second)) return toNext;
    const tokenCap = this.tokensPerWindow() + this.window.carryTokens;
    if (this.window.tokens > 0 && this.window.tokens + tokens > tokenCap) return toNext;
    return 0;
  }

  take(tokens: number, now: number): void {
    if (!this.learned) this.probesInFlight++;
    const spacing = Math.max(
      MINUTE / this.limits.rpm,
      (tokens * MINUTE) / this.effectiveTokens(this.limits.tpm),
    );
    // Tolerance of a quarter interval absorbs timer jitter without allowing bursts.
    this.nextEvenAt = Math.max(this.nextEvenAt, now - spacing / 4) + spacing;
    this.rollWindow(now);
    this.rpm.refill(now);
    this.tpm.refill(now);
    this.rpm.level -= 1;
    this.tpm.level -= tokens;
    this.window.requests += 1;
    this.window.tokens += tokens;
    if (this.rpd) this.rpd.level -= 1;
    if (this.tpd) this.tpd.level -= tokens;
  }

  /** Learns from any response: announced limits, the server's view of what is left, 429 pauses. */
  observe(status: number, h: RateLimitHeaders, wasProbe: boolean, now: number): void {
    if (wasProbe && this.probesInFlight > 0) this.probesInFlight--;
    const firstLearning = !this.learned;
    if (h.limitRequests !== undefined || h.limitTokens !== undefined || firstLearning) {
      const rpm = Math.min(h.limitRequests ?? this.limits.rpm, this.ceiling?.rpm ?? Number.POSITIVE_INFINITY);
      const tpm = Math.min(h.limitTokens ?? this.limits.tpm, this.ceiling?.tpm ?? Number.POSITIVE_INFINITY);
      if (rpm !== this.limits.rpm || tpm !== this.limits.tpm) {
        this.limits = { ...this.limits, rpm, tpm };
        this.rpm.resize(rpm);
        this.tpm.resize(this.effectiveTokens(tpm));
        // The pace of the assumed limits no longer applies.
        this.nextEvenAt = Math.min(this.nextEvenAt, now);
      }
      this.learned = true;
    }
    this.rpm.refill(now);
    this.tpm.refill(now);
    // The server's count is the truth; ours may only be more cautious.
    if (h.remainingRequests !== undefined) this.rpm.level = Math.min(this.rpm.level, h.remainingRequests);
    if (h.remainingTokens !== undefined) {
      this.tpm.level = Math.min(this.tpm.level, h.remainingTokens - this.limits.tpm * this.margin);
    }
    if (status === 429) {
      this.consecutive429++;
      const pause =
        h.retryAfterMs ?? LIMITER_DEFAULTS.fallbackPauseMs * Math.min(8, 2 ** (this.consecutive429 - 1));
      this.pausedUntil = Math.max(this.pausedUntil, now + pause);
      // A short wait while the minute budget still had room: the upstream enforces per-second windows.
      if (pause <= 1_000 && this.rpm.level >= 1 && this.tpm.level > 0) this.strictWindows = true;
      // Resume from empty: capacity comes back at the refill rate, never as a burst.
      this.rpm.level = Math.min(this.rpm.level, 0);
      this.tpm.level = Math.min(this.tpm.level, 0);
    } else if (status < 400) {
      this.consecutive429 = 0;
    }
  }

  /** The call ended with no answer: the upstream may have charged it, so nothing is refunded. */
  observeNoResponse(wasProbe: boolean): void {
    if (wasProbe && this.probesInFlight > 0) this.probesInFlight--;
  }

  /** Refund (or charge) the difference between the reservation and the actual charge. */
  reconcile(reservedTokens: number, actualTokens: number, now: number): void {
    this.tpm.refill(now);
    this.tpm.level = Math.min(this.tpm.capacity, this.tpm.level + reservedTokens - actualTokens);
  }

  snapshot(now: number) {
    this.rpm.refill(now);
    this.tpm.refill(now);
    return {
      learned: this.learned,
      limits: { ...this.limits },
      available: { requests: Math.max(0, this.rpm.level), tokens: Math.max(0, this.tpm.level) },
      utilisation: {
        requests: 1 - Math.max(0, this.rpm.level) / this.rpm.capacity,
        tokens: 1 - Math.max(0, this.tpm.level) / this.tpm.capacity,
      },
      pausedUntil: this.pausedUntil > now ? this.pausedUntil : null,
      strictWindows: this.strictWindows,
    };
  }
}

/** A tenant's own cap (optional): plain per-minute buckets. */
export class TenantCap {
  private rpm?: Bucket;
  private tpm?: Bucket;
  constructor(limits: QuotaLimits, now: number) {
    if (limits.rpm) this.rpm = new Bucket(limits.rpm, MINUTE, now);
    if (limits.tpm) this.tpm = new Bucket(limits.tpm, MINUTE, now);
  }
  maxTokens(): number | undefined {
    return this.tpm?.capacity;
  }
  waitFor(tokens: number, now: number): number {
    return Math.max(this.rpm?.waitFor(1, now) ?? 0, this.tpm?.waitFor(tokens, now) ?? 0);
  }
  take(tokens: number): void {
    if (this.rpm) this.rpm.level -= 1;
    if (this.tpm) this.tpm.level -= tokens;
  }
}
