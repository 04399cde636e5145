import type { Priority } from './priority';
import type { QuotaLimits } from './quota';

/** Tunables of the limiter; tests and operators inject their own. */
export const LIMITER_DEFAULTS = {
  /** Fraction of the token limit held back for estimation error (requests are counted exactly). */
  safetyMargin: 0.005,
  /** Before the upstream announces its limits: one probe request, then these. */
  initialLimits: { rpm: 60, tpm: 30_000 } satisfies QuotaLimits,
  /** Guaranteed minimum share of dispatches for a lower class that has work. */
  priorityFloors: { interactive: 0, standard: 0.1, batch: 0.05 } satisfies Record<Priority, number>,
  /** Pacing runs this fraction under the refill rate (the bucket then stays just above empty). */
  paceMargin: 0.001,
  /** After a 429 the bucket explains: slack × `growth` + `step` (at most `max`), then × `easePerDispatch` back toward `paceMargin`. */
  paceSlack: { growth: 1.5, step: 0.002, max: 0.75, easePerDispatch: 0.9995 },
  /** A late limiter wake-up keeps up to this much of its slot (besides a quarter interval). */
  lateTimerCreditMs: 30,
  /** No dispatch in the last ms of a window: a request sent then may land in the next window upstream. */
  windowGuardMs: 8,
  /**
   * Share of each fixed window's tokens held back for the noise of our charge estimates: `initial`,
   * then × `growth` + `step` on each 429 inside the windows (at most `max`), × `decayPerSecond` per
   * second of windows used without one. The balance settles near one overflow in several hundred windows.
   */
  windowHeadroom: { initial: 0.02, growth: 1.5, step: 0.005, max: 0.25, decayPerSecond: 0.998 },
  /** Two 429s the bucket does not explain within this many dispatches: the upstream enforces fixed windows. */
  windowEvidenceDispatches: 1_000,
  /** A 429's implied window boundary (dispatch + retry-after) may be this far off a multiple of the window. */
  windowBoundaryToleranceMs: 60,
  /** Successful answers without limit headers, before the limits are unknown, after which the assumed ones are kept. */
  headerlessAnswersBeforeAssuming: 3,
  /** Once a daily limit is known, batch-class work leaves this share of the day's budget to interactive traffic. */
  dailyInteractiveReserve: 0.2,
  /** Pause after a 429 that names no retry-after. */
  fallbackPauseMs: 1_000,
  /** Memory of the recent dispatch mix (for floors): half-life in dispatches. */
  shareHalfLife: 200,
  /** Memory of the upstream's charge per estimated token: half-life in observed requests. */
  chargeRatioHalfLife: 100,
  /** Observed requests before the learned charge ratio is used. */
  chargeRatioMinSamples: 8,
  /**
   * Models of a pool drawing on one upstream limit: spans of `spans` consecutive answers of one
   * model, the last `windowSamples` of each pair tested every `testEvery` new ones, a verdict
   * changing once at least `minSamples` show the other hypothesis better by `zToChange` standard
   * errors. Dispatches remembered: `memoryDispatches`.
   */
  sharedLimit: {
    spans: [1],
    windowSamples: 256,
    testEvery: 8,
    minSamples: 64,
    zToChange: 5,
    memoryDispatches: 4_096,
  },
  /** The learned charge ratio stays within these bounds (a wild header must not stall or flood a pool). */
  chargeRatioBounds: { min: 0.25, max: 4 },
} as const;

/** Tunables of token estimation. */
export const TOKEN_ESTIMATE_DEFAULTS = {
  /** OpenAI's cap on 32-px patches per image for patch-priced models. */
  imagePatchCap: 1_536,
} as const;

/** Output allowance charged when a request sets no max_tokens (matches what the upstream assumes). */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4_096;

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 6, baseDelayMs: 500, maxDelayMs: 30_000 };
