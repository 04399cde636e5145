import { describeZodError, isSluiceError, type SluiceError } from '@sluice/events';
import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import { describeAdminCall } from './audit/admin-actions';
import { csrfMatches } from './console/session-token';
import { databaseUnavailable, isDatabaseUnavailable } from './db/database';
import { openaiTypeOf, trpcCodeOf } from './error-table';
import type { AuthResult, Services } from './services';

/** Per-call context: the services, and the presented credential (checked lazily by the procedures). */
export interface Context {
  services: Services;
  bearer: string | undefined;
  /**
   * The console's credential, the alternative to a bearer key: its session cookie and the CSRF
   * token its script sends back in a header. A bearer key, when present, is what counts.
   */
  session?: { token: string | undefined; csrf: string | undefined };
  /** What the caller says it is (`x-sluice-client: cli`), for the audit trail only. */
  client?: string | undefined;
}

/** Who a call acts as, and how it proved it. */
export type CallerAuth = AuthResult & { sessionId: string | null };

export function toTRPCError(error: SluiceError): TRPCError {
  return new TRPCError({ code: trpcCodeOf(error), message: error.message, cause: error });
}

const t = initTRPC.context<Context>().create({
  isDev: false, // never send stack traces to clients
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    const sluice = isSluiceError(cause) ? cause : undefined;
    const message =
      cause instanceof ZodError
        ? `Invalid input: ${describeZodError(cause)}`
        : error.code === 'INTERNAL_SERVER_ERROR' && !sluice
          ? 'Internal error; it has been logged.'
          : shape.message;
    return {
      ...shape,
      message,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        sluiceCode: sluice?.code ?? null,
        retryAfterMs: typeof sluice?.details.retryAfterMs === 'number' ? sluice.details.retryAfterMs : null,
        requestId: typeof sluice?.details.requestId === 'string' ? sluice.details.requestId : null,
        /** The upstream's own error, relayed as it sent it (status, type, param, code). */
        upstream:
          sluice?.code === 'upstream_refused'
            ? {
                status: sluice.details.status as number,
                type: openaiTypeOf(sluice),
                param: (sluice.details.param as string | null) ?? null,
                code: (sluice.details.openaiCode as string | null) ?? null,
                requestId: (sluice.details.upstreamRequestId as string | null) ?? null,
              }
            : null,
      },
    };
  },
});

export const createTRPCRouter = t.router;

/** Turns SluiceErrors thrown anywhere below into typed tRPC errors with the right HTTP status. */
const mapErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && isSluiceError(result.error.cause)) throw toTRPCError(result.error.cause);
  if (!result.ok && isDatabaseUnavailable(result.error.cause))
    throw toTRPCError(databaseUnavailable(result.error.cause));
  return result;
});

const publicProcedure = t.procedure.use(mapErrors);

/**
 * A bearer key, or a console session: the same roles and scopes either way. A session's
 * state-changing calls (mutations) must carry its CSRF token too, which no other site can read.
 */
async function authenticate(ctx: Context, type: string): Promise<CallerAuth> {
  if (!ctx.bearer && ctx.session?.token) {
    const auth = await ctx.services.console.sessions.authenticate(ctx.session.token);
    if (!auth)
      throw new TRPCError({
        code: 'UNAUTHORIZED',
        message:
          'Your console session has ended (expired, logged out, or its API key was revoked): log in again.',
      });
    if (type === 'mutation' && !csrfMatches(ctx.session.token, ctx.session.csrf))
      throw new TRPCError({
        code: 'FORBIDDEN',
        message:
          'Missing or wrong CSRF token: a console call that changes something must send the x-sluice-csrf header.',
      });
    return auth;
  }
  if (!ctx.bearer) {
    throw new TRPCError({
      code: 'UNAUTHORIZED',
      message:
        'Missing API key: send `Authorization: Bearer <tenant key>` (create one with `sluice tenants create`).',
    });
  }
  const auth = await ctx.services.authenticate(ctx.bearer);
  if (!auth) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Invalid or revoked API key.' });
  return { ...auth, sessionId: null };
}

/** A call on behalf of one tenant: everything it reads or writes is scoped to `ctx.tenantId`. */
export const tenantProcedure = publicProcedure.use(async ({ ctx, type, next }) => {
  const auth = await authenticate(ctx, type);
  if (auth.role !== 'tenant' || !auth.tenantId) {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'This call needs a tenant key, not an admin key.' });
  }
  return next({ ctx: { ...ctx, tenantId: auth.tenantId, keyId: auth.keyId } });
});

/** Any valid key or session, tenant or admin (the console asks who it is talking to). */
export const signedInProcedure = publicProcedure.use(async ({ ctx, type, next }) => {
  const auth = await authenticate(ctx, type);
  return next({ ctx: { ...ctx, auth } });
});

/**
 * Operator calls (tenants, keys, reports across tenants). Every mutation is recorded in the admin
 * audit trail once it has run, with the key and session that made it and how it ended.
 */
export const adminProcedure = publicProcedure
  .use(async ({ ctx, type, next }) => {
    const auth = await authenticate(ctx, type);
    if (auth.role !== 'admin')
      throw new TRPCError({ code: 'FORBIDDEN', message: 'This call needs an admin key.' });
    return next({ ctx: { ...ctx, keyId: auth.keyId, sessionId: auth.sessionId } });
  })
  .use(async ({ ctx, type, path, getRawInput, next }) => {
    if (type !== 'mutation') return next();
    const result = await next();
    const outcome = result.ok
      ? 'ok'
      : isSluiceError(result.error.cause)
        ? result.error.cause.code
        : result.error.code;
    await recordAdminAction(ctx, path, await getRawInput(), result.ok ? result.data : undefined, outcome);
    return result;
  });

/** Records what an operator did (or read on purpose, such as request bodies) in the admin audit trail. */
export async function recordAdminAction(
  ctx: Pick<Context, 'services' | 'bearer' | 'client'> & { keyId: string; sessionId: string | null },
  action: string,
  input: unknown,
  result: unknown,
  outcome: string,
): Promise<void> {
  const { target, details } = describeAdminCall(input, result);
  await ctx.services.console.audit.record({
    actorKeyId: ctx.keyId,
    sessionId: ctx.sessionId,
    via: auditVia(ctx),
    action,
    target,
    details,
    outcome,
  });
}

/** How an admin call reached Sluice, as the audit trail names it. */
export function auditVia(ctx: Pick<Context, 'bearer' | 'client'>): 'console' | 'api' | 'cli' {
  if (!ctx.bearer) return 'console';
  return ctx.client === 'cli' ? 'cli' : 'api';
}
