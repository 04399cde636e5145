import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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
  countTextTokens,
  type Dispatch,
  defaultRetryPolicy,
  type Limiter,
  parseRateLimitHeaders,
  type RetryPolicy,
} from '@sluice/limiter';
import { LRUCache } from 'lru-cache';
import type { BatchRouter } from '../batch/batch-router';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { StreamPolicy } from '../operations/operation';
import { operationFor } from '../operations/registry';
import type { StreamOpener } from '../streaming/stream-writer';
import { attemptTier, isFlexUnavailable, TIER_DEFAULTS, type TierSettings } from '../tiers/tier-policy';
import type { UpstreamClient } from '../upstream/upstream-client';
import { UpstreamFailure } from '../upstream/upstream-client';
import { type AttemptEnd, reportAttempt } from './attempt-feedback';
import { DISPATCHER_DEFAULTS } from './defaults';
import { decide, evolveAll, initialState, type Next } from './request-decider';
import { createRecorder, type Recorded, type RecorderStore } from './request-recorder';
import { attemptStreamed } from './stream-attempt';
import { attemptToFinal, type UpstreamWork } from './upstream-attempt';

/** What the dispatcher needs of the event store. */
export interface DispatcherStore extends RecorderStore {
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
  /** The limiter's pool for a request of a pool at a tier (a tier with limits of its own has its own); absent = the pool. */
  limiterPool?: (pool: string, tier: string | null) => string;
  /** Service-tier tunables (flex's deadline lead); absent = `TIER_DEFAULTS`. */
  tierSettings?: Partial<TierSettings>;
  /** Where streamed answers go as they arrive; absent = streamed requests are answered whole. */
  streams?: StreamOpener;
  /** The Batch API path for `route: 'batch_api'` requests; absent = every request goes synchronously. */
  batches?: BatchRouter;
}

/** A request this dispatcher holds: queued in the limiter, or in flight upstream. */
interface Held extends Recorded {
  firstQueuedAt: number;
  source: TopicPartition;
  inFlight: boolean;
  /** Settles the log message: its offset may be committed once the outcome is recorded. */
  settle: () => void;
  /** Gives the message up uncommitted (shutdown, rebalance): another dispatcher receives it again. */
  abandon: (reason: Error) => void;
  /** Settles with the message; duplicates of the request wait on it so none is committed early. */
  done: Promise<void>;
  /** An earlier attempt met flex without capacity (so a last attempt may fall back to the default tier). */
  flexUnavailable?: boolean;
  /** Work the upstream does in the background for the call in flight: a cancellation is forwarded to it. */
  upstreamWork?: UpstreamWork;
  /** The tenant cancelled while the call was in flight (forwarded once upstream work is known). */
  cancelAsked?: boolean;
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

const RECENT_CANCELS = 10_000;

/**
 * A request that cannot have a recorded state yet: the log hands it out for the first time, and it
 * is its original submission (not a copy an idempotent resubmit or a Batch API retry appended).
 */
export function isUnseen(
  message: ConsumedMessage,
  event: RequestSubmitted,
  cancelledEarly: { has(requestId: string): boolean },
): boolean {
  return (
    message.firstDelivery === true &&
    event.idempotencyKey === null &&
    event.eventId === eventIdFor('request.submitted', event.requestId, 0) &&
    !cancelledEarly.has(event.requestId)
  );
}

/**
 * The limiter consumer, a thin shell: it consumes the priority topics, asks the limiter when each
 * request may go (pacing), calls the upstream, and records what the decider (`request-decider.ts`)
 * says each fact means before the log offset is committed. Decisions live in the decider and in
 * `@sluice/limiter`; this file only moves facts between ports.
 */
export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { log, store, limiter, upstream, logger, metrics } = deps;
  const settings = { ...DISPATCHER_DEFAULTS, ...deps.settings };
  const tierSettings = { ...TIER_DEFAULTS, ...deps.tierSettings };
  const maxAttempts = (deps.retryPolicy ?? defaultRetryPolicy).maxAttempts;
  const clock = deps.clock ?? Date.now;
  const random = deps.random ?? Math.random;
  const dispatcherId = deps.dispatcherId ?? `dispatcher-${randomUUID().slice(0, 8)}`;
  const held = new Map<string, Held>();
  const cancelledEarly = new LRUCache<string, true>({ max: RECENT_CANCELS });
  const inFlightCalls = new Set<Promise<void>>();
  let requestConsumer: LogConsumer | undefined;
  let outcomeConsumer: LogConsumer | undefined;
  let running = false;
  let cancelWake: (() => void) | undefined;
  let wakeAt = Number.POSITIVE_INFINITY;
  let pumping = false;

