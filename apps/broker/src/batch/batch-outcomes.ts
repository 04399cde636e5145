import type { RequestSubmitted, SluiceEvent } from '@sluice/events';
import type { RetryPolicy, UpstreamFailureFacts, UpstreamFailureKind } from '@sluice/limiter';
import { decide } from '../dispatcher/request-decider';
import { upstreamErrorOf } from '../upstream/upstream-client';
import type { BatchResultLine } from './batch-file';

/** The Batch API's terminal statuses: nothing more will come for the batch's requests. */
export const TERMINAL_BATCH_STATUSES = ['completed', 'failed', 'expired', 'cancelled'] as const;
export type TerminalBatchStatus = (typeof TERMINAL_BATCH_STATUSES)[number];

export function isTerminalBatchStatus(status: string): status is TerminalBatchStatus {
  return (TERMINAL_BATCH_STATUSES as readonly string[]).includes(status);
}

/** What one request got from a finished batch. */
export type LineResult =
  | { ok: true; result: unknown; upstreamRequestId: string | null }
  | { ok: false; facts: UpstreamFailureFacts; message: string; upstreamRequestId?: string | null };

/** Why a whole batch failed (its `errors.data[0]`), when it did. */
export interface BatchFailure {
  code: string | null;
  message: string;
}

/**
 * Each member's result: its output line, else its error-file line, else what the batch's end says
 * about a request it never answered (the batch failed, expired, or lost the line).
 */
export function resultsByRequest(input: {
  requestIds: readonly string[];
  status: TerminalBatchStatus;
  failure: BatchFailure | null;
  output: readonly BatchResultLine[];
  errors: readonly BatchResultLine[];
}): Map<string, LineResult> {
  const lines = new Map<string, BatchResultLine>();
  // An output line wins over an error line for the same request (it was answered and billed).
  for (const l of input.errors) lines.set(l.custom_id, l);
  for (const l of input.output) lines.set(l.custom_id, l);
  const results = new Map<string, LineResult>();
  for (const id of input.requestIds) {
    const line = lines.get(id);
    results.set(id, line ? lineResult(line) : unanswered(input.status, input.failure));
  }
  return results;
}

function lineResult(line: BatchResultLine): LineResult {
  const r = line.response;
  // A success's shape is checked against its endpoint by the decider.
  if (r && r.status_code >= 200 && r.status_code < 300)
    return { ok: true, result: r.body, upstreamRequestId: r.request_id ?? null };
  if (r) {
    const e = (r.body as { error?: { message?: string } } | null)?.error;
    return {
      ok: false,
      facts: { status: r.status_code, body: r.body },
      message: e?.message ?? `batch line failed with status ${r.status_code}`,
      upstreamRequestId: r.request_id ?? null,
    };
  }
  const code = line.error?.code ?? null;
  const message = line.error?.message ?? 'batch line failed without a response';
  // A line that expired with its batch was never run: retried like a timeout.
  if (code === 'batch_expired') return { ok: false, facts: { timedOut: true }, message };
  return {
    ok: false,
    facts: { status: 500, body: { error: { code, message } }, ...(code ? { errorCode: code } : {}) },
    message,
  };
}

function unanswered(status: TerminalBatchStatus, failure: BatchFailure | null): LineResult {
  switch (status) {
    case 'failed':
      if (failure?.code === 'token_limit_exceeded')
        // The batch queue was full: nothing was run, and a later batch will fit (retriable like a 429).
        return {
          ok: false,
          facts: { status: 429, body: { error: { code: 'rate_limit_exceeded', message: failure.message } } },
          message: failure.message,
        };
      return {
        ok: false,
        facts: { status: 400, body: { error: { code: failure?.code ?? null, message: failure?.message } } },
        message: `batch failed: ${failure?.message ?? 'no reason given'}`,
      };
    case 'expired':
    case 'cancelled':
      return { ok: false, facts: { timedOut: true }, message: `batch ${status} before this request ran` };
    case 'completed':
      return {
        ok: false,
        facts: { malformed: true },
        message: 'the completed batch has no output or error line for this request',
      };
    default: {
      const never: never = status;
      throw new Error(`unknown batch status ${String(never)}`);
    }
  }
}

/** One member of a batch: the request and the attempt the batch carries. */
export interface BatchMember {
  submitted: RequestSubmitted;
  attempt: number;
  queueWaitMs: number;
}

export type MemberOutcome =
  | { action: 'completed'; events: SluiceEvent[] }
  | { action: 'retry'; events: SluiceEvent[]; kind: UpstreamFailureKind }
  | {
      action: 'failed';
      events: SluiceEvent[];
      kind: UpstreamFailureKind;
      deadLetter: boolean;
      message: string;
    };

/**
 * The facts to record for one member, decided exactly as for a synchronous call (the same decider):
 * completion and usage (priced at the Batch discount: `channel: 'batch'`), or the same retry
 * decision as a failed synchronous call. Deterministic event ids make recording them twice harmless.
 */
export function memberOutcome(
  m: BatchMember,
  result: LineResult,
  ctx: { at: Date; upstreamLatencyMs: number; policy?: RetryPolicy; random: () => number },
): MemberOutcome {
  const state = { submitted: m.submitted, attempt: m.attempt, phase: 'in_flight' as const };
  const at = ctx.at.getTime();
  const { events, next } = result.ok
    ? decide(state, {
        type: 'answered',
        at,
        result: result.result,
        upstreamLatencyMs: ctx.upstreamLatencyMs,
        queueWaitMs: m.queueWaitMs,
        upstreamRequestId: result.upstreamRequestId,
        upstreamProcessingMs: null,
        channel: 'batch',
      })
    : decide(state, {
        type: 'attempt_failed',
        at,
        failure: result.facts,
        message: result.message,
        upstreamError:
          result.facts.status !== undefined && result.facts.body !== undefined
            ? upstreamErrorOf(result.facts.body, result.message)
            : null,
        upstreamRequestId: result.upstreamRequestId ?? null,
        channel: 'batch',
        jitter: ctx.random(),
        ...(ctx.policy ? { policy: ctx.policy } : {}),
      });
  switch (next.kind) {
    case 'done':
      if (!next.failure) return { action: 'completed', events };
      return {
        action: 'failed',
        kind: next.failure,
        deadLetter: next.deadLetter !== null,
        message: next.deadLetter?.reason ?? (events[0] && 'message' in events[0] ? events[0].message : ''),
        events,
      };
    case 'retry': {
      const e = events[0];
      return {
        action: 'retry',
        kind: (e && 'reason' in e ? e.reason : 'server_error') as UpstreamFailureKind,
        events,
      };
    }
    case 'ignore':
    case 'queue':
    case 'batch':
    case 'in_flight':
      throw new Error(`a batch line cannot decide ${next.kind}`);
    default: {
      const never: never = next;
      throw new Error(`unknown decision ${String(never)}`);
    }
  }
}
