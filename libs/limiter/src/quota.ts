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
export class Bucket {
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
  /** ms until `amount` is available (0 = now). A request larger than the bucket waits for a full one. */
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
 * Every dispatch of the last minute with running sums: a hard ceiling under the bucket, so no
 * 60-second window (hence no window of any length up to a minute) ever holds more than the limit,
 * whatever the bucket's burst would allow.
 */
class MinuteLog {
  private readonly at: number[] = [];
  private readonly tokens: number[] = [];
  private head = 0;
  private firstSeq = 1;
  requests = 0;
  tokenSum = 0;

  private expire(now: number): void {
    while (this.head < this.at.length && this.at[this.head]! <= now - MINUTE) {
      this.requests--;
      this.tokenSum -= this.tokens[this.head]!;
      this.head++;
      this.firstSeq++;
    }
    if (this.head > 1024 && this.head * 2 > this.at.length) {
      this.at.splice(0, this.head);
      this.tokens.splice(0, this.head);
      this.head = 0;
    }
  }
  push(seq: number, tokens: number, now: number): void {
    this.expire(now);
    if (this.head === this.at.length) this.firstSeq = seq;
    this.at.push(now);
    this.tokens.push(tokens);
    this.requests++;
    this.tokenSum += tokens;
  }
  /** A refund (or surcharge) of a dispatch still in the log. */
  adjust(seq: number, delta: number): void {
    const i = this.head + (seq - this.firstSeq);
    if (i < this.head || i >= this.tokens.length) return;
    this.tokens[i] = Math.max(0, this.tokens[i]! + delta);
    this.tokenSum = Math.max(0, this.tokenSum + delta);
  }
  /** ms until one more request of `tokens` fits under `maxRequests` / `maxTokens` per minute. */
  waitFor(tokens: number, maxRequests: number, maxTokens: number, now: number): number {
    this.expire(now);
    let requests = this.requests;
    let sum = this.tokenSum;
    const need = Math.min(tokens, maxTokens);
    for (let i = this.head; i < this.at.length; i++) {
      if (requests + 1 <= maxRequests && sum + need <= maxTokens) {
        return i === this.head ? 0 : this.at[i - 1]! + MINUTE - now + 1;
      }
      requests--;
      sum -= this.tokens[i]!;
    }
    return this.head === this.at.length ? 0 : this.at[this.at.length - 1]! + MINUTE - now + 1;
  }
}

/** What the quota recorded about one dispatch, so its response can be set against the right moment. */
export interface DispatchLedger {
  /** Dispatch sequence number in this (pool, model). */
  seq: number;
  /** Tokens reserved in the upstream's units (estimate × learned charge ratio). */
  charged: number;
  /** Running totals including this dispatch. */
  tokensThrough: number;
  requestsThrough: number;
}

interface ServerPoint {
  at: number;
  remainingTokens: number;
  estimate: number;
}

/**
 * The quota of one (pool, model): what the upstream allows, learned from its headers, and what
 * is left. Two constraints are kept together, so both kinds of enforcement are honoured:
 * per-minute buckets refilling continuously, and per-second windows of limit/60 (providers that
 * quantize their limits per second reject bursts that a per-minute bucket would allow).
 */
export class PoolModelQuota {
  private readonly rpm: Bucket;
  private readonly tpm: Bucket;
  private readonly rpd?: Bucket;
  private readonly tpd?: Bucket;
  private window = { second: -1, requests: 0, tokens: 0 };
  /** GCRA: the earliest time the next dispatch keeps an even pace (so a new arrival waits one interval, not a burst). */
  private nextEvenAt = 0;
  /**
   * Set by a 429 that only per-second windows explain (the minute bucket had room): from then on
   * dispatches also respect windows of limit/60 per second. Until then pacing is continuous, so a
   * continuously refilling upstream loses no throughput to window rounding.
   */
  strictWindows = false;
  /** Shrinks on each 429 inside strict windows: our per-request estimates vary, the server's windows do not. */
  private windowScale = 1;
  learned: boolean;
  /** Successful answers without limit headers while the limits are unknown. */
  private headerlessAnswers = 0;
  probesInFlight = 0;
  pausedUntil = 0;
  consecutive429 = 0;
  limits: Required<Pick<QuotaLimits, 'rpm' | 'tpm'>> & QuotaLimits;
  /** Limits the upstream last announced (the server's view is only adopted upward when ours match). */
  private announced: { rpm?: number; tpm?: number } = {};
  private seq = 0;
  private tokensThrough = 0;
  private requestsThrough = 0;
  /** Decayed sums of what the upstream charged vs what we estimated, from consecutive remaining-token headers. */
  private charge = { server: 0, estimate: 0, samples: 0 };
  private readonly points = new Map<number, ServerPoint>();
  private readonly minuteLog = new MinuteLog();

