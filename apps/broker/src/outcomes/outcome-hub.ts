import { randomUUID } from 'node:crypto';
import {
  type EventLog,
  type LogConsumer,
  OUTCOMES_COMMIT_INTERVAL_MS,
  type RequestSubmitted,
  SluiceError,
  type SluiceEvent,
  TOPICS,
} from '@sluice/events';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../logger';
import { evolveRequest, type RequestState } from '../store/projections';
import { isTerminal, type RequestView, toRequestView } from './request-view';

export interface OutcomeReadStore {
  getRequestState(tenantId: string | null, requestId: string): Promise<RequestState | undefined>;
}

/**
 * Delivers outcomes to callers waiting on this API process, whichever dispatcher produced them:
 * every API process reads the outcomes topic (its own consumer group, new messages only) and
 * hands each event to the waiters of its request, who evolve the request's state with it (the
 * same pure projection the store applies). So a result reaches the caller as soon as it is in the
 * log, without waiting for the store. A slow poll of the store backs this up: a lost notification
 * delays a result, never loses it.
 */
export function createOutcomeHub(deps: {
  log: EventLog;
  store: OutcomeReadStore;
  logger: Logger;
  pollMs?: number;
}) {
  const listeners = new Map<string, Set<(event: SluiceEvent) => void>>();
  // The store is re-read only as a safety net (notifications carry the results): soon after the
  // watch starts (an outcome published just before it subscribed), then ever more rarely, up to
  // `pollMs`, jittered so that thousands of waiting callers never read the store in lockstep.
  const pollMs = deps.pollMs ?? 5_000;
  const nextPoll = (n: number) => Math.min(pollMs, 250 * 2 ** n) * (0.8 + 0.4 * Math.random());
  let consumer: LogConsumer | undefined;
  // A dispatcher can answer before the submit's own log acknowledgement has returned, so before
  // its caller listens. Events of a request a caller is about to wait for are held until it does.
  // Bounded in time and size: the append failed, or the caller went away before it listened.
  const early = new LRUCache<string, { events: SluiceEvent[] }>({ max: 10_000, ttl: 10_000 });

  /** Called before a request a caller will wait for is appended: its events are kept until the caller listens. */
  function expect(requestId: string): void {
    early.set(requestId, { events: [] });
  }

  function listen(requestId: string, onEvent: (event: SluiceEvent) => void): () => void {
    let set = listeners.get(requestId);
    if (!set) {
      set = new Set();
      listeners.set(requestId, set);
    }
    set.add(onEvent);
    const held = early.get(requestId);
    early.delete(requestId);
    for (const event of held?.events ?? []) onEvent(event);
    return () => {
      set.delete(onEvent);
      if (set.size === 0) listeners.delete(requestId);
    };
  }

  /**
   * Yields the request's view on every change, ending with its terminal state. `submitted` is the
   * event the caller has just appended: the store cannot know the request yet, so it is not read.
   */
  async function* watch(
    tenantId: string,
    requestId: string,
    signal?: AbortSignal,
    submitted?: RequestSubmitted,
  ): AsyncGenerator<RequestView> {
    let changed: (() => void) | undefined;
    let reload = !submitted;
    const arrived: SluiceEvent[] = [];
    const stop = listen(requestId, (event) => {
      if (event.tenantId !== tenantId) return;
      arrived.push(event);
      changed?.();
    });
    const onAbort = () => changed?.();
    signal?.addEventListener('abort', onAbort);
    try {
      let state = submitted && evolveRequest(undefined, submitted);
      let last: string | undefined;
      let polls = 0;
      while (!signal?.aborted) {
        if (reload) {
          reload = false;
          // A safety-net read that fails (the store busy or briefly away) must not end a wait the
          // notifications still serve: only a watch that knows nothing yet depends on it.
          const stored = await deps.store.getRequestState(tenantId, requestId).catch((error: unknown) => {
            if (!state) throw error;
            deps.logger.warn(
              { err: error, requestId },
              'could not re-read a waited-for request; still waiting',
            );
            return undefined;
          });
          if (!stored && !state)
            throw new SluiceError('not_found', `No request ${requestId} for this tenant.`);
          // The store may lag the log: keep what the events already told us unless it is newer.
          if (stored && (!state || stored.lastEventAt >= state.lastEventAt)) state = stored;
        }
        for (const event of arrived.splice(0)) state = evolveRequest(state, event);
        if (state) {
          const view = toRequestView(state);
          const fingerprint = `${view.status}/${view.attempts}`;
          if (fingerprint !== last) {
            last = fingerprint;
            yield view;
          }
          if (isTerminal(view)) return;
        }
        if (arrived.length > 0) continue;
        await new Promise<void>((resolve) => {
          changed = resolve;
          setTimeout(() => {
            reload = true;
            resolve();
          }, nextPoll(polls++)).unref();
        });
      }
    } finally {
      stop();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  return {
    async start() {
      consumer = await deps.log.consume({
        groupId: `sluice-api-${randomUUID()}`,
        topics: [TOPICS.outcomes],
        fromBeginning: false,
        // Outcomes are keyed by request: every API process reads them all, decodes only its callers'.
        accept: ({ key }) => key === null || listeners.has(key) || early.has(key),
        maxInFlight: 64,
        commitIntervalMs: OUTCOMES_COMMIT_INTERVAL_MS,
        handle: async (m) => {
          const id = m.event.requestId;
          const waiting = listeners.get(id);
          if (waiting) for (const onEvent of waiting) onEvent(m.event);
          else early.get(id)?.events.push(m.event);
        },
      });
    },
    async stop() {
      await consumer?.stop();
    },
    watch,
    expect,
    /** Resolves with the terminal view; rejects with `timeout` (the request goes on) or when aborted. */
    async waitForOutcome(
      tenantId: string,
      requestId: string,
      opts: { timeoutMs: number; signal?: AbortSignal; submitted?: RequestSubmitted | undefined },
    ): Promise<RequestView> {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
      const relay = () => controller.abort();
      opts.signal?.addEventListener('abort', relay);
      try {
        let last: RequestView | undefined;
        for await (const view of watch(tenantId, requestId, controller.signal, opts.submitted)) last = view;
        if (last && isTerminal(last)) return last;
        throw new SluiceError(
          opts.signal?.aborted ? 'cancelled' : 'timeout',
          `Request ${requestId} is still ${last?.status ?? 'queued'}; it continues. Fetch the result later with requests.get or wait({ id }).`,
          { details: { requestId } },
        );
      } finally {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', relay);
      }
    },
    listenerCount: () => listeners.size,
  };
}

export type OutcomeHub = ReturnType<typeof createOutcomeHub>;
