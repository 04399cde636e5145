import { describeZodError, SluiceError } from '@sluice/events';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Submission } from '../intake/submit';
import { SubmitOptionsSchema } from '../intake/submit-options';
import type { AnyOperation } from '../operations/operation';
import { OPERATIONS } from '../operations/registry';
import { registerResponsesRoutes } from '../operations/responses/routes';
import { callerAnswerOf } from '../outcomes/outcome-answer';
import type { RequestView } from '../outcomes/request-view';
import type { AuthResult, Services } from '../services';
import { openAIError } from './openai-errors';

/**
 * The OpenAI-compatible surface: point any OpenAI SDK at `<sluice>/v1` with a tenant key. Every
 * brokered endpoint is one route from the operation registry. Priority from `x-sluice-priority`,
 * idempotency from `Idempotency-Key`, deadline from `x-sluice-timeout-ms`, cache from `x-sluice-cache`.
 */
export function registerOpenAIRoutes(app: FastifyInstance, services: Services): void {
  async function requireTenant(req: FastifyRequest): Promise<AuthResult & { tenantId: string }> {
    const bearer = bearerOf(req);
    if (!bearer) {
      throw new SluiceError(
        'unauthorized',
        'You didn\'t provide an API key. Send "Authorization: Bearer <tenant key>" (create one with `sluice tenants create`).',
        { details: { openaiCode: 'missing_api_key' } },
      );
    }
    const auth = await services.authenticate(bearer);
    if (!auth) {
      throw new SluiceError('unauthorized', 'Incorrect or revoked API key provided.', {
        details: { openaiCode: 'invalid_api_key' },
      });
    }
    if (auth.role !== 'tenant' || !auth.tenantId) {
      throw new SluiceError('forbidden', 'This endpoint needs a tenant key, not an admin key.');
    }
    return { ...auth, tenantId: auth.tenantId };
  }

  app.get('/v1/models', async (req, reply) => {
    await requireTenant(req);
    return reply.send({
      object: 'list',
      data: services.models
        .list()
        .map((m) => ({ id: m.id, object: 'model', created: m.created, owned_by: m.ownedBy })),
    });
  });

  app.get<{ Params: { model: string } }>('/v1/models/:model', async (req, reply) => {
    await requireTenant(req);
    const m = services.models.get(req.params.model);
    if (!m) {
      const e = openAIError(404, `The model '${req.params.model}' does not exist`, {
        code: 'model_not_found',
        param: 'model',
      });
      return reply.code(e.status).send(e.body);
    }
    return reply.send({ id: m.id, object: 'model', created: m.created, owned_by: m.ownedBy });
  });

  for (const operation of OPERATIONS) {
    app.post(operation.endpoint, async (req, reply) => {
      const auth = await requireTenant(req);
      const command = {
        tenantId: auth.tenantId,
        operation: operation as AnyOperation,
        body: req.body,
        options: sluiceOptionsFromHeaders(req),
        source: 'openai' as const,
      };
      const abort = new AbortController();
      req.raw.on('close', () => {
        if (!reply.raw.writableEnded) abort.abort();
      });
      const { submission, view, placeholder } = await services.submissions.submitAndWait(command, {
        signal: abort.signal,
      });
      if (!view) {
        reply.header('x-sluice-request-id', submission.requestId);
        return reply.send(placeholder);
      }
      setAnswerHeaders(reply, submission, view);
      // Throws the relayed or Sluice error before any byte of a stream: an HTTP error, never a 200.
      const result = callerAnswerOf(operation as AnyOperation, view, submission.requestId);
      const stream = operation.stream as AnyOperation['stream'];
      if (stream?.requested(submission.body))
        return sendChunks(reply, stream.chunks(result, stream.includeUsage(submission.body)));
      return reply.send(result);
    });
  }

  registerResponsesRoutes(app, services, requireTenant);
}

/** Request: how to use the exact response cache (use|refresh|bypass). Response: hit or miss. */
export const CACHE_HEADER = 'x-sluice-cache';

/** Sluice's request id, and the upstream's `x-request-id` and `openai-processing-ms` passed through. */
function setAnswerHeaders(reply: FastifyReply, submission: Submission, view: RequestView): void {
  reply.header('x-sluice-request-id', submission.requestId);
  // The SDK reads `x-request-id` as `request_id`: the upstream's when there was one (OpenAI support
  // asks for it), else Sluice's (a cache hit never reached the upstream).
  reply.header('x-request-id', view.upstreamRequestId ?? submission.requestId);
  if (view.upstreamProcessingMs !== null)
    reply.header('openai-processing-ms', String(view.upstreamProcessingMs));
  if (submission.cache) reply.header(CACHE_HEADER, submission.cache);
}

/** Sluice's own headers and the option each one sets. */
const OPTION_HEADERS = {
  priority: 'x-sluice-priority',
  idempotencyKey: 'idempotency-key',
  timeoutMs: 'x-sluice-timeout-ms',
  cache: CACHE_HEADER,
} as const;

/**
 * Sluice's options as its headers carry them, checked here so a bad one is refused naming the
 * header: a timeout is a decimal integer, the others are checked by the options schema.
 */
function sluiceOptionsFromHeaders(req: FastifyRequest): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [option, name] of Object.entries(OPTION_HEADERS)) {
    const value = header(req, name);
    if (value === undefined) continue;
    if (option === 'timeoutMs' && !/^[0-9]{1,12}$/.test(value))
      throw new SluiceError(
        'invalid_request',
        `Invalid Sluice header: ${name} must be a decimal number of milliseconds`,
        {
          details: { param: name },
        },
      );
    options[option] = option === 'timeoutMs' ? Number(value) : value;
  }
  const parsed = SubmitOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const option = parsed.error.issues[0]?.path[0] as keyof typeof OPTION_HEADERS | undefined;
    const name = option ? OPTION_HEADERS[option] : null;
    throw new SluiceError(
      'invalid_request',
      option === 'cache'
        ? `Invalid Sluice header: ${CACHE_HEADER} must be one of use, refresh, bypass`
        : `Invalid Sluice header: ${name ?? ''}: ${describeZodError(parsed.error)}`,
      { details: { param: name } },
    );
  }
  return parsed.data;
}

/** A whole answer as server-sent events, as the upstream would have streamed it. */
function sendChunks(reply: FastifyReply, chunks: unknown[]) {
  reply.hijack();
  const res = reply.raw;
  const headers = reply.getHeaders() as Record<string, string>;
  res.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  for (const chunk of chunks) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  res.end('data: [DONE]\n\n');
}

function bearerOf(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m?.[1]?.trim() || undefined;
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? v[0] : undefined;
}

export { bearerOf };
