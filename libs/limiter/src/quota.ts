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

/** A continuously refilling budget of `capacity`, refilling `capacity` per `period` unless given its own rate. */
export class Bucket {
  level: number;
  /** Refill per ms. */
  private perMs: number;
  constructor(
    public capacity: number,
    readonly period: number,
    private at: number,
    level = capacity,
  ) {
    this.level = level;
    this.perMs = capacity / period;
  }
  refill(now: number): void {
    if (now > this.at) {
      this.level = Math.min(this.capacity, this.level + (now - this.at) * this.perMs);
      this.at = now;
    }
  }
  /** ms until `amount` is available (0 = now). A request larger than the bucket waits for a full one. */
  waitFor(amount: number, now: number): number {
    this.refill(now);
    const need = Math.min(amount, this.capacity) - this.level;
    return need <= 0 ? 0 : Math.ceil(need / this.perMs);
  }
  resize(capacity: number): void {
    this.capacity = capacity;
    this.perMs = capacity / this.period;
    this.level = Math.min(this.level, capacity);
  }
  /** A bucket holding `capacity` that refills at `perMs` (a small bucket refills at the minute's rate). */
  reshape(capacity: number, perMs: number): void {
    this.capacity = capacity;
    this.perMs = perMs;
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
  /** The model each dispatch was for (a quota shared by models splits its log by them). */
  private readonly owners: string[] = [];
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
      this.owners.splice(0, this.head);
      this.head = 0;
    }
  }
  push(seq: number, tokens: number, now: number, owner = ''): void {
    this.expire(now);
    if (this.head === this.at.length) this.firstSeq = seq;
    this.at.push(now);
    this.tokens.push(tokens);
    this.owners.push(owner);
    this.requests++;
    this.tokenSum += tokens;
  }
  /** The dispatches of the last minute, oldest first. */
  entries(now: number): Array<{ at: number; tokens: number; owner: string }> {
    this.expire(now);
    const out = [];
    for (let i = this.head; i < this.at.length; i++)
      out.push({ at: this.at[i]!, tokens: this.tokens[i]!, owner: this.owners[i]! });
    return out;
  }
  /** Replaces the log with `entries` (oldest first), numbered so that the last is dispatch `lastSeq`. */
  load(entries: Array<{ at: number; tokens: number; owner: string }>, lastSeq: number): void {
    this.at.length = 0;
    this.tokens.length = 0;
    this.owners.length = 0;
    this.head = 0;
    this.requests = 0;
    this.tokenSum = 0;
    this.firstSeq = lastSeq - entries.length + 1;
    for (const e of entries) {
      this.at.push(e.at);
      this.tokens.push(e.tokens);
      this.owners.push(e.owner);
      this.requests++;
      this.tokenSum += e.tokens;
    }
  }
  /** A refund (or surcharge) of a dispatch still in the log. */
  adjust(seq: number, delta: number): void {
    const i = this.head + (seq - this.firstSeq);
    if (i < this.head || i >= this.tokens.length) return;
    this.tokens[i] = Math.max(0, this.tokens[i]! + delta);
    this.tokenSum = Math.max(0, this.tokenSum + delta);
  }
  /**
   * A bucket's level at `now`, from `level` at `from` (just after dispatch `seq`), replaying every
   * later dispatch in the log with refill capped at `capacity` at each step (a small bucket loses
   * the refill it cannot hold, so projecting in one step would be wrong).
   */
  replay(
    seq: number,
    unit: 'requests' | 'tokens',
    level: number,
    from: number,
    capacity: number,
    perMs: number,
    now: number,
  ): number {
    let at = from;
    for (let i = Math.max(this.head, this.head + (seq + 1 - this.firstSeq)); i < this.at.length; i++) {
      const t = Math.max(at, this.at[i]!);
      level = Math.min(capacity, level + (t - at) * perMs) - (unit === 'tokens' ? this.tokens[i]! : 1);
      at = t;
    }
    return Math.min(capacity, level + Math.max(0, now - at) * perMs);
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
  /** The quota that recorded it: a quota merged or split since no longer numbers dispatches the same way. */
  quota: number;
  /** Dispatch sequence number in this quota. */
  seq: number;
  /** Tokens reserved in the upstream's units (estimate × learned charge ratio). */
  charged: number;
  /** Running totals including this dispatch. */
  tokensThrough: number;
  requestsThrough: number;
  /** Running total of our estimates (before the charge ratio) including this dispatch. */
  estimatesThrough: number;
}

