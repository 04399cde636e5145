import type { RequestSubmitted, UpstreamError } from '@sluice/events';
import type { AnyOperation, StreamPolicy } from '../operations/operation';
import type { StreamOpener, StreamWriter } from '../streaming/stream-writer';
import { type UpstreamClient, UpstreamFailure, type UpstreamSuccess } from '../upstream/upstream-client';
import { failureOf } from './upstream-attempt';

/** How a streamed attempt ended, once its first chunk had reached the caller or it was whole. */
export type StreamedAttempt =
  /** The stream reached its end: the assembled answer, recorded like an unstreamed one. */
  | { kind: 'answered'; answer: UpstreamSuccess }
  /** It broke after the caller had chunks: `caller` went away (the upstream call was stopped) or the `upstream` broke. */
  | {
      kind: 'broken';
      cause: 'caller' | 'upstream';
      message: string;
      /** The output text streamed before the break: what the attempt is billed from. */
      streamedText: string;
      facts: Omit<UpstreamSuccess, 'result'>;
      /** The stream ended with an answer that reports a failure (`response.failed`): it and its usage. */
      final?: { result: unknown; status: number; error: UpstreamError };
    };

/**
 * One streamed upstream attempt: each chunk goes on to the caller as it arrives (waiting while the
 * caller's connection is full), and all of them fold into the whole answer. Until the first chunk
 * is relayed nothing has reached the caller, so a failure is thrown as an ordinary failed attempt
 * (retried by the policy); after it the attempt cannot be sent again and ends `broken`. A caller
 * who goes away stops the upstream call, so its remaining tokens are neither generated nor billed.
 */
export async function attemptStreamed(
  upstream: UpstreamClient,
  op: AnyOperation,
  policy: StreamPolicy<unknown, unknown>,
  submitted: RequestSubmitted,
  streams: StreamOpener,
): Promise<StreamedAttempt> {
  const body = submitted.body;
  const stop = new AbortController();
  const started = await upstream.stream(submitted.pool, op.endpoint, policy.upstreamBody(body), stop.signal);
  const { chunks, ...facts } = started;
  const assembler = policy.assembler();
  let writer: StreamWriter | undefined;
  let ended = false;
  let callerGone = false;
  const broken = async (cause: 'caller' | 'upstream', message: string): Promise<StreamedAttempt> => {
    if (cause === 'upstream') await writer?.end(policy.errorEvent(message, submitted.requestId));
    return { kind: 'broken', cause, message, streamedText: assembler.text(), facts };
  };
  try {
    for await (const chunk of chunks) {
      assembler.add(chunk);
      if (policy.usageOnly(chunk, body)) continue;
      if (!writer) {
        writer = streams.open(submitted.requestId, submitted.replyTo, {
          upstreamRequestId: facts.upstreamRequestId,
          processingMs: facts.processingMs,
        });
        // No caller waits for the stream (it went away before the first chunk): the answer is
        // taken whole and recorded, as if it had not been streamed.
        if (!writer) continue;
        writer.onClose(() => {
          if (ended) return;
          callerGone = true;
          stop.abort();
        });
      }
      if (!writer.closed()) await writer.write(policy.frame(chunk));
    }
  } catch (error) {
    if (!writer) throw error;
    const message = error instanceof Error ? error.message : String(error);
    return broken(callerGone ? 'caller' : 'upstream', message);
  }
  if (callerGone) return broken('caller', 'the caller closed the connection');
  const result = assembler.result();
  if (result === undefined) {
    const message = 'the upstream stream ended before its answer was complete';
    if (!writer) throw new UpstreamFailure(message, { connectionError: true });
    return broken('upstream', message);
  }
  // A failed answer (`response.failed`) is a failure like an unstreamed one: retried while the caller
  // has seen nothing of it; once relayed, the caller has the failure event, and it ends the request.
  const failure = op.settle?.failure(result);
  if (failure && !writer) throw failureOf(failure, facts.upstreamRequestId);
  ended = true;
  await writer?.end(policy.end);
  if (failure)
    return {
      kind: 'broken',
      cause: 'upstream',
      message: failure.error.message,
      streamedText: assembler.text(),
      facts,
      final: { result, ...failure },
    };
  return { kind: 'answered', answer: { ...facts, result } };
}
