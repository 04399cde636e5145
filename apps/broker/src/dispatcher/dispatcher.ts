import { randomUUID } from 'node:crypto';
import {
  type ConsumedMessage,
  type EventLog,
  eventIdFor,
  type LogConsumer,
  OUTCOMES_COMMIT_INTERVAL_MS,
  PRIORITIES,
  type Priority,
  REQUEST_TOPICS,
  type RequestSubmitted,
  requestTopic,
  type SluiceEvent,
  TOPICS,
  type TopicPartition,
} from '@sluice/events';
import {
  classifyUpstreamFailure,
  type Dispatch,
  decideRetry,
  type Limiter,
  parseRateLimitHeaders,
  type RetryPolicy,
} from '@sluice/limiter';
import type { BatchRouter } from '../batch/batch-router';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { UpstreamClient } from '../upstream/upstream-client';
import { UpstreamFailure } from '../upstream/upstream-client';
import { DISPATCHER_DEFAULTS } from './defaults';
import { outcome, usageFromCompletion } from './outcome-events';

/** What the dispatcher needs of the event store. */
export interface DispatcherStore {
  /**
   * Idempotent; says which events were new. `together`: no caller waits on this write, so the
   * store may hold it briefly to commit it with others (see `createEventStore`'s `lingerMs`).
   */
  append(events: SluiceEvent[], opts?: { together?: boolean }): Promise<{ inserted: readonly SluiceEvent[] }>;
  requestState(requestId: string): Promise<{ status: string; attempts: number } | undefined>;
}

export interface DispatcherDeps {
  log: EventLog;
  store: DispatcherStore;
  limiter: Limiter;
  upstream: UpstreamClient;
  logger: Logger;
  metrics?: Metrics;
  dispatcherId?: string;
  retryPolicy?: RetryPolicy;
  clock?: () => number;
  random?: () => number;
  settings?: Partial<typeof DISPATCHER_DEFAULTS>;
  /** The Batch API path for `route: 'batch_api'` requests; absent = every request goes synchronously. */
  batches?: BatchRouter;
}

/** A request this dispatcher holds: queued in the limiter, or in flight upstream. */
interface Held {
  submitted: RequestSubmitted;
  attempt: number;
  firstQueuedAt: number;
  source: TopicPartition;
  inFlight: boolean;
  /** Settles the log message: its offset may be committed once the outcome is recorded. */
  settle: () => void;
  /** Gives the message up uncommitted (shutdown, rebalance): another dispatcher receives it again. */
  abandon: (reason: Error) => void;
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
  /** Settles with the message; duplicates of the request wait on it so none is committed early. */
  done: Promise<void>;
}

export interface Dispatcher {
  start(): Promise<void>;
  /** Graceful: stop sending, let in-flight upstream calls finish and record, commit, leave the group. */
  stop(): Promise<void>;
  heldCount(): number;
  /** Started and not stopping (its consumer is in the group or joining it). */
  running(): boolean;
  readonly id: string;
  /** Requests being sent upstream right now. */
  inFlightCount(): number;
  /** Resolves once this dispatcher owns partitions (it joined its group), or rejects after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const RECENT_CANCELS = 10_000;

/**
 * A request that cannot have a recorded state yet: the log hands it out for the first time, and it
 * is its original submission (not a copy an idempotent resubmit or a Batch API retry appended).
 */
export function isUnseen(
  message: ConsumedMessage,
  event: RequestSubmitted,
  cancelledEarly: Set<string>,
): boolean {
  return (
    message.firstDelivery === true &&
    event.idempotencyKey === null &&
    event.eventId === eventIdFor('request.submitted', event.requestId, 0) &&
    !cancelledEarly.has(event.requestId)
  );
}

/**
 * The limiter consumer: reads the priority topics, asks the limiter when each request may go,
 * sends it upstream, and records every outcome before the log offset is committed.
 * Decisions live in `@sluice/limiter`; this file only moves facts between ports.
 */
export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { log, store, limiter, upstream, logger, metrics } = deps;
  const settings = { ...DISPATCHER_DEFAULTS, ...deps.settings };
  const clock = deps.clock ?? Date.now;
  const random = deps.random ?? Math.random;
  const dispatcherId = deps.dispatcherId ?? `dispatcher-${randomUUID().slice(0, 8)}`;
  const held = new Map<string, Held>();
  const cancelledEarly = new Set<string>();
  const inFlightCalls = new Set<Promise<void>>();
  let requestConsumer: LogConsumer | undefined;
  let outcomeConsumer: LogConsumer | undefined;
  let running = false;
  let cancelWake: (() => void) | undefined;
  let wakeAt = Number.POSITIVE_INFINITY;