interface ServerPoint {
  at: number;
  remainingTokens: number;
  estimatesThrough: number;
}

/**
 * How the limiter believes the upstream enforces its per-minute limits: learned from evidence,
 * never configured. A bucket refilling at limit/minute whose capacity (`capacityMs` worth of the
 * limit, 60 s = the minute bucket) its headers show as remaining + reset × rate; or fixed windows
 * of `windowMs`, shown by 429s that the bucket the headers describe does not explain.
 */
export type EnforcementEstimate =
  | { kind: 'bucket'; capacityMs: number }
  | { kind: 'windows'; windowMs: number };

/** Window lengths considered (every divisor of a minute a provider is likely to use). */
const WINDOW_CANDIDATES_MS = [1_000, 2_000, 3_000, 5_000, 6_000, 10_000, 15_000, 20_000, 30_000, 60_000];
/** Capacity samples kept (the newest): the bucket's capacity is their maximum. */
const CAPACITY_SAMPLES = 64;
/** Numbers quotas (and each merge or split of one), so a ledger is only read by the quota that wrote it. */
let quotaNumbers = 0;

/**
 * The quota of one (pool, model): what the upstream allows, learned from its headers, and what
 * is left. It paces for the enforcement it has classified: a bucket of any capacity gets an even
 * spacing just under the refill rate (so even a bucket of a fraction of a second's worth is never
 * burst into), fixed windows get each window filled up to its share (less the noise of our charge
 * estimates), and a sliding minute log keeps every 60 s under the limit whatever the family.
 */
export class PoolModelQuota {
  /** Changes when the quota is merged with another or split (ledgers from before no longer apply). */
  id = ++quotaNumbers;
  private readonly rpm: Bucket;
  private readonly tpm: Bucket;
  private rpd?: Bucket;
  private tpd?: Bucket;
  enforcement: EnforcementEstimate = { kind: 'bucket', capacityMs: MINUTE };
  /** Capacities the headers imply, as fractions of the announced limit (newest last). */
  private readonly capacitySamples: { requests: number[]; tokens: number[] } = { requests: [], tokens: [] };
  /** Window boundaries implied by 429s the bucket does not explain (dispatch + retry-after). */
  private readonly boundaries: number[] = [];
  private longestWindowRetryMs = 0;
  private lastUnexplained429Seq: number | undefined;
  private window = { index: Number.NaN, requests: 0, tokens: 0 };
  /**
   * Fraction of each window's token share held back for the noise of our charge estimates: grows
   * on each 429 inside the believed windows, shrinks a little with each window that had none.
   */
  private windowHeadroom: number = LIMITER_DEFAULTS.windowHeadroom.initial;
  /** GCRA: the earliest time the next dispatch keeps an even pace (so a new arrival waits one interval, not a burst). */
  private nextEvenAt = { requests: 0, tokens: 0 };
  /**
   * How far under the refill rate the even pace runs: `paceMargin`, raised by each 429 the bucket
   * explains (our per-request charges are noisier than a small bucket absorbs) and easing back
   * with every dispatch after.
   */
  private paceSlack: number = LIMITER_DEFAULTS.paceMargin;
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
  private estimatesThrough = 0;
  /** Recent dispatches the upstream refused (a span over one says nothing of the charge ratio). */
  private readonly refused = new Set<number>();
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
    this.tpm = new Bucket(this.limits.tpm, MINUTE, now);
    this.shapeBuckets();
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

  /** The upstream's per-minute budget as it holds it: a bucket's capacity (a minute's worth for windows). */
  private capacityFraction(): number {
    return this.enforcement.kind === 'bucket' ? this.enforcement.capacityMs / MINUTE : 1;
  }

