import {
  type BatchRef,
  ENDPOINT_SHAPES,
  type RequestSubmitted,
  type SluiceEvent,
  type UpstreamError,
} from '@sluice/events';
import {
  type AdmissionResult,
  classifyUpstreamFailure,
  decideRetry,
  type RetryPolicy,
  type UpstreamFailureFacts,
  type UpstreamFailureKind,
} from '@sluice/limiter';
import { estimatedUsage } from '../operations/operation';
import { operationFor } from '../operations/registry';
import { type AttemptTier, FLEX_UNAVAILABLE_REASON } from '../tiers/tier-policy';
import { outcome } from './outcome-events';

/**
 * The dispatcher's decisions as a pure decider (emmett style): `decide(state, fact)` says which
 * events a fact produces and what the shell does next; `evolve(state, event)` folds an event into
 * the state. The synchronous path and the Batch API path share it, so they share one failure
 * policy. No clock, no randomness of its own, no I/O: facts carry their time and jitter.
 */

/** What the event store says of a request that the log delivers again. */
export interface RecordedState {
  status: string;
  attempts: number;
}

/** A request as the dispatcher holds it: the attempt to make (or made), and where it is. */
export interface DispatchState {
  submitted: RequestSubmitted;
  attempt: number;
  phase: 'waiting' | 'in_flight' | 'done';
}

/** How an attempt was bought: synchronously (paced by the limiter) or in a Batch API batch. */
export type AttemptChannel = 'sync' | 'batch';

export type DispatchFact =
  | {
      /** The log delivered the request's submission (for the first time, or again). */
      type: 'delivered';
      recorded: RecordedState | undefined;
      /** Its recorded attempt is carried by a stored Batch API batch (whose poller answers for it). */
      carriedByBatch: boolean;
      /** Whether the limiter could ever fit it (`limiter.admit`). */
      admission: AdmissionResult;
      at: number;
    }
  | {
      type: 'sent';
      at: number;
      dispatcherId: string;
      queueWaitMs: number;
      reservedTokens: number;
      batch: BatchRef | null;
      /** The service tier the attempt goes at, and why flex fell back to the default tier (absent: none named). */
      tier?: AttemptTier;
    }
  | {
      type: 'answered';
      at: number;
      /** The upstream's answer; validated against the endpoint's result shape here. */
      result: unknown;
      upstreamLatencyMs: number;
      queueWaitMs: number;
      upstreamRequestId: string | null;
      upstreamProcessingMs: number | null;
      channel: AttemptChannel;
    }
  | {
      /**
       * A streamed answer broke after its first chunk reached the caller, so it cannot be sent
       * again: `caller` went away (the upstream call was stopped), or the `upstream` stream broke.
       */
      type: 'stream_broken';
      at: number;
      cause: 'caller' | 'upstream';
      message: string;
      /** Output tokens the upstream streamed before the break (the shell counts them). */
      completionTokens: number;
      upstreamRequestId: string | null;
      /** The stream ended with an answer reporting a failure (`response.failed`): with its usage. */
      final?: { result: unknown; status: number; error: UpstreamError };
    }
  | {
      type: 'attempt_failed';
      at: number;
      failure: UpstreamFailureFacts;
      message: string;
      /** The upstream's own error body, when it answered one. */
      upstreamError: UpstreamError | null;
      upstreamRequestId: string | null;
      retryAfterMs?: number;
      channel: AttemptChannel;
      /** Flex had no capacity (429 resource unavailable, `isFlexUnavailable`): retried like a 5xx, not a rate limit. */
      flexUnavailable?: boolean;
      /** A uniform draw in [0, 1): the backoff's jitter. */
      jitter: number;
      policy?: RetryPolicy;
    };

/** What the shell does once the decision's events are recorded. */
export type Next =
  /** Nothing (already answered, or carried by a batch): the message may be committed. */
  | { kind: 'ignore' }
  /** Wait in the limiter's queue for attempt `state.attempt`. */
  | { kind: 'queue' }
  /** Collect it into a Batch API batch. */
  | { kind: 'batch' }
  /** The attempt is in flight. */
  | { kind: 'in_flight' }
  /** Try again as attempt `state.attempt`, not before `notBefore`. */
  | { kind: 'retry'; notBefore: number }
  /** The request ended; `deadLetter` when its retries were exhausted. */
  | { kind: 'done'; deadLetter: { reason: string } | null; failure?: UpstreamFailureKind };