  // ---- pacing loop: the limiter decides, we send ----
  function schedule(at: number): void {
    if (!running || at >= wakeAt) return;
    cancelWake?.();
    wakeAt = at;
    const delay = at - clock();
    // Due now: run after this turn's I/O rather than after a timer's 1 ms minimum.
    if (delay > 0) {
      const t = setTimeout(pump, delay);
      cancelWake = () => clearTimeout(t);
    } else {
      const i = setImmediate(pump);
      cancelWake = () => clearImmediate(i);
    }
  }

  function pump(): void {
    cancelWake = undefined;
    wakeAt = Number.POSITIVE_INFINITY;
    if (!running) return;
    const now = clock();
    for (const d of limiter.poll(now)) {
      const call = send(d).catch((error) =>
        logger.error({ err: error, requestId: d.request.id }, 'send crashed'),
      );
      inFlightCalls.add(call);
      void call.finally(() => inFlightCalls.delete(call));
    }
    const next = limiter.nextWakeAt(now);
    if (next !== undefined) schedule(next);
    applyBackpressure();
  }

  /** Keeps memory bounded and lower classes paused while higher ones have a backlog. */
  function applyBackpressure(): void {
    if (!requestConsumer) return;
    const depth = queueDepthByPriority();
    const pause: string[] = [];
    const resume: string[] = [];
    let higherBacklog = 0;
    for (const p of PRIORITIES) {
      const full = depth[p] >= settings.maxQueuedPerPriority;
      const starvedByHigher = higherBacklog >= settings.pauseLowerWhenHigherQueued;
      (full || starvedByHigher ? pause : resume).push(requestTopic(p));
      higherBacklog += depth[p];
    }
    const paused = new Set(requestConsumer.paused());
    const toPause = pause.filter((t) => !paused.has(t));
    const toResume = resume.filter((t) => paused.has(t));
    if (toPause.length) requestConsumer.pause(toPause);
    if (toResume.length) requestConsumer.resume(toResume);
  }

  function queueDepthByPriority(): Record<Priority, number> {
    const depth: Record<Priority, number> = { interactive: 0, standard: 0, batch: 0 };
    for (const h of held.values()) if (!h.inFlight) depth[h.submitted.priority]++;
    return depth;
  }

  // ---- recording ----
  // An outcome is published to the outcomes topic (it wakes the waiting caller, who reads the
  // result from the event) at the same time as it is written to the event store (the source of
  // truth for billing and reports). The log message is committed only after both, so a crash in
  // between redelivers the request, and the store's unique keys keep billing exactly once.