  /**
   * Our buckets mirror the upstream's: its capacity (less the safety margin on tokens), refilling at
   * the full limit per minute. The margin is a reserve against estimation error, not a slower rate:
   * a rate below the limit would cap utilisation at 1 − margin.
   */
  private shapeBuckets(): void {
    const f = this.capacityFraction();
    this.rpm.reshape(Math.max(1, this.limits.rpm * f), this.limits.rpm / MINUTE);
    // The reserve covers noise in tokens (the server's count, our estimates of in-flight requests),
    // which does not shrink with the bucket: the margin of a minute's limit, at most a quarter of it.
    const capacity = this.limits.tpm * f;
    const reserve = Math.min(this.limits.tpm * this.margin, capacity / 4);
    this.tpm.reshape(Math.max(1, capacity - reserve), this.limits.tpm / MINUTE);
  }

  /** Upstream tokens charged per estimated token, once enough responses have shown it. */
  chargeRatio(): number {
    if (this.charge.samples < LIMITER_DEFAULTS.chargeRatioMinSamples || this.charge.estimate <= 0) return 1;
    const { min, max } = LIMITER_DEFAULTS.chargeRatioBounds;
    return Math.min(max, Math.max(min, this.charge.server / this.charge.estimate));
  }

  /** The reservation for an estimate, in the upstream's units. */
  chargeFor(estimate: number): number {
    // Rounded, not ceiled: a ratio a hair above 1 would otherwise reserve a whole token more per
    // request (0.8% of a 125-token request); the server's count catches the other half.
    const ratio = this.chargeRatio();
    return ratio === 1 ? estimate : Math.max(1, Math.round(estimate * ratio));
  }

  /** Largest single request that can ever fit, if known. */
  maxTokens(): number | undefined {
    return this.learned ? Math.min(this.limits.tpm, this.limits.tpd ?? Number.POSITIVE_INFINITY) : undefined;
  }

  private tokensPerWindow(windowMs: number): number {
    return ((this.limits.tpm * windowMs) / MINUTE) * (1 - this.windowHeadroom);
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
    // Even spacing under every family: a bucket of any capacity is never burst into, and windows
    // whose length we under- or overestimate still see at most their share plus one request.
    const evenAt = Math.max(this.nextEvenAt.requests, this.nextEvenAt.tokens);
    if (now < evenAt) return Math.ceil(evenAt - now);
    const e = this.enforcement;
    if (e.kind === 'bucket') return 0;
    this.rollWindow(now, e.windowMs);
    const inWindow = now - this.window.index * e.windowMs;
    const toNext = e.windowMs - inWindow + 1;
    if (inWindow >= e.windowMs - LIMITER_DEFAULTS.windowGuardMs) return toNext;
    const requestCap = Math.max(1, Math.floor((this.limits.rpm * e.windowMs) / MINUTE));
    if (this.window.requests + 1 > requestCap) return toNext;
    if (this.window.tokens > 0 && this.window.tokens + charged > this.tokensPerWindow(e.windowMs))
      return toNext;
    return 0;
  }

  private rollWindow(now: number, windowMs: number): void {
    const index = Math.floor(now / windowMs);
    if (index === this.window.index) return;
    // A window used without a 429: our charge estimates may be trusted a little more.
    if (this.window.requests > 0)
      this.windowHeadroom *= LIMITER_DEFAULTS.windowHeadroom.decayPerSecond ** (windowMs / 1000);
    this.window = { index, requests: 0, tokens: 0 };
  }