  constructor(
    private readonly ceiling: QuotaLimits | undefined,
    private readonly margin: number,
    initial: QuotaLimits,
    now: number,
  ) {
    // Configured limits are trusted from the start; unknown limits begin with a single probe.
    this.learned = ceiling?.rpm !== undefined && ceiling?.tpm !== undefined;
    this.limits = {
      rpm: ceiling?.rpm ?? initial.rpm ?? LIMITER_DEFAULTS.initialLimits.rpm,
      tpm: ceiling?.tpm ?? initial.tpm ?? LIMITER_DEFAULTS.initialLimits.tpm,
    };
    this.rpm = new Bucket(this.limits.rpm, MINUTE, now);
    this.tpm = new Bucket(this.effectiveTokens(this.limits.tpm), MINUTE, now);
    const rpd = ceiling?.rpd ?? initial.rpd;
    const tpd = ceiling?.tpd ?? initial.tpd;
    if (rpd) this.rpd = new Bucket(rpd, DAY, now);
    if (tpd) this.tpd = new Bucket(this.effectiveTokens(tpd), DAY, now);
    if (rpd) this.limits.rpd = rpd;
    if (tpd) this.limits.tpd = tpd;
  }

  private effectiveTokens(limit: number): number {
    return Math.max(1, Math.floor(limit * (1 - this.margin)));
  }

  /** Upstream tokens charged per estimated token, once enough responses have shown it. */
  chargeRatio(): number {
    if (this.charge.samples < LIMITER_DEFAULTS.chargeRatioMinSamples || this.charge.estimate <= 0) return 1;
    const { min, max } = LIMITER_DEFAULTS.chargeRatioBounds;
    return Math.min(max, Math.max(min, this.charge.server / this.charge.estimate));
  }

  /** The reservation for an estimate, in the upstream's units. */
  chargeFor(estimate: number): number {
    return Math.ceil(estimate * this.chargeRatio());
  }

  /** Largest single request that can ever fit, if known. */
  maxTokens(): number | undefined {
    return this.learned ? Math.min(this.limits.tpm, this.limits.tpd ?? Number.POSITIVE_INFINITY) : undefined;
  }

  private rollWindow(now: number): void {
    const second = Math.floor(now / 1000);
    if (second !== this.window.second) {
      this.window = { second, requests: 0, tokens: 0 };
    }
  }
  private tokensPerWindow(): number {
    return (this.effectiveTokens(this.limits.tpm) / 60) * this.windowScale;
  }
  private requestsPerWindow(): number {
    return Math.max(1, Math.floor(this.limits.rpm / 60));
  }

  /** ms until a request charging `charged` tokens may go (0 = now), or Infinity while waiting for a probe. */
  waitFor(charged: number, now: number): number {
    if (now < this.pausedUntil) return this.pausedUntil - now;
    if (!this.learned) return this.probesInFlight > 0 ? Number.POSITIVE_INFINITY : 0;
    let wait = Math.max(this.rpm.waitFor(1, now), this.tpm.waitFor(charged, now));
    if (this.rpd) wait = Math.max(wait, this.rpd.waitFor(1, now));
    if (this.tpd) wait = Math.max(wait, this.tpd.waitFor(charged, now));
    if (wait > 0) return wait;
    wait = this.minuteLog.waitFor(charged, this.limits.rpm, this.limits.tpm, now);
    if (wait > 0) return wait;
    if (now < this.nextEvenAt) return Math.ceil(this.nextEvenAt - now);
    if (!this.strictWindows) return 0;
    this.rollWindow(now);
    const inSecond = now % 1000;
    const toNext = 1000 - inSecond + 1;
    if (inSecond >= 1000 - LIMITER_DEFAULTS.windowGuardMs) return toNext;
    if (this.window.requests + 1 > this.requestsPerWindow()) return toNext;
    const tokenCap = this.tokensPerWindow();
    if (this.window.tokens > 0 && this.window.tokens + charged > tokenCap) return toNext;
    return 0;
  }

  take(charged: number, now: number): DispatchLedger {
    if (!this.learned) this.probesInFlight++;
    const spacing = Math.max(
      MINUTE / this.limits.rpm,
      (charged * MINUTE) / this.effectiveTokens(this.limits.tpm),
    );
    // A timer that fired up to a quarter interval late keeps its slot (no lost capacity); an idle
    // pool earns no credit, so the first dispatch after a pause is not followed by a burst.
    this.nextEvenAt = (this.nextEvenAt >= now - spacing / 4 ? this.nextEvenAt : now) + spacing;
    this.rollWindow(now);
    this.rpm.refill(now);
    this.tpm.refill(now);
    this.rpm.level -= 1;
    this.tpm.level -= charged;
    this.window.requests += 1;
    this.window.tokens += charged;
    if (this.rpd) this.rpd.level -= 1;
    if (this.tpd) this.tpd.level -= charged;
    this.tokensThrough += charged;
    this.requestsThrough += 1;
    this.minuteLog.push(this.seq + 1, charged, now);
    return {
      seq: ++this.seq,
      charged,
      tokensThrough: this.tokensThrough,
      requestsThrough: this.requestsThrough,
    };
  }