export interface Decision {
  events: SluiceEvent[];
  next: Next;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** The state of a request the log delivers, from what the store recorded of it. */
export function initialState(
  submitted: RequestSubmitted,
  recorded: RecordedState | undefined,
): DispatchState {
  return { submitted, attempt: (recorded?.attempts ?? 0) + 1, phase: 'waiting' };
}

export function evolve(state: DispatchState, event: SluiceEvent): DispatchState {
  switch (event.type) {
    case 'request.submitted':
    case 'usage.recorded':
      return state;
    case 'request.dispatched':
      return { ...state, attempt: event.attempt, phase: 'in_flight' };
    case 'request.retry_scheduled':
      return { ...state, attempt: event.attempt + 1, phase: 'waiting' };
    case 'request.completed':
    case 'request.failed':
    case 'request.cancelled':
      return { ...state, phase: 'done' };
    default: {
      const never: never = event;
      return never;
    }
  }
}

export function decide(state: DispatchState, fact: DispatchFact): Decision {
  const s = state.submitted;
  switch (fact.type) {
    case 'delivered': {
      const { recorded } = fact;
      const at = new Date(fact.at);
      if (recorded && TERMINAL.has(recorded.status)) return { events: [], next: { kind: 'ignore' } };
      if (recorded?.status === 'dispatched' && fact.carriedByBatch)
        return { events: [], next: { kind: 'ignore' } };
      const events: SluiceEvent[] = [];
      if (recorded?.status === 'dispatched' && s.stream && s.replyTo) {
        // Its caller's stream broke with the dispatcher that was relaying it: a new attempt would
        // stream to nobody, so the request ends here.
        events.push(
          outcome.failed(s, state.attempt - 1, at, {
            reason: 'stream_interrupted',
            status: null,
            message: 'the dispatcher relaying this stream stopped before it ended; the caller was told',
            deadLettered: false,
            upstreamError: null,
            upstreamRequestId: null,
          }),
        );
        return { events, next: { kind: 'done', deadLetter: null } };
      }
      if (recorded?.status === 'dispatched') {
        // A previous dispatcher sent this attempt and died before recording the outcome. It is
        // never re-sent as the same attempt: the next attempt starts, so nothing is billed twice.
        events.push(
          outcome.retryScheduled(s, state.attempt - 1, at, {
            reason: 'dispatcher_lost',
            status: null,
            message: 'the dispatcher that sent this attempt stopped before its outcome was recorded',
            delayMs: 0,
            retryAt: at.toISOString(),
          }),
        );
      }
      if (s.deadline && Date.parse(s.deadline) <= fact.at) {
        events.push(
          outcome.cancelled(s, state.attempt - 1, at, {
            reason: 'deadline passed before dispatch',
            cancelledBy: 'deadline',
          }),
        );
        return { events, next: { kind: 'done', deadLetter: null } };
      }
      // Batch API requests bypass the synchronous queue: the batch queue limit paces them.
      if (s.route === 'batch_api') return { events, next: { kind: 'batch' } };
      if (!fact.admission.ok) {
        events.push(
          outcome.failed(s, state.attempt - 1, at, {
            reason: fact.admission.reason,
            status: 400,
            message: fact.admission.message,
            deadLettered: false,
            upstreamError: null,
            upstreamRequestId: null,
          }),
        );
        return { events, next: { kind: 'done', deadLetter: null } };
      }
      return { events, next: { kind: 'queue' } };
    }
    case 'sent':
      return {
        events: [
          outcome.dispatched(s, state.attempt, new Date(fact.at), {
            dispatcherId: fact.dispatcherId,
            queueWaitMs: fact.queueWaitMs,
            reservedTokens: fact.reservedTokens,
            batch: fact.batch,
            serviceTier: fact.tier?.serviceTier ?? null,
            tierFallback: fact.tier?.fallback ?? null,
          }),
        ],
        next: { kind: 'in_flight' },
      };
    case 'answered': {
      if (!ENDPOINT_SHAPES[s.endpoint].result.safeParse(fact.result).success) {
        return decide(state, {
          type: 'attempt_failed',
          at: fact.at,
          failure: { status: 200, malformed: true },
          message: `the upstream's answer is not a ${s.endpoint} result`,
          upstreamError: null,
          upstreamRequestId: fact.upstreamRequestId,
          channel: fact.channel,
          jitter: 0,
        });
      }
      const at = new Date(fact.at);
      const reported = operationFor(s.endpoint).usage(fact.result);
      const usage = reported ?? estimatedUsage(s.estimate);
      return {
        events: [
          outcome.completed(s, state.attempt, at, {
            response: fact.result,
            upstreamLatencyMs: Math.max(0, Math.round(fact.upstreamLatencyMs)),
            queueWaitMs: Math.max(0, Math.round(fact.queueWaitMs)),
            upstreamRequestId: fact.upstreamRequestId,
            upstreamProcessingMs: fact.upstreamProcessingMs,
          }),
          outcome.usage(s, state.attempt, at, {
            ...usage,
            estimated: reported === undefined,
            channel: fact.channel,
          }),
        ],
        next: { kind: 'done', deadLetter: null },
      };
    }
    case 'stream_broken': {
      // A broken stream comes without usage: what the upstream spent is estimated (the prompt as
      // admitted, the output it streamed), recorded once, like any other attempt's. A failed
      // answer that ended the stream reports its own.
      const at = new Date(fact.at);
      const prompt = s.estimate.promptTokens;
      const reported = fact.final ? operationFor(s.endpoint).usage(fact.final.result) : undefined;
      const usage = reported
        ? { ...reported, estimated: false, channel: 'sync' as const }
        : {
            ...estimatedUsage(s.estimate),
            completionTokens: fact.completionTokens,
            totalTokens: prompt + fact.completionTokens,
            estimated: true,
            channel: 'sync' as const,
          };
      const final = fact.final;
      const ended =
        fact.cause === 'caller'
          ? outcome.cancelled(s, state.attempt, at, {
              reason: `the caller closed the stream: ${fact.message}`.slice(0, 500),
              cancelledBy: 'tenant',
            })
          : final
            ? outcome.failed(s, state.attempt, at, {
                reason: classifyUpstreamFailure({
                  status: final.status,
                  ...(final.error.code ? { errorCode: final.error.code } : {}),
                }),
                status: final.status,
                message: `the upstream's answer failed after its stream was relayed: ${fact.message}`.slice(
                  0,
                  2_000,
                ),
                deadLettered: false,
                upstreamError: final.error,
                upstreamRequestId: fact.upstreamRequestId,
              })
            : outcome.failed(s, state.attempt, at, {
                reason: 'stream_interrupted',
                status: null,
                message: `the upstream stream broke after its first chunk was relayed: ${fact.message}`.slice(
                  0,
                  2_000,
                ),
                deadLettered: false,
                upstreamError: null,
                upstreamRequestId: fact.upstreamRequestId,
              });
      return {
        events: [ended, outcome.usage(s, state.attempt, at, usage)],
        next: { kind: 'done', deadLetter: null },
      };
    }
    case 'attempt_failed': {
      const at = new Date(fact.at);
      // Flex's "resource unavailable" is no rate limit: backed off like a server error, recorded as itself.
      const kind = fact.flexUnavailable ? FLEX_UNAVAILABLE_REASON : classifyUpstreamFailure(fact.failure);
      const decision = decideRetry({
        attempt: state.attempt,
        kind: fact.flexUnavailable ? 'server_error' : (kind as UpstreamFailureKind),
        ...(fact.retryAfterMs !== undefined ? { retryAfterMs: fact.retryAfterMs } : {}),
        ...(fact.policy ? { policy: fact.policy } : {}),
        random: () => fact.jitter,
      });
      if (decision.action === 'retry') {
        // A batch's next attempt is collected into the next batch at once: its flush interval is the backoff.
        const delayMs = fact.channel === 'batch' ? 0 : decision.delayMs;
        return {
          events: [
            outcome.retryScheduled(s, state.attempt, at, {
              reason: kind,
              status: fact.failure.status ?? null,
              message: fact.message.slice(0, 2_000),
              delayMs,
              retryAt: new Date(fact.at + delayMs).toISOString(),
            }),
          ],
          next: { kind: 'retry', notBefore: fact.at + delayMs },
        };
      }
      return {
        events: [
          outcome.failed(s, state.attempt, at, {
            reason: kind,
            status: fact.failure.status ?? null,
            message: `${decision.message}: ${fact.message}`.slice(0, 2_000),
            deadLettered: decision.deadLetter,
            upstreamError: fact.upstreamError,
            upstreamRequestId: fact.upstreamRequestId,
          }),
        ],
        next: {
          kind: 'done',
          deadLetter: decision.deadLetter ? { reason: `${kind}: ${decision.message}`.slice(0, 2_000) } : null,
          failure: fact.flexUnavailable ? 'server_error' : (kind as UpstreamFailureKind),
        },
      };
    }
    default: {
      const never: never = fact;
      return never;
    }
  }
}

/** Applies a decision's events to the state. */
export function evolveAll(state: DispatchState, events: readonly SluiceEvent[]): DispatchState {
  return events.reduce(evolve, state);
}