  take(charged: number, now: number, estimate = charged, owner = ''): DispatchLedger {
    if (!this.learned) this.probesInFlight++;
    // Just under the refill rate: the bucket stays just above empty, and an estimate a little low
    // is caught by the server's headers before it costs a 429.
    // Each limit keeps its own even pace (a small request is not held to the request rate's spacing
    // when tokens bind, nor the reverse).
    const stretch = 1 / (1 - this.paceSlack);
    const { paceMargin, paceSlack, lateTimerCreditMs } = LIMITER_DEFAULTS;
    this.paceSlack = Math.max(paceMargin, this.paceSlack * paceSlack.easePerDispatch);
    // A timer that fired late (a busy event loop) keeps up to a quarter interval, or a few ms
    // (less than an eighth of a small bucket), of its slot, so lateness costs no capacity; an idle
    // pool earns no more credit, so the first dispatch after a pause is not followed by a burst.
    const credit = Math.min(lateTimerCreditMs, this.capacityFraction() * (MINUTE / 8));
    const pace = (at: number, spacing: number) => Math.max(at, now - Math.max(spacing / 4, credit)) + spacing;
    this.nextEvenAt = {
      requests: pace(this.nextEvenAt.requests, (MINUTE / this.limits.rpm) * stretch),
      tokens: pace(this.nextEvenAt.tokens, ((charged * MINUTE) / this.limits.tpm) * stretch),
    };
    if (this.enforcement.kind === 'windows') {
      this.rollWindow(now, this.enforcement.windowMs);
      this.window.requests += 1;
      this.window.tokens += charged;
    }
    this.rpm.refill(now);
    this.tpm.refill(now);
    this.rpm.level -= 1;
    this.tpm.level -= charged;
    if (this.rpd) this.rpd.level -= 1;
    if (this.tpd) this.tpd.level -= charged;
    this.tokensThrough += charged;
    this.requestsThrough += 1;
    this.estimatesThrough += estimate;
    this.minuteLog.push(this.seq + 1, charged, now, owner);
    return {
      quota: this.id,
      seq: ++this.seq,
      charged,
      tokensThrough: this.tokensThrough,
      requestsThrough: this.requestsThrough,
      estimatesThrough: this.estimatesThrough,
    };
  }

  /** Learns from any response: announced limits, the server's view of what is left, 429 pauses. */
  observe(
    status: number,
    h: RateLimitHeaders,
    sent: { probe: boolean; at: number; estimate: number; ledger?: DispatchLedger | undefined },
    now: number,
    message?: string,
  ): void {
    if (sent.probe && this.probesInFlight > 0) this.probesInFlight--;
    this.adoptLimits(status, h, now);
    this.learnCapacity(h);
    this.rpm.refill(now);
    this.tpm.refill(now);
    const ledger = sent.ledger?.quota === this.id ? sent.ledger : undefined;
    if (ledger) this.syncWithServer(status, h, sent.at, ledger, now);
    else {
      // No ledger (a reservation rebuilt elsewhere): the server's count may only make us more cautious.
      if (h.remainingRequests !== undefined) this.rpm.level = Math.min(this.rpm.level, h.remainingRequests);
      if (h.remainingTokens !== undefined)
        this.tpm.level = Math.min(this.tpm.level, h.remainingTokens - this.limits.tpm * this.margin);
    }
    if (status === 429) {
      this.consecutive429++;
      const daily = message === undefined ? undefined : parseDailyLimit(message);
      if (daily) this.learnDailyLimit(daily, now);
      const pause =
        h.retryAfterMs ?? LIMITER_DEFAULTS.fallbackPauseMs * Math.min(8, 2 ** (this.consecutive429 - 1));
      this.pausedUntil = Math.max(this.pausedUntil, now + pause);
      // A 429 while the bucket the server describes still had room for this request: the upstream
      // enforces fixed windows; the wait it names is the time to the window's end.
      const charged = sent.ledger?.charged ?? sent.estimate;
      const bucketHadRoom =
        h.remainingRequests !== undefined && h.remainingTokens !== undefined
          ? h.remainingRequests >= 1 && h.remainingTokens >= charged * 1.5
          : this.rpm.level >= 1 && this.tpm.level > charged;
      if (!daily && pause <= MINUTE && bucketHadRoom) this.learnWindows(pause, sent.at);
      else if (!daily && this.learned && this.enforcement.kind === 'bucket' && this.consecutive429 === 1) {
        const { growth, step, max } = LIMITER_DEFAULTS.paceSlack;
        this.paceSlack = Math.min(max, this.paceSlack * growth + step);
      }
      // Resume from empty: capacity comes back at the refill rate, never as a burst.
      this.rpm.level = Math.min(this.rpm.level, 0);
      this.tpm.level = Math.min(this.tpm.level, 0);
    } else if (status < 400) {
      this.consecutive429 = 0;
    }
  }

