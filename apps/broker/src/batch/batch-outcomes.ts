import type { RequestSubmitted, SluiceEvent } from '@sluice/events';
import {
  classifyUpstreamFailure,
  decideRetry,
  type RetryPolicy,
  type UpstreamFailureFacts,
  type UpstreamFailureKind,
} from '@sluice/limiter';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { outcome, usageFromCompletion } from '../dispatcher/outcome-events';
import type { BatchResultLine } from './batch-file';

/** The Batch API's terminal statuses: nothing more will come for the batch's requests. */
export const TERMINAL_BATCH_STATUSES = ['completed', 'failed', 'expired', 'cancelled'] as const;
export type TerminalBatchStatus = (typeof TERMINAL_BATCH_STATUSES)[number];

export function isTerminalBatchStatus(status: string): status is TerminalBatchStatus {
  return (TERMINAL_BATCH_STATUSES as readonly string[]).includes(status);
}

/** What one request got from a finished batch. */
export type LineResult =
  | { ok: true; completion: ChatCompletion; upstreamRequestId: string | null }
  | { ok: false; facts: UpstreamFailureFacts; message: string };

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
  if (r && r.status_code >= 200 && r.status_code < 300) {
    const body = r.body as Partial<ChatCompletion> | null;
    if (body && typeof body === 'object' && Array.isArray(body.choices))
      return { ok: true, completion: body as ChatCompletion, upstreamRequestId: r.request_id ?? null };
    return {
      ok: false,
      facts: { status: r.status_code, malformed: true },
      message: 'batch output line is not a chat completion',
    };
  }
  if (r) {
    const e = (r.body as { error?: { message?: string } } | null)?.error;
    return {
      ok: false,
      facts: { status: r.status_code, body: r.body },
      message: e?.message ?? `batch line failed with status ${r.status_code}`,
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
 * The facts to record for one member, exactly as the synchronous path records them: completion and
 * usage (priced at the Batch discount: `channel: 'batch'`), or the same retry decision as a failed
 * synchronous call. Deterministic event ids make recording them twice harmless.
 */
export function memberOutcome(
  m: BatchMember,
  result: LineResult,
  ctx: { at: Date; upstreamLatencyMs: number; policy?: RetryPolicy; random: () => number },
): MemberOutcome {
  const { submitted: s, attempt, at } = { ...m, at: ctx.at };
  if (result.ok) {
    return {
      action: 'completed',
      events: [
        outcome.completed(s, attempt, at, {
          response: result.completion as unknown as { id: string; choices: unknown[] },
          upstreamLatencyMs: Math.max(0, Math.round(ctx.upstreamLatencyMs)),
          queueWaitMs: m.queueWaitMs,
          upstreamRequestId: result.upstreamRequestId,
        }),
        outcome.usage(s, attempt, at, {
          ...usageFromCompletion(result.completion, s.estimate),
          channel: 'batch',
        }),
      ],
    };
  }
  const kind = classifyUpstreamFailure(result.facts);
  const decision = decideRetry({
    attempt,
    kind,
    ...(ctx.policy ? { policy: ctx.policy } : {}),
    random: ctx.random,
  });
  if (decision.action === 'retry') {
    return {
      action: 'retry',
      kind,
      events: [
        outcome.retryScheduled(s, attempt, at, {
          reason: kind,
          status: result.facts.status ?? null,
          message: result.message.slice(0, 2_000),
          // The next batch is collected at once; its flush interval is the backoff.
          delayMs: 0,
          retryAt: at.toISOString(),
        }),
      ],
    };
  }
  return {
    action: 'failed',
    kind,
    deadLetter: decision.deadLetter,
    message: decision.message,
    events: [
      outcome.failed(s, attempt, at, {
        reason: kind,
        status: result.facts.status ?? null,
        message: `${decision.message}: ${result.message}`.slice(0, 2_000),
        deadLettered: decision.deadLetter,
      }),
    ],
  };
}
