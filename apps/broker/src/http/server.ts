import fastifyCookie from '@fastify/cookie';
import { isSluiceError } from '@sluice/events';
import { type FastifyTRPCPluginOptions, fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { CSRF_HEADER, SESSION_COOKIE } from '../console/session-token';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { type AppRouter, appRouter } from '../root';
import type { Services } from '../services';
import { registerStreamPush } from '../streaming/stream-routes';
import { PUSH_PATH } from '../streaming/stream-writer';
import { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS, limitConnections } from './connection-limits';
import { registerConsole } from './console-route';
import { registerEdgeAuth, unknownEndpoint } from './edge-auth';
import {
  createLargeBodyGate,
  DEFAULT_LARGE_BODY_LIMITS,
  type LargeBodyLimits,
  registerJsonLane,
} from './large-bodies';
import { openAIError, toOpenAIError } from './openai-errors';
import { bearerOf, registerOpenAIRoutes } from './openai-routes';
import { BodyRefused, registerRequestBodies } from './request-body';

/** The router's subscription procedures, by path (`requests.watch`). */
const SUBSCRIPTIONS = new Set(
  Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>)
    .filter(([, p]) => p._def.type === 'subscription')
    .map(([path]) => path),
);

/** The most tRPC calls one HTTP request may carry (the SDK batches concurrent submits, 32 at most). */
const TRPC_MAX_BATCH = 64;

export interface HttpServerOptions {
  services: Services;
  logger: Logger;
  metrics: Metrics;
  maxBodyBytes: number;
  /** How long a client may take to send a request's body; absent = 30 s. */
  requestTimeoutMs?: number;
  /** How many large bodies a tenant has read at once; absent = `DEFAULT_LARGE_BODY_LIMITS`. */
  largeBodies?: LargeBodyLimits;
  /** Connections held at once, in all and per client address; absent = `DEFAULT_CONNECTION_LIMITS`. */
  connections?: ConnectionLimits;
  /** Where the console's build is (tests point elsewhere); absent = apps/console/dist. */
  consoleDist?: string;
}

/**
 * One HTTP server: tRPC at /trpc, the OpenAI-compatible API at /v1, the console at /console, and
 * /metrics, /healthz, /readyz.
 * Every error leaves as a typed tRPC error or an OpenAI-shaped JSON error, never a stack trace.
 */