  /**
   * A bucket's headers show its capacity: remaining + reset × refill rate is what it holds when
   * full (a minute's worth for the minute bucket, a second's for a one-second bucket).
   */
  private learnCapacity(h: RateLimitHeaders): void {
    const push = (list: number[], remaining?: number, resetMs?: number, limit?: number) => {
      if (remaining === undefined || resetMs === undefined || limit === undefined || limit <= 0) return false;
      const fraction = (remaining + (resetMs * limit) / MINUTE) / limit;
      if (!(fraction > 0 && fraction <= 1.05)) return false;
      list.push(Math.min(1, fraction));
      if (list.length > CAPACITY_SAMPLES) list.shift();
      return true;
    };
    const a = push(this.capacitySamples.requests, h.remainingRequests, h.resetRequestsMs, this.announced.rpm);
    const b = push(this.capacitySamples.tokens, h.remainingTokens, h.resetTokensMs, this.announced.tpm);
    if ((!a && !b) || this.enforcement.kind === 'windows') return;
    const biggest = (list: number[]) => (list.length ? Math.max(...list) : 1);
    let fraction = Math.min(biggest(this.capacitySamples.requests), biggest(this.capacitySamples.tokens));
    // Rounding in the headers: within 3% of a minute is the minute bucket.
    if (fraction > 0.97) fraction = 1;
    const capacityMs = Math.max(1, Math.round(fraction * MINUTE));
    if (capacityMs !== this.enforcement.capacityMs) {
      this.enforcement = { kind: 'bucket', capacityMs };
      this.shapeBuckets();
    }
  }

  /**
   * Fixed windows: the retry-after of a 429 the bucket does not explain runs to a window's end, so the
   * window is at least that long, and its boundaries fall on multiples of its length. The shortest
   * length that fits every boundary seen is kept (windows of w also honour any multiple of w) and
   * tested again by each further such 429.
   */
  private learnWindows(retryMs: number, at: number): void {
    // Rare such 429s cost less than window pacing's rounding: windows are believed once two fall
    // within `windowEvidenceDispatches` of each other (well above the 429 budget).
    const last = this.lastUnexplained429Seq;
    this.lastUnexplained429Seq = this.seq;
    if (
      this.enforcement.kind === 'bucket' &&
      (last === undefined || this.seq - last > LIMITER_DEFAULTS.windowEvidenceDispatches)
    ) {
      this.boundaries.push(at + retryMs);
      this.longestWindowRetryMs = Math.max(this.longestWindowRetryMs, retryMs);
      return;
    }
    this.longestWindowRetryMs = Math.max(this.longestWindowRetryMs, retryMs);
    this.boundaries.push(at + retryMs);
    if (this.boundaries.length > 16) this.boundaries.shift();
    const tolerance = LIMITER_DEFAULTS.windowBoundaryToleranceMs;
    // Boundaries fall on multiples of the window (our windows are counted from 0 too): the longest
    // candidate they all fit. Spacing alone is not enough: windows believed twice too long, in the
    // wrong phase, only overflow at the true boundaries between ours, which are spaced by the
    // believed length and would confirm it forever. Pacing stays even, so a window guessed too
    // long costs a rare 429 (whose boundary corrects the guess), never a burst.
    const fits = (w: number) =>
      w >= this.longestWindowRetryMs &&
      this.boundaries.every((b) => {
        const r = ((b % w) + w) % w;
        return Math.min(r, w - r) <= tolerance;
      });
    const windowMs =
      [...WINDOW_CANDIDATES_MS].reverse().find(fits) ??
      WINDOW_CANDIDATES_MS.find((w) => w >= this.longestWindowRetryMs) ??
      MINUTE;
    if (this.enforcement.kind === 'windows' && this.enforcement.windowMs === windowMs) {
      // Same windows, and still a 429: our charge estimates are noisier than we allowed for.
      const { growth, step, max } = LIMITER_DEFAULTS.windowHeadroom;
      this.windowHeadroom = Math.min(max, this.windowHeadroom * growth + step);
      return;
    }
    this.enforcement = { kind: 'windows', windowMs };
    this.window = { index: Number.NaN, requests: 0, tokens: 0 };
    this.shapeBuckets();
  }

