import type { Priority } from './priority';

/** Every topic name Sluice uses, in one place. */
export const TOPICS = {
  requests: {
    interactive: 'sluice.requests.interactive',
    standard: 'sluice.requests.standard',
    batch: 'sluice.requests.batch',
  },
  /** Outcome events (dispatched, retries, completed, failed, cancelled, usage): API processes deliver results from it. */
  outcomes: 'sluice.outcomes',
  /** Requests whose retries are exhausted, and messages no consumer could decode. */
  deadLetter: 'sluice.dead-letter',
} as const satisfies { requests: Record<Priority, string>; outcomes: string; deadLetter: string };

export type TopicName =
  | (typeof TOPICS.requests)[Priority]
  | typeof TOPICS.outcomes
  | typeof TOPICS.deadLetter;

export const REQUEST_TOPICS: readonly string[] = Object.values(TOPICS.requests);
export const ALL_TOPICS: readonly string[] = [...REQUEST_TOPICS, TOPICS.outcomes, TOPICS.deadLetter];

/**
 * How often a reader of the outcomes topic commits: it reads only new messages, and re-reading a
 * second of notifications after a restart costs nothing.
 */
export const OUTCOMES_COMMIT_INTERVAL_MS = 1_000;

export function requestTopic(priority: Priority): string {
  return TOPICS.requests[priority];
}

/**
 * Requests are keyed by upstream pool: with the same partition count on every priority topic,
 * one pool's traffic of every class lands on the same partition number, so one dispatcher owns it.
 */
export function requestKey(pool: string): string {
  return pool;
}
