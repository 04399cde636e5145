import { describeZodError, SluiceError } from '@sluice/events';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Submission } from '../intake/submit';
import { SubmitOptionsSchema } from '../intake/submit-options';
import type { AnyOperation } from '../operations/operation';
import { OPERATIONS } from '../operations/registry';
import { registerResponsesRoutes } from '../operations/responses/routes';
import { callerAnswerOf } from '../outcomes/outcome-answer';
import type { AuthResult, Services } from '../services';
import { answerStreamed } from '../streaming/stream-routes';
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
      if (operation.stream && asksForStream(req.body))
        return answerStreamed(reply, services, command, { signal: abort.signal, answerHeaders });
      const { submission, view, placeholder } = await services.submissions.submitAndWait(command, {
        signal: abort.signal,
      });
      if (!view) {
        reply.header('x-sluice-request-id', submission.requestId);
        return reply.send(placeholder);
      }
      for (const [name, value] of Object.entries(answerHeaders(submission))) reply.header(name, value);
      // The SDK reads `x-request-id` as `request_id`: the upstream's when there was one (OpenAI
      // support asks for it), else Sluice's (a cache hit never reached the upstream).
      reply.header('x-request-id', view.upstreamRequestId ?? submission.requestId);
      if (view.upstreamProcessingMs !== null)
        reply.header('openai-processing-ms', String(view.upstreamProcessingMs));
      return reply.send(callerAnswerOf(operation as AnyOperation, view, submission.requestId));
    });
  }

  registerResponsesRoutes(app, services, requireTenant);
}

/** Request: how to use the exact response cache (use|refresh|bypass). Response: hit or miss. */
export const CACHE_HEADER = 'x-sluice-cache';

/** Headers of every answer: Sluice's request id (also `x-request-id` until the upstream's is known) and the cache's verdict. */
function answerHeaders(submission: Submission): Record<string, string> {
  return {
    'x-sluice-request-id': submission.requestId,
    'x-request-id': submission.requestId,
    ...(submission.cache ? { [CACHE_HEADER]: submission.cache } : {}),
  };
}

/** The body asks for a stream (the operation's schema checks the rest at admission). */
function asksForStream(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { stream?: unknown }).stream === true;
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