  private learnDailyLimit(daily: { unit: 'requests' | 'tokens'; limit: number }, now: number): void {
    if (daily.unit === 'requests') {
      this.limits.rpd = daily.limit;
      if (this.rpd) this.rpd.resize(daily.limit);
      else this.rpd = new Bucket(daily.limit, DAY, now, 0);
      this.rpd.level = Math.min(this.rpd.level, 0);
    } else {
      this.limits.tpd = daily.limit;
      const capacity = this.effectiveTokens(daily.limit);
      if (this.tpd) this.tpd.resize(capacity);
      else this.tpd = new Bucket(capacity, DAY, now, 0);
      this.tpd.level = Math.min(this.tpd.level, 0);
    }
  }

  /**
   * ms until batch-class work charging `charged` may draw on the day's budget (0 = now). Once a
   * daily limit is known, batch work only spends what lies above a reserve kept for interactive
   * traffic; the day bucket refills evenly, so batch work then runs at the day's refill rate, spread
   * over the day instead of burning the allowance in the morning.
   */
  batchDailyWait(charged: number, now: number): number {
    let wait = 0;
    const reserve = LIMITER_DEFAULTS.dailyInteractiveReserve;
    for (const [b, need] of [
      [this.tpd, charged],
      [this.rpd, 1],
    ] as const) {
      if (!b) continue;
      b.refill(now);
      const missing = need + reserve * b.capacity - b.level;
      if (missing > 0) wait = Math.max(wait, Math.ceil((missing * DAY) / b.capacity));
    }
    return wait;
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
      this.shapeBuckets();
      // The pace of the old limits no longer applies.
      this.nextEvenAt = {
        requests: Math.min(this.nextEvenAt.requests, now),
        tokens: Math.min(this.nextEvenAt.tokens, now),
      };
    }
    this.learned = true;
  }

  /**
   * The server's `remaining` was true when it admitted this request (≈ its dispatch time). Project
   * it to now — plus refill up to the bucket's capacity, minus what we sent since — and adopt it:
   * downward always (it charges more than we thought, or someone else shares the key), upward only
   * when our limits are the server's (a configured ceiling below them must still hold). Consecutive
   * answers also show what the server charged per request, which calibrates our estimates.
   */
  private syncWithServer(
    status: number,
    h: RateLimitHeaders,
    at: number,
    ledger: DispatchLedger,
    now: number,
  ): void {
    const f = this.capacityFraction();
    if (h.remainingRequests !== undefined) {
      const serverLimit = this.announced.rpm ?? this.limits.rpm;
      const serverCapacity = Math.max(1, serverLimit * f);
      const projected =
        this.minuteLog.replay(
          ledger.seq,
          'requests',
          h.remainingRequests,
          at,
          serverCapacity,
          serverLimit / MINUTE,
          now,
        ) - Math.max(0, serverCapacity - this.rpm.capacity);
      this.rpm.level = this.adopt(this.rpm, projected, serverLimit === this.limits.rpm);
    }
    if (h.remainingTokens !== undefined) {
      const serverLimit = this.announced.tpm ?? this.limits.tpm;
      const serverCapacity = Math.max(1, serverLimit * f);
      const reserve = Math.max(0, serverCapacity - this.tpm.capacity);
      const projected =
        this.minuteLog.replay(
          ledger.seq,
          'tokens',
          h.remainingTokens,
          at,
          serverCapacity,
          serverLimit / MINUTE,
          now,
        ) - reserve;
      this.tpm.level = this.adopt(this.tpm, projected, serverLimit === this.limits.tpm);
      if (status < 400)
        this.learnCharge(ledger.seq, {
          at,
          remainingTokens: h.remainingTokens,
          estimatesThrough: ledger.estimatesThrough,
        });
      else if (status === 429) {
        this.refused.add(ledger.seq);
        this.refused.delete(ledger.seq - 256);
      }
    }
  }

  /**
   * Adopts the server's count projected to now: both ways when our limits are the server's (so
   * someone else on the key, or a model sharing the limit, is seen at once), only downward under a
   * configured ceiling below them.
   */
  private adopt(bucket: Bucket, projected: number, upwardAllowed: boolean): number {
    return upwardAllowed ? Math.min(bucket.capacity, projected) : Math.min(bucket.level, projected);
  }

  /**
   * What the upstream charged over a span of K consecutive dispatches: its level before, plus refill,
   * minus its level after. Over a span, a pair the upstream admitted in the other order (network
   * jitter) only moves the endpoints, so nothing need be dropped (dropping negative one-request
   * differences biased the ratio upward). A small bucket is often full, which hides refill: its
   * spans are kept within a fraction of its capacity.
   */
  private learnCharge(seq: number, point: ServerPoint): void {
    const limit = this.announced.tpm;
    if (limit === undefined) return;
    // Inside fixed windows we burst at each window's start and the headers describe a minute bucket
    // that bursts overdraw: once the ratio has settled, such counts would only disturb it.
    if (this.enforcement.kind === 'windows' && this.charge.samples >= 64) return;
    const capacity = limit * this.capacityFraction();
    const span =
      this.enforcement.kind === 'bucket' && this.enforcement.capacityMs < MINUTE
        ? Math.max(1, Math.min(16, Math.floor(this.enforcement.capacityMs / 500)))
        : 16;
    this.points.set(seq, point);
    /** false: the span is no evidence (the bucket was full inside it). */
    const sample = (j: number, k: number): boolean => {
      const before = this.points.get(j);
      const after = this.points.get(k);
      // A count of 0 may hide a negative one (a window's burst beyond what the bucket holds): censored.
      if (!before || !after || before.remainingTokens <= 0 || after.remainingTokens <= 0) return true;
      for (let i = j + 1; i <= k; i++) if (this.refused.has(i)) return true;
      const refilled = before.remainingTokens + ((after.at - before.at) * limit) / MINUTE;
      // A bucket that was full somewhere inside a span lost refill we cannot place: only a pair
      // of neighbours (full just before the second) still says what the second was charged.
      if (refilled > capacity && k - j > 1) return false;
      const charged = Math.min(capacity, refilled) - after.remainingTokens;
      const estimates = after.estimatesThrough - before.estimatesThrough;
      // A difference beyond the bucket means the answers were not what we think they were.
      if (estimates <= 0 || Math.abs(charged) > capacity) return true;
      const decay = 0.5 ** ((k - j) / LIMITER_DEFAULTS.chargeRatioHalfLife);
      this.charge.server = this.charge.server * decay + charged;
      this.charge.estimate = this.charge.estimate * decay + estimates;
      this.charge.samples += k - j;
      return true;
    };
    if (!sample(seq - span, seq)) sample(seq - 1, seq);
    if (!sample(seq, seq + span)) sample(seq + span - 1, seq + span);
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
    if (ledger?.quota === this.id) this.minuteLog.adjust(ledger.seq, -refund);
    // The even pace was set by the reservation; give back the time the refunded tokens took.
    this.nextEvenAt.tokens = Math.max(now, this.nextEvenAt.tokens - (refund * MINUTE) / this.limits.tpm);
  }

  /** The server's token bucket as its headers describe it (a minute's worth for windows). */
  serverTokenCapacity(): number {
    return (this.announced.tpm ?? this.limits.tpm) * this.capacityFraction();
  }

  /**
   * Takes on `other`'s dispatches and state: both models were found to draw on one upstream limit.
   * Each side's charge learning measured spans in which the other's dispatches were hidden (its
   * ratio holds them), so it starts again; the rest keeps the more cautious of the two.
   */
  absorb(other: PoolModelQuota, now: number): void {
    const log = [...this.minuteLog.entries(now), ...other.minuteLog.entries(now)].sort((a, b) => a.at - b.at);
    this.renumber(log);
    for (const [mine, theirs] of [
      [this.rpm, other.rpm],
      [this.tpm, other.tpm],
    ] as const) {
      mine.refill(now);
      theirs.refill(now);
      mine.level = Math.min(mine.level, theirs.level);
    }
    this.nextEvenAt = {
      requests: Math.max(this.nextEvenAt.requests, other.nextEvenAt.requests),
      tokens: Math.max(this.nextEvenAt.tokens, other.nextEvenAt.tokens),
    };
    // Slack raised by 429s that the other's hidden dispatches caused no longer applies.
    this.paceSlack = LIMITER_DEFAULTS.paceMargin;
    if (this.window.index === other.window.index) {
      this.window.requests += other.window.requests;
      this.window.tokens += other.window.tokens;
    }
    this.pausedUntil = Math.max(this.pausedUntil, other.pausedUntil);
    this.probesInFlight += other.probesInFlight;
    this.rpd ??= other.rpd;
    this.tpd ??= other.tpd;
    if (this.limits.rpd === undefined && other.limits.rpd !== undefined) this.limits.rpd = other.limits.rpd;
    if (this.limits.tpd === undefined && other.limits.tpd !== undefined) this.limits.tpd = other.limits.tpd;
  }

  /**
   * A quota of its own for `owners` (models that no longer draw on this quota's limit): it starts
   * from what this one learned (limits, enforcement, level) and takes their dispatches of the last
   * minute with it. Both sides' charge learning measured spans holding the other's dispatches.
   */
  split(owners: string[], ceiling: QuotaLimits | undefined, now: number): PoolModelQuota {
    const q = new PoolModelQuota(ceiling, this.margin, this.limits, now);
    q.learned = this.learned;
    q.announced = { ...this.announced };
    q.enforcement = { ...this.enforcement };
    q.capacitySamples.requests.push(...this.capacitySamples.requests);
    q.capacitySamples.tokens.push(...this.capacitySamples.tokens);
    q.windowHeadroom = this.windowHeadroom;
    q.shapeBuckets();
    this.rpm.refill(now);
    this.tpm.refill(now);
    q.rpm.level = Math.min(q.rpm.capacity, this.rpm.level);
    q.tpm.level = Math.min(q.tpm.capacity, this.tpm.level);
    if (q.rpd && this.rpd) q.rpd.level = this.rpd.level;
    if (q.tpd && this.tpd) q.tpd.level = this.tpd.level;
    q.nextEvenAt = { ...this.nextEvenAt };
    q.pausedUntil = this.pausedUntil;
    q.window = { ...this.window };
    const log = this.minuteLog.entries(now);
    q.renumber(log.filter((e) => owners.includes(e.owner)));
    this.renumber(log.filter((e) => !owners.includes(e.owner)));
    return q;
  }

  /** A new minute log and a new id; the charge learning starts again. */
  private renumber(log: Array<{ at: number; tokens: number; owner: string }>): void {
    this.id = ++quotaNumbers;
    this.minuteLog.load(log, this.seq);
    this.charge = { server: 0, estimate: 0, samples: 0 };
    this.points.clear();
    this.refused.clear();
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
      enforcement: { ...this.enforcement },
      strictWindows: this.enforcement.kind === 'windows',
    };
  }
}

/** A 429 naming a daily limit: "… on tokens per day (TPD): Limit 2000000, …". */
export function parseDailyLimit(message: string): { unit: 'requests' | 'tokens'; limit: number } | undefined {
  const m = /on (tokens|requests) per day \((?:TPD|RPD)\)(?::\s*Limit\s+([\d,]+))?/i.exec(message);
  if (!m) return undefined;
  const limit = Number((m[2] ?? '').replace(/,/g, ''));
  if (!(limit > 0)) return undefined;
  return { unit: m[1]!.toLowerCase() === 'requests' ? 'requests' : 'tokens', limit };
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