  // ---- pacing loop: the limiter decides, we send ----
  function schedule(at: number): void {
    if (!running || at >= wakeAt) return;
    cancelWake?.();
    wakeAt = at;
    const delay = at - clock();
    if (delay > 0) {
      const t = setTimeout(pump, delay);
      cancelWake = () => clearTimeout(t);
    } else if (!pumping) {
      // Due now: as soon as this code yields, ahead of the bookkeeping queued behind it (the
      // caller's wait, the store), so the upstream call starts first. Requests handed over in
      // one go still share one pump.
      let live = true;
      queueMicrotask(() => {
        if (live) pump();
      });
      cancelWake = () => {
        live = false;
      };
    } else {
      // Asked from the pump itself: after this turn's I/O, so a pump never chains into another.
      const i = setImmediate(pump);
      cancelWake = () => clearImmediate(i);
    }
  }

  function pump(): void {
    cancelWake = undefined;
    wakeAt = Number.POSITIVE_INFINITY;
    if (!running) return;
    pumping = true;
    try {
      pumpNow();
    } finally {
      pumping = false;
    }
  }

  function pumpNow(): void {
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
    for (const h of held.values()) if (!h.inFlight) depth[h.state.submitted.priority]++;
    return depth;
  }

  const { recordHeld, takeDeferred, storeSubmissionNow, record } = createRecorder({
    store,
    log,
    logger,
    ...(metrics ? { metrics } : {}),
    clock,
    recordRetryMaxMs: settings.recordRetryMaxMs,
  });

