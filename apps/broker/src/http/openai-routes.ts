import { describeZodError, type RequestSubmitted, SluiceError } from '@sluice/events';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import { ChatCompletionRequestSchema, SubmitOptionsSchema } from '../intake/chat-request';
import { findUnsafeJson } from '../intake/json-guard';
import type { RequestView } from '../outcomes/request-view';
import type { AuthResult, Services } from '../services';
import { openAIError, toOpenAIError } from './openai-errors';

/**
 * The OpenAI-compatible surface: point any OpenAI SDK at `<sluice>/v1` with a tenant key.
 * Priority from `x-sluice-priority`, idempotency from `Idempotency-Key`.
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

  app.post('/v1/chat/completions', async (req, reply) => {
    const auth = await requireTenant(req);
    if (
      req.body === undefined ||
      req.body === null ||
      typeof req.body !== 'object' ||
      Array.isArray(req.body)
    ) {
      throw new SluiceError('invalid_request', 'The request body must be a JSON object.', {
        details: { param: null },
      });
    }
    // Before the schema, which would strip unknown keys and walk hostile nesting.
    const unsafe = findUnsafeJson(req.body);
    if (unsafe) {
      throw new SluiceError(
        'invalid_request',
        `Invalid request: ${unsafe.path || '(root)'}: ${unsafe.message}`,
        {
          details: { param: unsafe.path || null },
        },
      );
    }
    const parsed = ChatCompletionRequestSchema.safeParse(req.body);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new SluiceError('invalid_request', `Invalid request: ${describeZodError(parsed.error)}`, {
        details: { param: first?.path.join('.') || null },
      });
    }
    const options = SubmitOptionsSchema.safeParse({
      priority: header(req, 'x-sluice-priority') ?? 'standard',
      ...(header(req, 'idempotency-key') ? { idempotencyKey: header(req, 'idempotency-key') } : {}),
      ...(header(req, 'x-sluice-timeout-ms')
        ? { timeoutMs: Number(header(req, 'x-sluice-timeout-ms')) }
        : {}),
      ...(header(req, CACHE_HEADER) !== undefined ? { cache: header(req, CACHE_HEADER) } : {}),
    });
    if (!options.success) {
      const field = options.error.issues[0]?.path.join('.') ?? null;
      const param = field === 'cache' ? CACHE_HEADER : field;
      throw new SluiceError(
        'invalid_request',
        field === 'cache'
          ? `Invalid Sluice header: ${CACHE_HEADER} must be one of use, refresh, bypass`
          : `Invalid Sluice header: ${describeZodError(options.error)}`,
        { details: { param } },
      );
    }
    const body = parsed.data;
    // Counted only once the request is well formed: malformed input never reaches the log anyway.
    await services.checkSubmitRate?.(auth.tenantId);
    const { requestId, cache, submitted } = await services.intake.submit(
      auth.tenantId,
      body,
      options.data,
      'openai',
      services.hub.expect,
    );
    reply.header('x-sluice-request-id', requestId);
    if (cache) reply.header(CACHE_HEADER, cache);
    const abort = new AbortController();
    req.raw.on('close', () => {
      if (!reply.raw.writableEnded) abort.abort();
    });
    const timeoutMs = options.data.timeoutMs ?? services.syncWaitTimeoutMs;

    if (!body.stream) {
      const view = await services.hub.waitForOutcome(auth.tenantId, requestId, {
        submitted,
        timeoutMs,
        signal: abort.signal,
      });
      return sendOutcome(reply, view);
    }
    return streamOutcome(reply, services, auth.tenantId, requestId, {
      submitted,
      cache,
      timeoutMs,
      signal: abort.signal,
      includeUsage: body.stream_options?.include_usage === true,
    });
  });
}

/** Request: how to use the exact response cache (use|refresh|bypass). Response: hit or miss. */
const CACHE_HEADER = 'x-sluice-cache';

function sendOutcome(reply: FastifyReply, view: RequestView) {
  if (view.status === 'completed' && view.result) return reply.send(view.result);
  const e = outcomeError(view);
  return reply.code(e.status).send(e.body);
}

function outcomeError(view: RequestView) {
  if (view.status === 'cancelled')
    return openAIError(499, `Request ${view.id} was cancelled.`, { code: 'cancelled' });
  const err = view.error;
  const status =
    err?.status && err.status >= 400 && err.status < 500 && err.status !== 429 ? err.status : 502;
  return openAIError(
    status,
    `Request ${view.id} failed upstream (${err?.reason ?? 'unknown'}): ${err?.message ?? ''}`,
    {
      code: err?.reason ?? 'upstream_error',
      type: status >= 500 ? 'server_error' : 'invalid_request_error',
    },
  );
}

/**
 * SSE in OpenAI's chunk format. The dispatcher calls upstream once per attempt and records the
 * whole completion, so the chunks are produced from it when it arrives; keep-alive comments flow meanwhile.
 */
async function streamOutcome(
  reply: FastifyReply,
  services: Services,
  tenantId: string,
  requestId: string,
  opts: {
    timeoutMs: number;
    signal: AbortSignal;
    includeUsage: boolean;
    cache: 'hit' | 'miss' | null;
    submitted: RequestSubmitted | undefined;
  },
) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-sluice-request-id': requestId,
    ...(opts.cache ? { [CACHE_HEADER]: opts.cache } : {}),
  });
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  const write = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
  try {
    const view = await services.hub.waitForOutcome(tenantId, requestId, opts);
    if (view.status === 'completed' && view.result) {
      for (const chunk of completionToChunks(view.result, opts.includeUsage)) write(chunk);
    } else {
      write(outcomeError(view).body);
    }
  } catch (error) {
    write(toOpenAIError(error).body);
  } finally {
    clearInterval(keepAlive);
    res.end('data: [DONE]\n\n');
  }
}

export function completionToChunks(c: ChatCompletion, includeUsage: boolean): ChatCompletionChunk[] {
  const base = { id: c.id, object: 'chat.completion.chunk' as const, created: c.created, model: c.model };
  const chunks: ChatCompletionChunk[] = [];
  for (const choice of c.choices) {
    chunks.push({
      ...base,
      choices: [
        {
          index: choice.index,
          delta: { role: 'assistant', content: '' },
          finish_reason: null,
          logprobs: null,
        },
      ],
    });
    const msg = choice.message;
    if (msg.content) {
      chunks.push({
        ...base,
        choices: [
          { index: choice.index, delta: { content: msg.content }, finish_reason: null, logprobs: null },
        ],
      });
    }
    if (msg.tool_calls?.length) {
      chunks.push({
        ...base,
        choices: [
          {
            index: choice.index,
            delta: {
              tool_calls: msg.tool_calls.map((tc, index) => ({
                index,
                id: tc.id,
                type: 'function' as const,
                function: 'function' in tc ? tc.function : { name: '', arguments: '' },
              })),
            },
            finish_reason: null,
            logprobs: null,
          },
        ],
      });
    }
    chunks.push({
      ...base,
      choices: [{ index: choice.index, delta: {}, finish_reason: choice.finish_reason, logprobs: null }],
    });
  }
  if (includeUsage && c.usage) chunks.push({ ...base, choices: [], usage: c.usage });
  return chunks;
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