export async function createHttpServer(opts: HttpServerOptions): Promise<FastifyInstance> {
  const { services, logger, metrics } = opts;
  const app = Fastify({
    bodyLimit: opts.maxBodyBytes,
    // A tRPC batch names each of its calls in the path (`requests.submit,` is 16 characters).
    routerOptions: { maxParamLength: TRPC_MAX_BATCH * 64 },
    // JSON with a __proto__ key is refused rather than silently altered.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    // An idle keep-alive connection is closed after this (Fastify's default holds it 72 s).
    keepAliveTimeout: 10_000,
    // Node checks the headers deadline only this often (30 s by default): a slowloris would hold
    // its connection three times longer than the deadline says.
    http: { connectionsCheckingInterval: 1_000 },
  });
  // Headers must arrive within 10 s (slowloris); Node's default waits a minute.
  app.server.headersTimeout = 10_000;
  const refused = limitConnections(app.server, opts.connections ?? DEFAULT_CONNECTION_LIMITS);
  app.addHook('onRequest', async (req, reply) => {
    if (refused(req.raw.socket)) return reply.hijack();
  });

  app.setErrorHandler((error, req, reply) => {
    const fastifyCode = (error as { code?: string }).code;
    const statusCode = (error as { statusCode?: number }).statusCode;
    let e: ReturnType<typeof toOpenAIError>;
    if (error instanceof BodyRefused) {
      e = {
        ...openAIError(error.statusCode, error.message, {
          code: error.openaiCode,
          ...(error.statusCode === 429 ? { type: 'requests' } : {}),
        }),
        ...(error.retryAfterMs ? { retryAfterMs: error.retryAfterMs } : {}),
      };
    } else if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      e = openAIError(413, `Request body too large: the limit is ${opts.maxBodyBytes} bytes.`, {
        code: 'payload_too_large',
      });
    } else if (fastifyCode === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      e = openAIError(415, 'Unsupported Content-Type: send application/json.', {
        code: 'unsupported_media_type',
      });
    } else if (
      fastifyCode === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
      fastifyCode === 'FST_ERR_CTP_INVALID_JSON_BODY'
    ) {
      e = openAIError(400, 'The request body is not valid JSON.', { code: 'invalid_json' });
    } else if (error instanceof SyntaxError || (statusCode === 400 && !isSluiceError(error))) {
      e = openAIError(400, `The request body is not valid JSON: ${(error as Error).message}`.slice(0, 300), {
        code: 'invalid_json',
      });
    } else if (statusCode && statusCode >= 400 && statusCode < 500 && !isSluiceError(error)) {
      e = openAIError(statusCode, (error as Error).message.slice(0, 300));
    } else {
      e = toOpenAIError(error);
      if (e.status >= 500) logger.error({ err: error, url: req.url.split('?')[0] }, 'request failed');
    }
    if (e.retryAfterMs !== undefined)
      reply.header('retry-after', Math.max(1, Math.ceil(e.retryAfterMs / 1000)));
    if (e.requestId) {
      reply.header('x-sluice-request-id', e.requestId);
      reply.header('x-request-id', e.upstreamRequestId ?? e.requestId);
    }
    metrics.rejected.inc({ reason: e.body.error.code ?? String(e.status) });
    return reply.code(e.status).send(e.body);
  });

  app.setNotFoundHandler(unknownEndpoint);
  const largeBodies = opts.largeBodies ?? DEFAULT_LARGE_BODY_LIMITS;
  registerRequestBodies(app, {
    timeoutMs: opts.requestTimeoutMs ?? 30_000,
    longLived: (url) => url.startsWith(PUSH_PATH),
    gate: createLargeBodyGate(largeBodies),
  });
  registerJsonLane(app, largeBodies.minBytes);

  // Cookies are read for the console's session only; the API's own credential stays the bearer key.
  await app.register(fastifyCookie);
  registerEdgeAuth(app, services, (procedure) => SUBSCRIPTIONS.has(procedure));

  await app.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: {
      router: appRouter,
      maxBatchSize: TRPC_MAX_BATCH,
      createContext: ({ req }) => ({
        services,
        bearer: bearerOf(req),
        session: { token: req.cookies[SESSION_COOKIE], csrf: headerOf(req, CSRF_HEADER) },
        client: headerOf(req, 'x-sluice-client'),
      }),
      // A retriable refusal (log or database down, rate limited) tells the client when to retry.
      responseMeta: ({ errors }) => {
        const waits = errors.map((e) => retryAfterOf(e.cause)).filter((ms): ms is number => ms !== undefined);
        return waits.length
          ? { headers: { 'retry-after': String(Math.max(1, Math.ceil(Math.max(...waits) / 1000))) } }
          : {};
      },
      onError: ({ error, path }) => {
        if (error.code === 'INTERNAL_SERVER_ERROR')
          logger.error({ err: error.cause ?? error, path }, 'tRPC call failed');
      },
    },
  } satisfies FastifyTRPCPluginOptions<AppRouter>);

  registerOpenAIRoutes(app, services);
  registerStreamPush(app, services);
  await registerConsole(app, services, opts.consoleDist ? { dist: opts.consoleDist } : {});

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const h = await services.health();
    return reply.code(h.ok ? 200 : 503).send({ status: h.ok ? 'ready' : 'degraded', checks: h.checks });
  });
  // Metrics name tenants and their volumes: on the public API port they need an admin key
  // (Prometheus: `authorization: { credentials: <admin key> }`). Dispatchers serve theirs on the
  // internal SLUICE_METRICS_PORT.
  app.get('/metrics', async (req, reply) => {
    const key = presentedKey(req.headers.authorization);
    const auth = key ? await services.authenticate(key) : null;
    if (auth?.role !== 'admin') {
      const { status, body } = openAIError(
        auth ? 403 : 401,
        'Metrics need an admin key: Authorization: Bearer <key from `sluice keys create --admin`>.',
      );
      return reply.code(status).send(body);
    }
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  return app;
}

function headerOf(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** The key from `Authorization: Bearer <key>` or HTTP Basic (any user name, the key as password). */
function presentedKey(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(' ', 2);
  if (!value) return undefined;
  if (scheme?.toLowerCase() === 'bearer') return value.trim();
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value.trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  return undefined;
}

function retryAfterOf(cause: unknown): number | undefined {
  return isSluiceError(cause) && typeof cause.details.retryAfterMs === 'number'
    ? cause.details.retryAfterMs
    : undefined;
}