  /** Learns from any response: announced limits, the server's view of what is left, 429 pauses. */
  observe(
    status: number,
    h: RateLimitHeaders,
    sent: { probe: boolean; at: number; estimate: number; ledger?: DispatchLedger | undefined },
    now: number,
  ): void {
    if (sent.probe && this.probesInFlight > 0) this.probesInFlight--;
    this.adoptLimits(status, h, now);
    this.rpm.refill(now);
    this.tpm.refill(now);
    if (sent.ledger) this.syncWithServer(status, h, sent.at, sent.estimate, sent.ledger, now);
    else {
      // No ledger (a reservation rebuilt elsewhere): the server's count may only make us more cautious.
      if (h.remainingRequests !== undefined) this.rpm.level = Math.min(this.rpm.level, h.remainingRequests);
      if (h.remainingTokens !== undefined)
        this.tpm.level = Math.min(this.tpm.level, h.remainingTokens - this.limits.tpm * this.margin);
    }
    if (status === 429) {
      this.consecutive429++;
      const pause =
        h.retryAfterMs ?? LIMITER_DEFAULTS.fallbackPauseMs * Math.min(8, 2 ** (this.consecutive429 - 1));
      this.pausedUntil = Math.max(this.pausedUntil, now + pause);
      // A short wait while the server's own minute budget still had room for this request: the
      // upstream enforces per-second windows.
      const charged = sent.ledger?.charged ?? sent.estimate;
      const minuteHadRoom =
        h.remainingRequests !== undefined && h.remainingTokens !== undefined
          ? h.remainingRequests >= 1 && h.remainingTokens >= charged * 1.5
          : this.rpm.level >= 1 && this.tpm.level > charged;
      if (pause <= 1_000 && minuteHadRoom) {
        // Shrink only once our charge estimates have settled; before that the 429 says they were off.
        const settled = this.charge.samples >= 4 * LIMITER_DEFAULTS.chargeRatioMinSamples;
        if (this.strictWindows && settled) this.windowScale = Math.max(0.5, this.windowScale * 0.9);
        this.strictWindows = true;
      }
      // Resume from empty: capacity comes back at the refill rate, never as a burst.
      this.rpm.level = Math.min(this.rpm.level, 0);
      this.tpm.level = Math.min(this.tpm.level, 0);
    } else if (status < 400) {
      this.consecutive429 = 0;
    }
  }

  private adoptLimits(status: number, h: RateLimitHeaders, now: number): void {
    if (h.limitRequests !== undefined) this.announced.rpm = h.limitRequests;
    if (h.limitTokens !== undefined) this.announced.tpm = h.limitTokens;
    if (h.limitRequests === undefined && h.limitTokens === undefined) {
      if (this.learned) return;
      // One answer without limit headers (a 400 often has none) says nothing of the limits: keep
      // probing. Only an upstream that never sends them leaves us on the assumed limits.
      if (status >= 400 || ++this.headerlessAnswers < LIMITER_DEFAULTS.headerlessAnswersBeforeAssuming)
        return;
    }
    const rpm = Math.min(h.limitRequests ?? this.limits.rpm, this.ceiling?.rpm ?? Number.POSITIVE_INFINITY);
    const tpm = Math.min(h.limitTokens ?? this.limits.tpm, this.ceiling?.tpm ?? Number.POSITIVE_INFINITY);
    if (rpm > 0 && tpm > 0 && (rpm !== this.limits.rpm || tpm !== this.limits.tpm)) {
      this.limits = { ...this.limits, rpm, tpm };
      this.rpm.resize(rpm);
      this.tpm.resize(this.effectiveTokens(tpm));
      // The pace of the assumed limits no longer applies.
      this.nextEvenAt = Math.min(this.nextEvenAt, now);
    }
    this.learned = true;
  }

