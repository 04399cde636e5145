import { isSluiceError, SluiceError } from '@sluice/events';
import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { chatCompletions } from '../operations/chat-completions';
import { tenantProcedure, toTRPCError } from '../trpc';
import { operationRouter } from './operations';
import { RequestIdSchema } from './request-id';

export { RequestIdSchema };

/** Errors thrown while a stream is read bypass the middlewares; map them to typed tRPC errors too. */
async function* typedErrors<T>(source: AsyncIterable<T>): AsyncGenerator<T, void> {
  try {
    yield* source;
  } catch (error) {
    throw isSluiceError(error) ? toTRPCError(error) : error;
  }
}

export const requestsRouter = {
  /** Accepts a chat completion request (other endpoints: `<operation>.submit`); returns its id once the log holds it. */
  submit: operationRouter(chatCompletions).submit,

  get: tenantProcedure.input(z.object({ id: RequestIdSchema })).query(async ({ ctx, input }) => {
    const view = await ctx.services.requests.get(ctx.tenantId, input.id);
    if (!view) throw new SluiceError('not_found', `No request ${input.id} for this tenant.`);
    return view;
  }),

  list: tenantProcedure
    .input(
      z.object({
        limit: z.number().int().min(1).max(500).default(50),
        status: z.enum(['queued', 'dispatched', 'retrying', 'completed', 'failed', 'cancelled']).optional(),
      }),
    )
    .query(({ ctx, input }) =>
      ctx.services.requests.list(ctx.tenantId, {
        limit: input.limit,
        ...(input.status ? { status: input.status } : {}),
      }),
    ),

  /** Streams the request's status changes and ends with its outcome (SSE). */
  watch: tenantProcedure
    .input(z.object({ id: RequestIdSchema }))
    .subscription(async ({ ctx, input, signal }) => {
      // Checked before the stream starts, so a refusal is a typed NOT_FOUND, not an error mid-stream.
      const first = await ctx.services.requests.get(ctx.tenantId, input.id);
      if (!first) throw new SluiceError('not_found', `No request ${input.id} for this tenant.`);
      return typedErrors(ctx.services.hub.watch(ctx.tenantId, input.id, signal));
    }),

  /** Waits for the outcome (up to `timeoutMs`); the request goes on if the wait ends first. */
  wait: tenantProcedure
    .input(z.object({ id: RequestIdSchema, timeoutMs: z.number().int().min(1).max(600_000).optional() }))
    .query(async ({ ctx, input, signal }) => {
      const first = await ctx.services.requests.get(ctx.tenantId, input.id);
      if (!first) throw new SluiceError('not_found', `No request ${input.id} for this tenant.`);
      return ctx.services.hub.waitForOutcome(ctx.tenantId, input.id, {
        timeoutMs: input.timeoutMs ?? ctx.services.syncWaitTimeoutMs,
        ...(signal ? { signal } : {}),
      });
    }),

  cancel: tenantProcedure
    .input(z.object({ id: RequestIdSchema }))
    .mutation(({ ctx, input }) => ctx.services.requests.cancel(ctx.tenantId, input.id, 'tenant')),
} satisfies TRPCRouterRecord;
