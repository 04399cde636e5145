import { describeZodError, isSluiceError, type SluiceError } from '@sluice/events';
import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import { databaseUnavailable, isDatabaseUnavailable } from './db/database';
import { openaiTypeOf, trpcCodeOf } from './error-table';
import type { AuthResult, Services } from './services';

/** Per-call context: the services, and the presented credential (checked lazily by the procedures). */
export interface Context {
  services: Services;
  bearer: string | undefined;
}

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

async function authenticate(ctx: Context): Promise<AuthResult> {
  if (!ctx.bearer) {
    throw new TRPCError({
      code: 'UNAUTHORIZED',
      message:
        'Missing API key: send `Authorization: Bearer <tenant key>` (create one with `sluice tenants create`).',
    });
  }
  const auth = await ctx.services.authenticate(ctx.bearer);
  if (!auth) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Invalid or revoked API key.' });
  return auth;
}

/** A call on behalf of one tenant: everything it reads or writes is scoped to `ctx.tenantId`. */
export const tenantProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const auth = await authenticate(ctx);
  if (auth.role !== 'tenant' || !auth.tenantId) {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'This call needs a tenant key, not an admin key.' });
  }
  return next({ ctx: { ...ctx, tenantId: auth.tenantId, keyId: auth.keyId } });
});

/** Operator calls (tenants, keys, reports across tenants). */
export const adminProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const auth = await authenticate(ctx);
  if (auth.role !== 'admin')
    throw new TRPCError({ code: 'FORBIDDEN', message: 'This call needs an admin key.' });
  return next({ ctx: { ...ctx, keyId: auth.keyId } });
});