  // ---- intake: a request from the log joins the limiter's queue ----
  async function handle(message: ConsumedMessage): Promise<void> {
    const event = message.event;
    if (event.type !== 'request.submitted') return;
    // A duplicate copy (producer retry, idempotent resubmit, redelivery after a rebalance) waits for
    // the original, so its offset is never committed while the original is still unanswered.
    const original = held.get(event.requestId);
    if (original) return original.done;

    // A redelivered request has a recorded state; a new one has none yet (one read, no write: the
    // request is stored below, off the caller's path). An unseen one is not even read.
    const recorded = isUnseen(message, event, cancelledEarly)
      ? undefined
      : await store.requestState(event.requestId);
    const carriedByBatch =
      recorded?.status === 'dispatched' && deps.batches !== undefined
        ? await deps.batches.owns(event.requestId, recorded.attempts)
        : false;
    const now = clock();
    const state = initialState(event, recorded);
    const admission = limiter.admit(
      {
        tenantId: event.tenantId,
        pool: limiterPool(event),
        model: event.model,
        priority: event.priority,
        tokens: event.estimate.tpmCost,
      },
      now,
    );
    const { events, next } = decide(state, {
      type: 'delivered',
      recorded,
      carriedByBatch,
      admission,
      at: now,
    });
    const unstored = recorded ? [] : [event];
    if (recorded?.status === 'dispatched' && !carriedByBatch)
      logger.warn(
        { requestId: event.requestId, tenantId: event.tenantId, attempt: state.attempt - 1 },
        'attempt lost with a previous dispatcher; retrying as a new attempt',
      );
    const after = evolveAll(state, events);
    switch (next.kind) {
      case 'ignore':
        return;
      case 'done':
        if (!admission.ok)
          metrics?.failed.inc({
            pool: event.pool,
            model: event.model,
            tenant: event.tenantId,
            reason: admission.reason,
          });
        await record(events, unstored);
        return;
      case 'batch':
        if (events.length) await record(events);
        if (deps.batches)
          return deps.batches.collect(event, after.attempt, unstored, message.timestamp || now);
        break; // no Batch API path in this process: sent synchronously
      case 'queue':
        if (events.length) await record(events);
        break;
      case 'in_flight':
      case 'retry':
        throw new Error(`a delivery cannot decide ${next.kind}`);
      default: {
        const never: never = next;
        throw new Error(`unknown decision ${String(never)}`);
      }
    }

    let settle!: () => void;
    let abandon!: (reason: Error) => void;
    const done = new Promise<void>((resolve, reject) => {
      settle = resolve;
      abandon = reject;
    });
    const h: Held = {
      state: after,
      firstQueuedAt: message.timestamp || now,
      source: { topic: message.topic, partition: message.partition },
      inFlight: false,
      settle,
      abandon,
      done,
      persisted: Promise.resolve(),
    };
    held.set(event.requestId, h);
    if (!recorded) {
      const timer = setTimeout(() => storeSubmissionNow(h), settings.storeSubmissionAfterMs);
      timer.unref();
      h.unstoredSubmission = { event, timer };
    }
    limiter.enqueue(queued(event, now), now);
    metrics?.queued.inc({ priority: event.priority });
    schedule(now);
    return done;
  }

  /** A tier with limits of its own is paced in a limiter pool of its own. */
  function limiterPool(event: RequestSubmitted): string {
    return deps.limiterPool?.(event.pool, event.tier?.tier ?? null) ?? event.pool;
  }

  function queued(event: RequestSubmitted, now: number, notBefore?: number) {
    return {
      id: event.requestId,
      tenantId: event.tenantId,
      pool: limiterPool(event),
      model: event.model,
      priority: event.priority,
      tokens: event.estimate.tpmCost,
      enqueuedAt: now,
      ...(notBefore !== undefined ? { notBefore } : {}),
    };
  }

  function finish(h: Held): void {
    held.delete(h.state.submitted.requestId);
    // Committed only once everything recorded for the request is in the store.
    storeSubmissionNow(h);
    void h.persisted.then(h.settle);
    applyBackpressure();
  }

  /** Records a decision about a held request, then does what it says. */
  async function apply(h: Held, events: SluiceEvent[], next: Next, now: number): Promise<void> {
    const s = h.state.submitted;
    h.state = evolveAll(h.state, events);
    await recordHeld(h, events);
    switch (next.kind) {
      case 'retry':
        h.inFlight = false;
        limiter.enqueue(queued(s, now, next.notBefore), now);
        schedule(next.notBefore);
        return;
      case 'done':
        if (next.deadLetter) {
          await log
            .deadLetter({
              reason: next.deadLetter.reason,
              sourceTopic: h.source.topic,
              sourcePartition: h.source.partition,
              sourceOffset: null,
              failedAt: new Date(now).toISOString(),
              requestId: s.requestId,
              tenantId: s.tenantId,
              raw: null,
              event: s,
            })
            .catch((e) =>
              logger.error({ err: e, requestId: s.requestId }, 'could not write to the dead-letter topic'),
            );
          metrics?.deadLettered.inc({ pool: s.pool, model: s.model });
        }
        finish(h);
        return;
      case 'ignore':
      case 'queue':
      case 'batch':
      case 'in_flight':
        throw new Error(`an attempt cannot decide ${next.kind}`);
      default: {
        const never: never = next;
        throw new Error(`unknown decision ${String(never)}`);
      }
    }
  }