  /** Writes to the event store, retrying until it succeeds: an outcome is never dropped. */
  async function persist(events: SluiceEvent[]): Promise<void> {
    const started = clock();
    for (let attempt = 1; ; attempt++) {
      try {
        // Nobody waits on this write (the caller has its result from the notification), so the
        // store may hold it briefly to commit it with others; a retry is written at once.
        await store.append(events, { together: attempt === 1 });
        break;
      } catch (error) {
        const delay = Math.min(settings.recordRetryMaxMs, 100 * 2 ** Math.min(attempt, 8));
        logger.warn({ err: error, attempt, delayMs: delay }, 'event store unavailable; retrying');
        metrics?.storeErrors.inc();
        await sleep(delay);
      }
    }
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

  /** Events of a request this dispatcher holds: stored after its earlier events, published now. */
  function recordHeld(h: Held, events: SluiceEvent[]): Promise<void> {
    const published = [...takeDeferred(h, 'unrecordedDispatch'), ...events];
    const stored = [...takeDeferred(h, 'unstoredSubmission'), ...published];
    const persisted = h.persisted.then(() => persist(stored));
    h.persisted = persisted;
    return Promise.all([persisted, publish(published)]).then(() => undefined);
  }

  /** A held request's deferred event (`unstoredSubmission` or `unrecordedDispatch`), taken with its timer cleared. */
  function takeDeferred(h: Held, slot: 'unstoredSubmission' | 'unrecordedDispatch'): SluiceEvent[] {
    const pending = h[slot];
    if (!pending) return [];
    clearTimeout(pending.timer);
    h[slot] = undefined;
    return [pending.event];
  }

  /** Writes a held request's submission now if it is still pending (before a commit, or on a timer). */
  function storeSubmissionNow(h: Held): void {
    const events = takeDeferred(h, 'unstoredSubmission');
    if (events.length) h.persisted = h.persisted.then(() => persist(events));
  }

  /** Outcomes of a request that is not held; `unstored` are earlier events the store lacks. */
  async function record(events: SluiceEvent[], unstored: SluiceEvent[] = []): Promise<void> {
    await Promise.all([persist([...unstored, ...events]), publish(events)]);
  }

  // ---- intake: a request from the log joins the limiter's queue ----
  async function handle(message: ConsumedMessage): Promise<void> {
    const event = message.event;
    if (event.type !== 'request.submitted') return;
    const reqLog = logger.child({ requestId: event.requestId, tenantId: event.tenantId });
    // A duplicate copy (producer retry, idempotent resubmit, redelivery after a rebalance) waits for
    // the original, so its offset is never committed while the original is still unanswered.
    const original = held.get(event.requestId);
    if (original) return original.done;

    // A redelivered request has a recorded state; a new one has none yet (one read, no write: the
    // request is stored below, off the caller's path). An unseen one is not even read.
    const state = isUnseen(message, event, cancelledEarly)
      ? undefined
      : await store.requestState(event.requestId);
    if (state && TERMINAL.has(state.status)) return; // redelivered after its outcome was recorded
    // Its attempt is in a batch: the batch's poller records the outcome (not a lost synchronous call).
    if (state?.status === 'dispatched' && (await deps.batches?.owns(event.requestId, state.attempts))) return;

    const now = clock();
    const attempt = (state?.attempts ?? 0) + 1;
    const unstored = state ? [] : [event];
    if (state?.status === 'dispatched') {
      // A previous dispatcher sent this attempt and died before recording the outcome.
      // It is never re-sent as the same attempt: the next attempt starts, so nothing is billed twice.
      const lost = attempt - 1;
      reqLog.warn({ attempt: lost }, 'attempt lost with a previous dispatcher; retrying as a new attempt');
      await record([
        outcome.retryScheduled(event, lost, new Date(now), {
          reason: 'dispatcher_lost',
          status: null,
          message: 'the dispatcher that sent this attempt stopped before its outcome was recorded',
          delayMs: 0,
          retryAt: new Date(now).toISOString(),
        }),
      ]);
    }
    if (event.deadline && Date.parse(event.deadline) <= now) {
      await record(
        [
          outcome.cancelled(event, attempt - 1, new Date(now), {
            reason: 'deadline passed before dispatch',
            cancelledBy: 'deadline',
          }),
        ],
        unstored,
      );
      return;
    }
    // Batch API requests bypass the synchronous queue: the batch queue limit paces them.
    if (event.route === 'batch_api' && deps.batches)
      return deps.batches.collect(event, attempt, unstored, message.timestamp || now);
    const admission = limiter.admit(
      {
        tenantId: event.tenantId,
        pool: event.pool,
        model: event.model,
        priority: event.priority,
        tokens: event.estimate.tpmCost,
      },
      now,
    );
    if (!admission.ok) {
      metrics?.failed.inc({
        pool: event.pool,
        model: event.model,
        tenant: event.tenantId,
        reason: admission.reason,
      });
      await record(
        [
          outcome.failed(event, attempt - 1, new Date(now), {
            reason: admission.reason,
            status: 400,
            message: admission.message,
            deadLettered: false,
          }),
        ],
        unstored,
      );
      return;
    }

    let settle!: () => void;
    let abandon!: (reason: Error) => void;
    const done = new Promise<void>((resolve, reject) => {
      settle = resolve;
      abandon = reject;
    });
    held.set(event.requestId, {
      submitted: event,
      attempt,
      firstQueuedAt: message.timestamp || now,
      source: { topic: message.topic, partition: message.partition },
      inFlight: false,
      settle,
      abandon,
      done,
      persisted: Promise.resolve(),
    });
    if (!state) {
      const h = held.get(event.requestId)!;
      const timer = setTimeout(() => storeSubmissionNow(h), settings.storeSubmissionAfterMs);
      timer.unref();
      h.unstoredSubmission = { event, timer };
    }
    limiter.enqueue(queued(event, now), now);
    metrics?.queued.inc({ priority: event.priority });
    schedule(now);
    return done;
  }

  function queued(event: RequestSubmitted, now: number, notBefore?: number) {
    return {
      id: event.requestId,
      tenantId: event.tenantId,
      pool: event.pool,
      model: event.model,
      priority: event.priority,
      tokens: event.estimate.tpmCost,
      enqueuedAt: now,
      ...(notBefore !== undefined ? { notBefore } : {}),
    };
  }

  function finish(h: Held): void {
    held.delete(h.submitted.requestId);
    // Committed only once everything recorded for the request is in the store.
    storeSubmissionNow(h);
    void h.persisted.then(h.settle);
    applyBackpressure();
  }

  // ---- one upstream attempt ----
  async function send(d: Dispatch): Promise<void> {
    const h = held.get(d.request.id);
    if (!h) {
      limiter.onNoResponse(d.reservation, clock());
      return;
    }
    h.inFlight = true;
    const s = h.submitted;
    const attempt = h.attempt;
    const reqLog = logger.child({ requestId: s.requestId, tenantId: s.tenantId, attempt });
    const dispatchedAt = clock();
    const queueWaitMs = Math.max(0, dispatchedAt - h.firstQueuedAt);
    // Recorded while the call is in flight, and always stored before its outcome is: a call that
    // answers within `recordDispatchAfterMs` has it recorded with its outcome, in one transaction.
    const dispatched = outcome.dispatched(s, attempt, new Date(dispatchedAt), {
      dispatcherId,
      queueWaitMs,
      reservedTokens: d.reservation.tokens,
      batch: null,
    });
    let dispatchedRecorded: Promise<void> = Promise.resolve();
    const timer = setTimeout(() => {
      dispatchedRecorded = recordHeld(h, []);
    }, settings.recordDispatchAfterMs);
    timer.unref();
    h.unrecordedDispatch = { event: dispatched, timer };
    metrics?.dispatched.inc({ pool: s.pool, model: s.model, priority: s.priority, tenant: s.tenantId });
    metrics?.tokens.inc(
      { pool: s.pool, model: s.model, tenant: s.tenantId, kind: 'estimated' },
      d.reservation.tokens,
    );
    metrics?.queueWaitSeconds.observe({ priority: s.priority }, queueWaitMs / 1000);

    const { stream: _stream, stream_options: _streamOptions, ...body } = s.body as Record<string, unknown>;
    try {
      const r = await upstream.chat(s.pool, body);
      const now = clock();
      const usage = usageFromCompletion(r.completion, s.estimate);
      limiter.onResponse(
        d.reservation,
        { status: r.status, headers: parseRateLimitHeaders(r.headers, now), actualTokens: usage.totalTokens },
        now,
      );
      schedule(now); // capacity or limits may have changed
      await recordHeld(h, [
        outcome.completed(s, attempt, new Date(now), {
          response: r.completion as unknown as { id: string; choices: unknown[] },
          upstreamLatencyMs: Math.max(0, now - dispatchedAt),
          queueWaitMs,
          upstreamRequestId: r.upstreamRequestId,
        }),
        outcome.usage(s, attempt, new Date(now), usage),
      ]);
      const labels = { pool: s.pool, model: s.model, tenant: s.tenantId };
      metrics?.completed.inc(labels);
      metrics?.tokens.inc({ ...labels, kind: 'prompt' }, usage.promptTokens);
      metrics?.tokens.inc({ ...labels, kind: 'cached' }, usage.cachedTokens);
      metrics?.tokens.inc({ ...labels, kind: 'completion' }, usage.completionTokens);
      metrics?.tokens.inc({ ...labels, kind: 'reasoning' }, usage.reasoningTokens);
      metrics?.upstreamLatencySeconds.observe({ pool: s.pool, model: s.model }, (now - dispatchedAt) / 1000);
      reqLog.debug({ latencyMs: now - dispatchedAt }, 'completed');
      await dispatchedRecorded;
      finish(h);
    } catch (error) {
      await dispatchedRecorded;
      await onFailure(h, d, error, dispatchedAt, reqLog);
    }
  }

  async function onFailure(h: Held, d: Dispatch, error: unknown, dispatchedAt: number, reqLog: Logger) {
    const s = h.submitted;
    const attempt = h.attempt;
    const now = clock();
    const facts = error instanceof UpstreamFailure ? error.facts : { connectionError: true };
    const headers = facts.headers ? parseRateLimitHeaders(facts.headers, now) : undefined;
    if (facts.status !== undefined && headers)
      limiter.onResponse(d.reservation, { status: facts.status, headers }, now);
    else limiter.onNoResponse(d.reservation, now);

    schedule(now);
    const kind = classifyUpstreamFailure(facts);
    const labels = { pool: s.pool, model: s.model, tenant: s.tenantId };
    metrics?.upstreamErrors.inc({ ...labels, kind });
    if (facts.status === 429) metrics?.upstream429.inc(labels);
    const decision = decideRetry({
      attempt,
      kind,
      ...(headers?.retryAfterMs !== undefined ? { retryAfterMs: headers.retryAfterMs } : {}),
      ...(deps.retryPolicy ? { policy: deps.retryPolicy } : {}),
      random,
    });
    const message = error instanceof Error ? error.message : String(error);
    if (decision.action === 'retry') {
      reqLog.info(
        { kind, status: facts.status, delayMs: decision.delayMs },
        'upstream attempt failed; retry scheduled',
      );
      await recordHeld(h, [
        outcome.retryScheduled(s, attempt, new Date(now), {
          reason: kind,
          status: facts.status ?? null,
          message: message.slice(0, 2_000),
          delayMs: decision.delayMs,
          retryAt: new Date(now + decision.delayMs).toISOString(),
        }),
      ]);
      h.attempt = attempt + 1;
      h.inFlight = false;
      limiter.enqueue(queued(s, now, now + decision.delayMs), now);
      schedule(now + decision.delayMs);
      return;
    }
    reqLog.warn(
      { kind, status: facts.status, deadLetter: decision.deadLetter, upstreamMs: now - dispatchedAt },
      'request failed',
    );
    await recordHeld(h, [
      outcome.failed(s, attempt, new Date(now), {
        reason: kind,
        status: facts.status ?? null,
        message: decision.message.slice(0, 2_000),
        deadLettered: decision.deadLetter,
      }),
    ]);
    metrics?.failed.inc({ ...labels, reason: kind });
    if (decision.deadLetter) {
      await log
        .deadLetter({
          reason: `${kind}: ${decision.message}`.slice(0, 2_000),
          sourceTopic: h.source.topic,
          sourcePartition: h.source.partition,
          sourceOffset: null,
          failedAt: new Date(now).toISOString(),
          requestId: s.requestId,
          tenantId: s.tenantId,
          raw: null,
          event: s,
        })
        .catch((e) => reqLog.error({ err: e }, 'could not write to the dead-letter topic'));
      metrics?.deadLettered.inc({ pool: s.pool, model: s.model });
    }
    finish(h);
  }

  // ---- cancellations and rebalances ----
  async function onOutcome(message: ConsumedMessage): Promise<void> {
    if (message.event.type !== 'request.cancelled') return;
    const h = held.get(message.event.requestId);
    if (!h) {
      // Cancelled before it reached this dispatcher: its delivery must read the recorded state.
      cancelledEarly.add(message.event.requestId);
      if (cancelledEarly.size > RECENT_CANCELS) cancelledEarly.delete(cancelledEarly.values().next().value!);
      return;
    }
    if (h.inFlight) return; // in flight: the upstream call completes and is billed
    if (limiter.cancel(h.submitted.requestId)) finish(h);
  }

  function onAssignment(assigned: readonly TopicPartition[]): void {
    const owned = new Set(assigned.map((tp) => `${tp.topic}:${tp.partition}`));
    for (const h of [...held.values()]) {
      if (h.inFlight || owned.has(`${h.source.topic}:${h.source.partition}`)) continue;
      // Another dispatcher owns this pool now; it will receive the uncommitted message again.
      limiter.cancel(h.submitted.requestId);
      held.delete(h.submitted.requestId);
      takeDeferred(h, 'unstoredSubmission'); // the new owner stores it
      h.abandon(new AbandonedError('partition reassigned'));
    }
    logger.info({ partitions: assigned.length }, 'partitions assigned');
  }

  return {
    async start() {
      running = true;
      outcomeConsumer = await log.consume({
        groupId: `sluice-dispatcher-cancellations-${dispatcherId}`,
        topics: [TOPICS.outcomes],
        fromBeginning: false,
        maxInFlight: 1,
        // Only cancellations concern a dispatcher: the rest of the topic is not even decoded.
        accept: ({ type }) => type === undefined || type === 'request.cancelled',
        commitIntervalMs: OUTCOMES_COMMIT_INTERVAL_MS,
        handle: onOutcome,
      });
      requestConsumer = await log.consume({
        groupId: settings.groupId,
        topics: REQUEST_TOPICS,
        fromBeginning: true,
        maxInFlight: settings.maxQueuedPerPriority * PRIORITIES.length + settings.maxInFlightUpstream,
        handle,
        onAssignment,
        onHandlerError: (error, m) =>
          logger.warn(
            { err: error, topic: m.topic, partition: m.partition, offset: m.offset },
            'handler failed; retrying',
          ),
      });
      deps.batches?.start();
      logger.info({ dispatcherId }, 'dispatcher started');
    },
    async stop() {
      running = false;
      cancelWake?.();
      // Queued (not yet sent) requests stay uncommitted: the next dispatcher receives them again.
      await deps.batches?.stop((reason) => new AbandonedError(reason));
      await Promise.race([Promise.allSettled([...inFlightCalls]), sleep(settings.drainTimeoutMs)]);
      for (const h of [...held.values()]) {
        if (h.inFlight) continue;
        limiter.cancel(h.submitted.requestId);
        held.delete(h.submitted.requestId);
        takeDeferred(h, 'unstoredSubmission');
        h.abandon(new AbandonedError('dispatcher stopping'));
      }
      await Promise.allSettled([requestConsumer?.stop(), outcomeConsumer?.stop()]);
      logger.info({ dispatcherId, abandoned: held.size }, 'dispatcher stopped');
    },
    heldCount: () => held.size,
    running: () => running,
    id: dispatcherId,
    inFlightCount: () => inFlightCalls.size,
    async ready(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!requestConsumer || requestConsumer.assignment().length === 0) {
        if (Date.now() > deadline) throw new Error('the dispatcher was assigned no partitions in time');
        await sleep(50);
      }
    },
  };
}

/** A held message given up on purpose; the log must not commit it. */
export class AbandonedError extends Error {
  override readonly name = 'AbandonedError';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
