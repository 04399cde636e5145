import { type EventLog, type RequestSubmitted, type SluiceEvent, TOPICS } from '@sluice/events';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { operationFor } from '../operations/registry';
import { retryUntilDone } from '../retry-until-done';
import type { DispatchState } from './request-decider';

/** What the recorder needs of the event store. */
export interface RecorderStore {
  /**
   * Idempotent; says which events were new. `together`: no caller waits on this write, so the
   * store may hold it briefly to commit it with others (see `createEventStore`'s `lingerMs`).
   */
  append(events: SluiceEvent[], opts?: { together?: boolean }): Promise<{ inserted: readonly SluiceEvent[] }>;
}

/** A held request as far as recording goes: its writes in order, and the two that may wait. */
export interface Recorded {
  /** The decider's state of the request (its submission, the attempt to make, where it is). */
  state: DispatchState;
  /** This request's event-store writes, in order: each waits for the one before. */
  persisted: Promise<void>;
  /**
   * `request.submitted` not written yet: it goes in one transaction with `request.dispatched` when
   * the request is sent soon, or on its own after a short delay (so every API process can show a
   * request that waits in the queue).
   */
  unstoredSubmission?: { event: RequestSubmitted; timer: NodeJS.Timeout };
  /**
   * `request.dispatched` of the call in flight, not recorded yet: it is stored and published with
   * the call's outcome when that comes soon, or on its own once the call has run for a while.
   */
  unrecordedDispatch?: { event: SluiceEvent; timer: NodeJS.Timeout };
}

/**
 * Where the dispatcher's events go. An outcome is published to the outcomes topic (it wakes the
 * waiting caller, who reads the result from the event) at the same time as it is written to the
 * event store (the source of truth for billing and reports). The log message is committed only
 * after both, so a crash in between redelivers the request, and the store's unique keys keep
 * billing exactly once.
 */
export function createRecorder(deps: {
  store: RecorderStore;
  log: Pick<EventLog, 'notify'>;
  logger: Logger;
  metrics?: Metrics;
  clock: () => number;
  /** Ceiling of the wait between retries of a failing event-store write. */
  recordRetryMaxMs: number;
}) {
  const { store, log, logger, metrics, clock } = deps;

  /** Writes to the event store, retrying until it succeeds: an outcome is never dropped. */
  async function persist(events: SluiceEvent[]): Promise<void> {
    const started = clock();
    let tries = 0;
    // Nobody waits on this write (the caller has its result from the notification), so the store
    // may hold it briefly to commit it with others; a retry is written at once.
    await retryUntilDone(() => store.append(events, { together: tries++ === 0 }), {
      what: 'event store append',
      logger,
      maxDelayMs: deps.recordRetryMaxMs,
      onError: () => metrics?.storeErrors.inc(),
    });
    metrics?.storeAppendSeconds.observe((clock() - started) / 1000);
  }

  async function publish(events: SluiceEvent[]): Promise<void> {
    try {
      await log.notify(events.map((event) => ({ topic: TOPICS.outcomes, key: event.requestId, event })));
    } catch (error) {
      // Waiters also poll the store, so a lost notification delays a result, never loses it.
      logger.warn({ err: error }, 'could not publish outcome notification');
    }
  }

  /** An answer that creates upstream state (a response id). */
  function createsState(h: Recorded, events: readonly SluiceEvent[]): boolean {
    return (
      operationFor(h.state.submitted.endpoint).upstreamState !== undefined &&
      events.some((e) => e.type === 'request.completed')
    );
  }

  /** A held request's deferred event (`unstoredSubmission` or `unrecordedDispatch`), taken with its timer cleared. */
  function takeDeferred(h: Recorded, slot: 'unstoredSubmission' | 'unrecordedDispatch'): SluiceEvent[] {
    const pending = h[slot];
    if (!pending) return [];
    clearTimeout(pending.timer);
    h[slot] = undefined;
    return [pending.event];
  }

  return {
    /** Events of a request this dispatcher holds: stored after its earlier events, published now. */
    recordHeld(h: Recorded, events: SluiceEvent[]): Promise<void> {
      const published = [...takeDeferred(h, 'unrecordedDispatch'), ...events];
      const stored = [...takeDeferred(h, 'unstoredSubmission'), ...published];
      const persisted = h.persisted.then(() => persist(stored));
      h.persisted = persisted;
      // Published once stored when it creates upstream state, so a follow-up naming it — sent the
      // moment its caller has it, to any API process — finds it.
      if (createsState(h, events)) return persisted.then(() => publish(published));
      return Promise.all([persisted, publish(published)]).then(() => undefined);
    },

    takeDeferred,

    /** Writes a held request's submission now if it is still pending (before a commit, or on a timer). */
    storeSubmissionNow(h: Recorded): void {
      const events = takeDeferred(h, 'unstoredSubmission');
      if (events.length) h.persisted = h.persisted.then(() => persist(events));
    },

    /** Outcomes of a request that is not held; `unstored` are earlier events the store lacks. */
    async record(events: SluiceEvent[], unstored: SluiceEvent[] = []): Promise<void> {
      await Promise.all([persist([...unstored, ...events]), publish(events)]);
    },
  };
}
