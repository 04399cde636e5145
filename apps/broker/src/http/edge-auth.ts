import { ENDPOINTS } from '@sluice/events';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SESSION_COOKIE } from '../console/session-token';
import type { AuthResult, Services } from '../services';
import { openAIError } from './openai-errors';
import { bearerOf } from './openai-routes';

/**
 * Authentication comes first, before any body is read: on /v1 and /trpc a request without a
 * valid key is a 401 whatever its path, so nobody holds a connection (and a body buffer) for free
 * and a scanner learns nothing about which paths exist. A tRPC call carrying a console session
 * cookie instead is checked by its procedure (the session also needs its CSRF token there), and so
 * is a subscription (a GET: no body to hold), whose client reads a refusal only in its stream.
 * Each door answers in its own shape: OpenAI's error body on /v1, tRPC's on /trpc.
 */
const authenticated = new WeakMap<FastifyRequest, AuthResult>();

/** Who a request's key belongs to, once the edge has checked it (undefined: a cookie, a subscription, no door). */
export function edgeAuthOf(req: FastifyRequest): AuthResult | undefined {
  return authenticated.get(req);
}

export function registerEdgeAuth(
  app: FastifyInstance,
  services: Services,
  /** tRPC subscriptions answer 200 with an event stream, and report a refusal as its error event. */
  isSubscription: (procedure: string) => boolean,
): void {
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    const door = path.startsWith('/v1/') ? 'v1' : path.startsWith('/trpc/') ? 'trpc' : null;
    if (!door) return;
    const bearer = bearerOf(req);
    if (door === 'trpc' && !bearer && req.cookies[SESSION_COOKIE]) return;
    if (door === 'trpc' && req.method === 'GET' && isSubscription(path.slice('/trpc/'.length))) return;
    const auth = bearer ? await services.authenticate(bearer) : null;
    if (auth) {
      authenticated.set(req, auth);
      return;
    }
    const message = bearer
      ? 'Incorrect or revoked API key provided. Send "Authorization: Bearer <tenant key>" with a key from `sluice tenants create`.'
      : 'You didn\'t provide an API key. Send "Authorization: Bearer <tenant key>" (create one with `sluice tenants create`).';
    // The body is never read: close the connection rather than drain what an unknown caller sends.
    reply.header('connection', 'close');
    if (door === 'v1') {
      const e = openAIError(401, message, { code: bearer ? 'invalid_api_key' : 'missing_api_key' });
      return reply.code(401).send(e.body);
    }
    return reply.code(401).send(trpcUnauthorized(req, path, message));
  });
}

/** tRPC's own error body (one per call in a batch), which the tRPC client reads as UNAUTHORIZED. */
function trpcUnauthorized(req: FastifyRequest, path: string, message: string): unknown {
  const procedures = decodeURIComponent(path.slice('/trpc/'.length)).split(',');
  const error = (procedure: string) => ({
    error: { message, code: -32001, data: { code: 'UNAUTHORIZED', httpStatus: 401, path: procedure } },
  });
  const batched = new URLSearchParams(req.url.split('?')[1] ?? '').get('batch') === '1';
  return batched ? procedures.map(error) : error(procedures[0] ?? '');
}

/** With a valid key, an unknown /v1 path is OpenAI's 404, naming what Sluice does broker. */
export function unknownEndpoint(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = req.url.split('?')[0] ?? '';
  const brokered = ['GET /v1/models', ...ENDPOINTS.map((e) => `POST ${e}`)].join(', ');
  const e = openAIError(
    404,
    path.startsWith('/v1/')
      ? `Unknown endpoint ${req.method} ${path}: Sluice brokers ${brokered}.`
      : `Unknown endpoint ${req.method} ${path}.`,
    { code: 'unknown_url' },
  );
  return reply.code(404).send(e.body);
}
