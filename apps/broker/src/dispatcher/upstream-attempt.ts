import { setTimeout as sleep } from 'node:timers/promises';
import type { UpstreamError } from '@sluice/events';
import type { AnyOperation } from '../operations/operation';
import { type UpstreamClient, UpstreamFailure, type UpstreamSuccess } from '../upstream/upstream-client';

/** Upstream work still running (a background response), and how to cancel it. */
export interface UpstreamWork {
  cancel: string;
}

/** Consecutive failed polls (5xx, dropped connections) tolerated before the attempt fails. */
const MAX_POLL_FAILURES = 5;

function transient(error: unknown): boolean {
  if (!(error instanceof UpstreamFailure)) return true;
  const f = error.facts;
  return f.connectionError === true || f.timedOut === true || (f.status !== undefined && f.status >= 500);
}

/**
 * One upstream attempt up to its final answer: the call, then — for work the upstream finishes
 * later (a background response) — polls with a doubling interval until the answer is final. A
 * final answer that reports a failure (a `failed` response) is thrown as the upstream's failure,
 * so the decider treats it like an HTTP error. The call's status, headers and request id are kept
 * (the limiter learns from them); the answer is the final one.
 */
export async function attemptToFinal(
  upstream: UpstreamClient,
  op: AnyOperation,
  pool: string,
  body: Record<string, unknown>,
  opts: {
    pollMs: number;
    pollMaxMs: number;
    /** Told when upstream work starts (with how to cancel it) and when it ends (undefined). */
    onWork?: (work: UpstreamWork | undefined) => void;
  },
): Promise<UpstreamSuccess> {
  const first = await upstream.call(pool, op.endpoint, body);
  let result = first.result;
  let delay = opts.pollMs;
  let failures = 0;
  try {
    for (let work = op.settle?.pending(result); work; work = op.settle?.pending(result)) {
      opts.onWork?.({ cancel: work.cancel });
      await sleep(delay);
      delay = Math.min(delay * 2, opts.pollMaxMs);
      try {
        result = (await upstream.request(pool, 'GET', work.poll)).result;
        failures = 0;
      } catch (error) {
        if (!transient(error) || ++failures >= MAX_POLL_FAILURES) throw error;
      }
    }
  } finally {
    opts.onWork?.(undefined);
  }
  const failure = op.settle?.failure(result);
  if (failure) throw failureOf(failure, first.upstreamRequestId);
  return { ...first, result };
}

/** A final answer that reports a failure (a `failed` response), as the attempt's failure. */
export function failureOf(
  failure: { status: number; error: UpstreamError },
  upstreamRequestId: string | null,
): UpstreamFailure {
  return new UpstreamFailure(failure.error.message, {
    status: failure.status,
    body: { error: failure.error },
    ...(failure.error.code ? { errorCode: failure.error.code } : {}),
    upstreamError: failure.error,
    upstreamRequestId,
  });
}