  // ---- one upstream attempt ----
  async function send(d: Dispatch): Promise<void> {
    const h = held.get(d.request.id);
    if (!h) {
      limiter.onNoResponse(d.reservation, clock());
      return;
    }
    h.inFlight = true;
    const s = h.state.submitted;
    const reqLog = logger.child({ requestId: s.requestId, tenantId: s.tenantId, attempt: h.state.attempt });
    const dispatchedAt = clock();
    const queueWaitMs = Math.max(0, dispatchedAt - h.firstQueuedAt);
    // The tier this attempt goes at: the one admission settled on, or the default one when flex falls back.
    const tier = attemptTier(s, dispatchedAt, {
      settings: tierSettings,
      lastAttempt: h.state.attempt >= maxAttempts,
      flexUnavailableBefore: h.flexUnavailable === true,
    });
    if (tier.fallback)
      reqLog.info({ fallback: tier.fallback, deadline: s.deadline }, 'flex falls back to the default tier');
    // Recorded while the call is in flight, and always stored before its outcome is: a call that
    // answers within `recordDispatchAfterMs` has it recorded with its outcome, in one transaction.
    const sent = decide(h.state, {
      type: 'sent',
      at: dispatchedAt,
      dispatcherId,
      queueWaitMs,
      reservedTokens: d.reservation.tokens,
      batch: null,
      tier,
    });
    h.state = evolveAll(h.state, sent.events);
    let dispatchedRecorded: Promise<void> = Promise.resolve();
    const timer = setTimeout(() => {
      dispatchedRecorded = recordHeld(h, []);
    }, settings.recordDispatchAfterMs);
    timer.unref();
    h.unrecordedDispatch = { event: sent.events[0]!, timer };
    const labels = { pool: s.pool, model: s.model, tenant: s.tenantId };
    metrics?.dispatched.inc({ ...labels, priority: s.priority });
    metrics?.tokens.inc({ ...labels, kind: 'estimated' }, d.reservation.tokens);
    metrics?.queueWaitSeconds.observe({ priority: s.priority }, queueWaitMs / 1000);

    // A streamed request's chunks go on to its caller as they arrive; without a way to the caller
    // (`deps.streams`), the whole answer is taken at once and the caller's process replays it.
    const op = operationFor(s.endpoint);
    const streamed = deps.streams && op.stream?.requested(s.body) ? op.stream : undefined;
    const {
      stream: _stream,
      stream_options: _streamOptions,
      ...clientBody
    } = s.body as Record<string, unknown>;
    const body = tier.serviceTier ? { ...clientBody, service_tier: tier.serviceTier } : clientBody;
    let decision: ReturnType<typeof decide>;
    let end: AttemptEnd;
    let now: number;
    try {
      const attempt =
        streamed && deps.streams
          ? await attemptStreamed(
              upstream,
              op,
              streamed as StreamPolicy<unknown, unknown>,
              tier.serviceTier
                ? ({ ...s, body: { ...s.body, service_tier: tier.serviceTier } } as typeof s)
                : s,
              deps.streams,
            )
          : {
              kind: 'answered' as const,
              answer: await attemptToFinal(upstream, op, s.pool, body, {
                pollMs: settings.backgroundPollMs,
                pollMaxMs: settings.backgroundPollMaxMs,
                onWork: (work) => {
                  h.upstreamWork = work;
                  if (work && h.cancelAsked) forwardCancel(h);
                },
              }),
            };
      now = clock();
      if (attempt.kind === 'broken') {
        decision = decide(h.state, {
          type: 'stream_broken',
          at: now,
          cause: attempt.cause,
          message: attempt.message,
          completionTokens: countTextTokens(s.model, attempt.streamedText),
          upstreamRequestId: attempt.facts.upstreamRequestId,
          ...(attempt.final ? { final: attempt.final } : {}),
        });
        end = {
          kind: 'broken',
          status: attempt.facts.status,
          headers: attempt.facts.headers,
          events: decision.events,
          cause: attempt.cause,
          message: attempt.message,
        };
      } else {
        const r = attempt.answer;
        decision = decide(h.state, {
          type: 'answered',
          at: now,
          result: r.result,
          upstreamLatencyMs: now - dispatchedAt,
          queueWaitMs,
          upstreamRequestId: r.upstreamRequestId,
          upstreamProcessingMs: r.processingMs,
          channel: 'sync',
        });
        end = { kind: 'answered', status: r.status, headers: r.headers, events: decision.events };
      }
    } catch (error) {
      now = clock();
      const facts = error instanceof UpstreamFailure ? error.facts : { connectionError: true };
      const headers = facts.headers ? parseRateLimitHeaders(facts.headers, now) : undefined;
      const retryAfterMs = headers?.retryAfterMs;
      // Flex without capacity says nothing about the limits: the limiter must not learn it as a 429.
      const flexUnavailable = isFlexUnavailable(facts);
      if (flexUnavailable) h.flexUnavailable = true;
      decision = decide(h.state, {
        type: 'attempt_failed',
        at: now,
        failure: facts,
        message: error instanceof Error ? error.message : String(error),
        upstreamError: facts.upstreamError ?? null,
        upstreamRequestId: facts.upstreamRequestId ?? null,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        channel: 'sync',
        ...(flexUnavailable ? { flexUnavailable } : {}),
        jitter: random(),
        ...(deps.retryPolicy ? { policy: deps.retryPolicy } : {}),
      });
      end = {
        kind: 'failed',
        status: facts.status,
        headers,
        message: 'upstreamError' in facts ? facts.upstreamError?.message : undefined,
        flexUnavailable,
        events: decision.events,
        next: decision.next,
      };
    }
    reportAttempt({ limiter, metrics }, d, s, end, { dispatchedAt, now }, reqLog);
    schedule(now); // capacity or limits may have changed
    await dispatchedRecorded;
    await apply(h, decision.events, decision.next, now);
  }

