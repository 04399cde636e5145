import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  type CookieSpec,
  CSRF_HEADER,
  clearedSessionCookies,
  csrfMatches,
  SESSION_COOKIE,
  sessionCookies,
} from '../console/session-token';
import type { Services } from '../services';
import { openAIError } from './openai-errors';

/** The console's build (`npm run build -w @sluice/console`; `npm install` runs it). */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../console/dist/', import.meta.url));

const LoginBody = z.object({ key: z.string().min(1).max(200) });

/** The console may only be framed by nobody and loads nothing from elsewhere. */
const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function secure(req: FastifyRequest): boolean {
  return req.protocol === 'https';
}

function setCookies(reply: FastifyReply, cookies: CookieSpec[]): void {
  for (const c of cookies) reply.setCookie(c.name, c.value, c.options);
}

/**
 * A state-changing call from a page of another origin is refused even before its token is
 * looked at (browsers send `Origin` on every cross-origin POST and DELETE).
 */
function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (!origin) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function refuse(reply: FastifyReply, status: number, message: string, code: string) {
  const e = openAIError(status, message, { code });
  return reply.code(status).header('cache-control', 'no-store').send(e.body);
}

/**
 * `/console`: the single-page app (static files of its build), its login and logout, and the
 * old `/dashboard` address redirected to it. Login posts a key once, in a JSON body (never a
 * URL), and answers with an HttpOnly session cookie bound to that key and a CSRF token cookie.
 */
export async function registerConsole(
  app: FastifyInstance,
  services: Services,
  opts: { dist?: string } = {},
): Promise<void> {
  const dist = opts.dist ?? CONSOLE_DIST;
  const built = existsSync(`${dist}index.html`);

  app.post('/console/session', async (req, reply) => {
    if (!sameOrigin(req)) return refuse(reply, 403, 'Cross-origin login refused.', 'cross_origin');
    const body = LoginBody.safeParse(req.body);
    if (!body.success)
      return refuse(reply, 400, 'Send {"key": "<API key>"} as JSON to log in.', 'invalid_login');
    const auth = await services.authenticate(body.data.key.trim());
    if (!auth) return refuse(reply, 401, 'Invalid or revoked API key.', 'invalid_api_key');
    const session = await services.console.sessions.open(auth);
    setCookies(
      reply,
      sessionCookies(session.token, { secure: secure(req), ttlMs: services.console.sessions.ttlMs }),
    );
    return reply.header('cache-control', 'no-store').send({
      role: auth.role,
      keyId: auth.keyId,
      tenantId: auth.tenantId,
      sessionId: session.sessionId,
      expiresAt: session.expiresAt,
    });
  });

  app.delete('/console/session', async (req, reply) => {
    const token = req.cookies[SESSION_COOKIE];
    if (!sameOrigin(req)) return refuse(reply, 403, 'Cross-origin logout refused.', 'cross_origin');
    const csrf = req.headers[CSRF_HEADER];
    if (token && !csrfMatches(token, typeof csrf === 'string' ? csrf : undefined))
      return refuse(reply, 403, 'Missing or wrong CSRF token (x-sluice-csrf).', 'csrf');
    await services.console.sessions.end(token);
    setCookies(reply, clearedSessionCookies({ secure: secure(req) }));
    return reply.header('cache-control', 'no-store').send({ loggedOut: true });
  });

  app.get('/dashboard', async (_req, reply) => reply.redirect('/console/', 301));
  app.get('/console', async (_req, reply) => reply.redirect('/console/', 301));

  const headers = (reply: FastifyReply) =>
    reply
      .header('content-security-policy', CONSOLE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer');

  if (!built) {
    app.get('/console/*', async (_req, reply) =>
      headers(reply)
        .code(503)
        .type('text/plain; charset=utf-8')
        .send(
          'The Sluice console is not built. Run `npm install` (it builds it) or `npm run build -w @sluice/console`, then reload.',
        ),
    );
    return;
  }

  // Hashed file names: cached for good. index.html is not, so a new build is picked up at once.
  await app.register(fastifyStatic, {
    root: `${dist}assets`,
    prefix: '/console/assets/',
    immutable: true,
    maxAge: '365d',
    index: false,
    setHeaders: (reply) => {
      reply.header('x-content-type-options', 'nosniff');
    },
  });
  // Every other path under /console is a page of the app: the same index.html, routed in the browser.
  app.get('/console/*', async (req, reply) => {
    if (req.url.startsWith('/console/assets/')) return reply.callNotFound();
    return headers(reply).header('cache-control', 'no-store').sendFile('index.html', dist);
  });
}