  /**
   * The server's `remaining` was true when it admitted this request (≈ its dispatch time). Project
   * it to now — plus refill, minus what we sent since — and adopt it: downward always (it charges
   * more than we thought, or someone else shares the key), upward only when our limits are the
   * server's (a configured ceiling below them must still hold). Consecutive answers also show what
   * the server charged per request, which calibrates our estimates.
   */
  private syncWithServer(
    status: number,
    h: RateLimitHeaders,
    at: number,
    estimate: number,
    ledger: DispatchLedger,
    now: number,
  ): void {
    const elapsed = Math.max(0, now - at);
    if (h.remainingRequests !== undefined) {
      const serverLimit = this.announced.rpm ?? this.limits.rpm;
      const projected =
        h.remainingRequests +
        (elapsed * serverLimit) / MINUTE -
        (this.requestsThrough - ledger.requestsThrough) -
        (serverLimit - this.rpm.capacity);
      this.rpm.level =
        serverLimit === this.limits.rpm
          ? Math.min(this.rpm.capacity, projected)
          : Math.min(this.rpm.level, projected);
    }
    if (h.remainingTokens !== undefined) {
      const serverLimit = this.announced.tpm ?? this.limits.tpm;
      const projected =
        h.remainingTokens +
        (elapsed * serverLimit) / MINUTE -
        (this.tokensThrough - ledger.tokensThrough) -
        (serverLimit - this.tpm.capacity);
      this.tpm.level =
        serverLimit === this.limits.tpm
          ? Math.min(this.tpm.capacity, projected)
          : Math.min(this.tpm.level, projected);
      if (status < 400) this.learnCharge(ledger.seq, { at, remainingTokens: h.remainingTokens, estimate });
    }
  }

  private learnCharge(seq: number, point: ServerPoint): void {
    const limit = this.announced.tpm;
    if (limit === undefined) return;
    this.points.set(seq, point);
    const sample = (before: ServerPoint, after: ServerPoint) => {
      const levelBefore = Math.min(limit, before.remainingTokens + ((after.at - before.at) * limit) / MINUTE);
      const charged = levelBefore - after.remainingTokens;
      // A negative or absurd difference means the two answers were not adjacent upstream: skip it.
      if (charged <= 0 || charged > limit) return;
      const decay = 0.5 ** (1 / LIMITER_DEFAULTS.chargeRatioHalfLife);
      this.charge.server = this.charge.server * decay + charged;
      this.charge.estimate = this.charge.estimate * decay + after.estimate;
      this.charge.samples++;
    };
    const previous = this.points.get(seq - 1);
    const next = this.points.get(seq + 1);
    if (previous) sample(previous, point);
    if (next) sample(point, next);
    // Answers come back nearly in order: a short memory is enough.
    this.points.delete(seq - 64);
  }

  /** The call ended with no answer: the upstream may have charged it, so nothing is refunded. */
  observeNoResponse(wasProbe: boolean): void {
    if (wasProbe && this.probesInFlight > 0) this.probesInFlight--;
  }

  /** Refund (or charge) the difference between the reservation and the actual charge. */
  reconcile(ledger: DispatchLedger | undefined, charged: number, actualTokens: number, now: number): void {
    this.tpm.refill(now);
    const refund = charged - actualTokens;
    this.tpm.level = Math.min(this.tpm.capacity, this.tpm.level + refund);
    this.tokensThrough -= refund;
    if (ledger) this.minuteLog.adjust(ledger.seq, -refund);
    // The even pace was set by the reservation; give back the time the refunded tokens took.
    this.nextEvenAt = Math.max(now, this.nextEvenAt - (refund * MINUTE) / this.tpm.capacity);
  }

  snapshot(now: number) {
    this.rpm.refill(now);
    this.tpm.refill(now);
    return {
      learned: this.learned,
      limits: { ...this.limits },
      effectiveLimits: { rpm: this.rpm.capacity, tpm: this.tpm.capacity },
      announcedLimits: { ...this.announced },
      chargeRatio: this.chargeRatio(),
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

/** A tenant's own cap (optional): plain per-minute (and per-day) buckets. */
export class TenantCap {
  private readonly buckets: Array<{ bucket: Bucket; unit: 'requests' | 'tokens' }> = [];
  constructor(limits: QuotaLimits, now: number) {
    if (limits.rpm) this.buckets.push({ bucket: new Bucket(limits.rpm, MINUTE, now), unit: 'requests' });
    if (limits.tpm) this.buckets.push({ bucket: new Bucket(limits.tpm, MINUTE, now), unit: 'tokens' });
    if (limits.rpd) this.buckets.push({ bucket: new Bucket(limits.rpd, DAY, now), unit: 'requests' });
    if (limits.tpd) this.buckets.push({ bucket: new Bucket(limits.tpd, DAY, now), unit: 'tokens' });
  }
  maxTokens(): number | undefined {
    let max: number | undefined;
    for (const b of this.buckets)
      if (b.unit === 'tokens') max = Math.min(max ?? Number.POSITIVE_INFINITY, b.bucket.capacity);
    return max;
  }
  waitFor(tokens: number, now: number): number {
    let wait = 0;
    for (const b of this.buckets)
      wait = Math.max(wait, b.bucket.waitFor(b.unit === 'tokens' ? tokens : 1, now));
    return wait;
  }
  take(tokens: number): void {
    for (const b of this.buckets) b.bucket.level -= b.unit === 'tokens' ? tokens : 1;
  }
}
