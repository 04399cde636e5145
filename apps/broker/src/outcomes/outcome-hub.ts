import { randomUUID } from 'node:crypto';
import { type EventLog, type LogConsumer, SluiceError, TOPICS } from '@sluice/events';
import type { Logger } from '../logger';
import { isTerminal, type RequestView } from './request-view';

export interface OutcomeReadStore {
  getRequestView(tenantId: string | null, requestId: string): Promise<RequestView | undefined>;
}

/**
 * Delivers outcomes to callers waiting on this API process, whichever dispatcher produced them:
 * every API process reads the outcomes topic (its own consumer group, new messages only) and
 * wakes the waiters of that request. The store stays the truth: waiters re-read it on every
 * notification and on a slow poll, so a lost notification delays a result, never loses it.
 */
export function createOutcomeHub(deps: {
  log: EventLog;
  store: OutcomeReadStore;
  logger: Logger;
  pollMs?: number;
}) {
  const listeners = new Map<string, Set<() => void>>();
  const pollMs = deps.pollMs ?? 1_000;
  let consumer: LogConsumer | undefined;

  function listen(requestId: string, wake: () => void): () => void {
    let set = listeners.get(requestId);
    if (!set) {
      set = new Set();
      listeners.set(requestId, set);
    }
    set.add(wake);
    return () => {
      set.delete(wake);
      if (set.size === 0) listeners.delete(requestId);
    };
  }

  /** Yields the request's view on every change, ending with its terminal state. */
  async function* watch(
    tenantId: string,
    requestId: string,
    signal?: AbortSignal,
  ): AsyncGenerator<RequestView> {
    let changed: (() => void) | undefined;
    let pending = true;
    const stop = listen(requestId, () => {
      pending = true;
      changed?.();
    });
    const onAbort = () => changed?.();
    signal?.addEventListener('abort', onAbort);
    try {
      let last: string | undefined;
      while (!signal?.aborted) {
        if (pending) {
          pending = false;
          const view = await deps.store.getRequestView(tenantId, requestId);
          if (!view) throw new SluiceError('not_found', `No request ${requestId} for this tenant.`);
          const fingerprint = `${view.status}/${view.attempts}`;
          if (fingerprint !== last) {
            last = fingerprint;
            yield view;
          }
          if (isTerminal(view)) return;
        }
        await new Promise<void>((resolve) => {
          changed = resolve;
          setTimeout(() => {
            pending = true;
            resolve();
          }, pollMs).unref();
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
        maxInFlight: 64,
        handle: async (m) => {
          for (const wake of listeners.get(m.event.requestId) ?? []) wake();
        },
      });
    },
    async stop() {
      await consumer?.stop();
    },
    watch,
    /** Resolves with the terminal view; rejects with `timeout` (the request goes on) or when aborted. */
    async waitForOutcome(
      tenantId: string,
      requestId: string,
      opts: { timeoutMs: number; signal?: AbortSignal },
    ): Promise<RequestView> {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
      const relay = () => controller.abort();
      opts.signal?.addEventListener('abort', relay);
      try {
        let last: RequestView | undefined;
        for await (const view of watch(tenantId, requestId, controller.signal)) last = view;
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
