import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './logger';

export interface RetryUntilDoneOptions {
  /** What is being retried, for the warning logged at each failure. */
  what: string;
  logger: Logger;
  /** Ceiling of the wait between two tries (the wait doubles from 100 ms up to it). */
  maxDelayMs?: number;
  /** Called at each failure (e.g. a metric). */
  onError?: (error: unknown) => void;
}

/**
 * Runs `fn` until it succeeds, waiting longer after each failure: for writes that must never be
 * dropped (an outcome to the event store, a batch row), where giving up would lose a fact. The one
 * retry loop of the broker; upstream calls are retried by the limiter's policy instead.
 */
export async function retryUntilDone<T>(fn: () => Promise<T>, opts: RetryUntilDoneOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const delayMs = Math.min(opts.maxDelayMs ?? 5_000, 100 * 2 ** Math.min(attempt, 8));
      opts.onError?.(error);
      opts.logger.warn({ err: error, attempt, delayMs }, `${opts.what} failed; retrying`);
      await sleep(delayMs);
    }
  }
}
