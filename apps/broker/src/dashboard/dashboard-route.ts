import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Services } from '../services';

const asset = (name: string) => readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8');
const ASSETS = {
  '/dashboard': { type: 'text/html; charset=utf-8', body: asset('dashboard.html') },
  '/dashboard/dashboard.js': { type: 'text/javascript; charset=utf-8', body: asset('dashboard.js') },
  '/dashboard/dashboard.css': { type: 'text/css; charset=utf-8', body: asset('dashboard.css') },
} as const;

const DataQuery = z.object({
  hours: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 366)
    .default(48),
});

/** The admin key from `Authorization: Bearer <key>` or HTTP Basic (any user name, the key as password). */
export function presentedKey(header: string | undefined): string | undefined {
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

/**
 * `/dashboard`: a page of charts for operators, gated by an admin key. Browsers ask for it with
 * HTTP Basic (user name anything, password the admin key) and resend it for the data calls.
 */
export function registerDashboard(app: FastifyInstance, services: Services): void {
  async function authorised(req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const key = presentedKey(req.headers.authorization);
    const auth = key ? await services.authenticate(key) : null;
    if (!auth) {
      await reply
        .code(401)
        .header(
          'www-authenticate',
          'Basic realm="Sluice dashboard (password: an admin key)", charset="UTF-8"',
        )
        .type('text/plain')
        .send(
          'An admin key is required: user name anything, password the key (`sluice keys create --admin`).',
        );
      return false;
    }
    if (auth.role !== 'admin') {
      await reply.code(403).type('text/plain').send('The dashboard needs an admin key, not a tenant key.');
      return false;
    }
    return true;
  }

  const security = (reply: FastifyReply) =>
    reply
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header(
        'content-security-policy',
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
      );

  for (const [path, a] of Object.entries(ASSETS)) {
    app.get(path, async (req, reply) => {
      if (!(await authorised(req, reply))) return reply;
      return security(reply).type(a.type).send(a.body);
    });
  }

  app.get('/dashboard/data', async (req, reply) => {
    if (!(await authorised(req, reply))) return reply;
    const q = DataQuery.safeParse(req.query);
    if (!q.success) return reply.code(400).send({ error: 'hours must be a whole number from 1 to 8784' });
    return security(reply).send(await services.billing.dashboard({ hours: q.data.hours }));
  });
}
