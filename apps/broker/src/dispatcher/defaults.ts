/** Dispatcher tunables; tests inject their own. */
export const DISPATCHER_DEFAULTS = {
  groupId: 'sluice-dispatchers',
  /**
   * Requests held in memory per priority before that topic is paused. Fair queueing between
   * tenants reaches only what is held: a backlog deeper than this hides later tenants in the log.
   */
  maxQueuedPerPriority: 20_000,
  /** Lower classes stop being read while this many higher-class requests wait. */
  pauseLowerWhenHigherQueued: 500,
  maxInFlightUpstream: 1_000,
  /** Ceiling of the wait between retries of a failing event-store write. */
  recordRetryMaxMs: 5_000,
  /** A request still queued this long has its submission stored on its own (else with its dispatch). */
  storeSubmissionAfterMs: 200,
  /**
   * A call still in flight this long has `request.dispatched` recorded on its own; a faster one has
   * it recorded with its outcome (one store transaction and one notification instead of two).
   */
  recordDispatchAfterMs: 50,
  /** How long a graceful stop waits for in-flight upstream calls. */
  drainTimeoutMs: 30_000,
  /** Background work upstream (a `background: true` response) is polled after this, doubling to `backgroundPollMaxMs`. */
  backgroundPollMs: 100,
  backgroundPollMaxMs: 2_000,
} as const;
