import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Submission, SubmitCommand } from '../intake/submit';
import type { AnyOperation } from '../operations/operation';
import { callerAnswerOf } from '../outcomes/outcome-answer';
import type { Services } from '../services';
import { responseTarget, type StreamHead, type StreamTarget, type StreamTargets } from './stream-target';
import { COMPLETE_TRAILER, HEAD_HEADER, PUSH_PATH, type ReplyTo, validPushToken } from './stream-writer';

/** What an API process needs to take streamed answers: its waiting callers, and its push route's address and secret. */
export interface StreamIntake {
  targets: StreamTargets;
  /** This process's address for pushes (null before it listens). */
  replyTo(): ReplyTo | null;
  /** The deployment's push secret (`cluster_secrets`). */
  pushSecret: string | undefined;
}

/**
 * A `stream: true` request on /v1. The caller waits here, registered before its request reaches
 * the log; the dispatcher that sends it upstream writes the upstream's chunks into that response
 * as they arrive (directly, or through this process's push route). Until the first chunk, it is an
 * ordinary request: an error is an HTTP error, and an answer that did not come as a stream (a cache
 * hit, a duplicate of a finished request) is replayed as the chunks the upstream would have sent.
 */
export async function answerStreamed(
  reply: FastifyReply,
  services: Services,
  command: SubmitCommand & { operation: AnyOperation },
  opts: { signal: AbortSignal; answerHeaders: (submission: Submission) => Record<string, string> },
): Promise<FastifyReply> {
  const policy = command.operation.stream;
  if (!policy) throw new Error(`${command.operation.endpoint} does not stream`);
  let target: StreamTarget | undefined;
  let submission: Submission | undefined;
  const submitted = await services.submissions.submit(
    { ...command, replyTo: services.streams.replyTo() },
    (requestId) => {
      services.hub.expect(requestId);
      target = responseTarget({
        requestId,
        res: reply.raw,
        headers: () => (submission ? opts.answerHeaders(submission) : { 'x-sluice-request-id': requestId }),
        beforeOpen: () => reply.hijack(),
        brokenEvent: policy.errorEvent('The stream broke before its end', requestId),
      });
      services.streams.targets.add(target);
    },
  );
  submission = submitted;
  const outcome = services.hub.waitForOutcome(command.tenantId, submitted.requestId, {
    submitted: submitted.submitted,
    timeoutMs: submitted.options.timeoutMs ?? services.syncWaitTimeoutMs,
    signal: opts.signal,
  });
  if (target) {
    const first = await Promise.race([
      target.opened.then(() => 'streaming' as const),
      outcome.then(
        () => 'answered' as const,
        () => 'answered' as const,
      ),
    ]);
    if (first === 'streaming') {
      outcome.catch(() => {}); // the stream is the answer now
      await target.finished;
      return reply;
    }
  }
  const view = await outcome;
  for (const [name, value] of Object.entries(opts.answerHeaders(submitted))) reply.header(name, value);
  if (view.upstreamRequestId) reply.header('x-request-id', view.upstreamRequestId);
  if (view.upstreamProcessingMs !== null)
    reply.header('openai-processing-ms', String(view.upstreamProcessingMs));
  // Throws the relayed or Sluice error before any byte: an HTTP error, never a 200.
  const result = callerAnswerOf(command.operation, view, submitted.requestId);
  return replayChunks(
    reply,
    policy.chunks(result, policy.includeUsage(submitted.body)).map(policy.frame),
    policy.end,
  );
}

/** A whole answer as server-sent events, framed as the upstream would have streamed it. */
export function replayChunks(reply: FastifyReply, events: readonly string[], end: string): FastifyReply {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string>),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  for (const e of events) res.write(e);
  res.end(end);
  return reply;
}

/**
 * Where a dispatcher in another process pushes a streamed answer to the caller waiting here: one
 * chunked POST whose body is the stream's bytes, signed for its request id with the cluster's
 * push secret. A trailer says the stream reached its end; without it the caller gets the
 * endpoint's error event. The push is answered once the stream is over for the caller (410 when
 * the caller is gone, so the dispatcher stops the upstream call).
 */
export function registerStreamPush(app: FastifyInstance, services: Services): void {
  app.addContentTypeParser('application/x-sluice-stream', (_req, payload, done) => done(null, payload));
  app.post<{ Params: { id: string } }>(`${PUSH_PATH}/:id`, async (req, reply) => {
    const { id } = req.params;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const secret = services.streams.pushSecret;
    if (!secret || !validPushToken(secret, id, token))
      return reply.code(401).send({ error: 'not a push from this deployment' });
    const target = services.streams.targets.take(id);
    if (!target) return reply.code(410).send({ error: 'no caller waits for this stream here' });
    target.open(parseHead(req.headers[HEAD_HEADER]));
    const body = req.body as Readable;
    try {
      for await (const chunk of body) {
        if (target.closed) break;
        if (!target.write(chunk as Buffer)) await target.drained();
      }
    } catch {
      // The dispatcher's process went away mid-stream.
      target.fail();
      return reply;
    }
    if (target.closed) {
      body.destroy();
      return reply.code(410).send({ error: 'the caller went away' });
    }
    if (req.raw.trailers[COMPLETE_TRAILER] === '1') target.end('');
    else target.fail();
    return reply.code(204).send();
  });
}

function parseHead(header: string | string[] | undefined): StreamHead {
  try {
    const h = JSON.parse(typeof header === 'string' ? header : '{}') as Partial<StreamHead>;
    return {
      upstreamRequestId: typeof h.upstreamRequestId === 'string' ? h.upstreamRequestId : null,
      processingMs: typeof h.processingMs === 'number' ? h.processingMs : null,
    };
  } catch {
    return { upstreamRequestId: null, processingMs: null };
  }
}