  // ---- cancellations and rebalances ----
  async function onOutcome(message: ConsumedMessage): Promise<void> {
    if (message.event.type !== 'request.cancelled') return;
    const h = held.get(message.event.requestId);
    if (!h) {
      // Cancelled before it reached this dispatcher: its delivery must read the recorded state.
      cancelledEarly.set(message.event.requestId, true);
      return;
    }
    if (h.inFlight) {
      // Background work upstream is cancelled there (what it spent is billed); any other call in
      // flight completes and is billed.
      h.cancelAsked = true;
      if (h.upstreamWork) forwardCancel(h);
      return;
    }
    if (limiter.cancel(h.state.submitted.requestId)) finish(h);
  }

  /** Asks the upstream to cancel a held request's background work, once; its poll then ends with the cancelled answer. */
  function forwardCancel(h: Held): void {
    const work = h.upstreamWork;
    const s = h.state.submitted;
    if (!work) return;
    h.upstreamWork = undefined;
    h.cancelAsked = false;
    void upstream
      .request(s.pool, 'POST', work.cancel)
      .catch((error) =>
        logger.warn({ err: error, requestId: s.requestId }, 'could not cancel background work upstream'),
      );
  }

  function onAssignment(assigned: readonly TopicPartition[]): void {
    const owned = new Set(assigned.map((tp) => `${tp.topic}:${tp.partition}`));
    for (const h of [...held.values()]) {
      if (h.inFlight || owned.has(`${h.source.topic}:${h.source.partition}`)) continue;
      // Another dispatcher owns this pool now; it will receive the uncommitted message again.
      limiter.cancel(h.state.submitted.requestId);
      held.delete(h.state.submitted.requestId);
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
        limiter.cancel(h.state.submitted.requestId);
        held.delete(h.state.submitted.requestId);
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
