import { SluiceError } from '@sluice/events';
import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { ChatCompletionRequestSchema, SubmitOptionsSchema } from '../intake/chat-request';
import { tenantProcedure } from '../trpc';

export const RequestIdSchema = z
  .string()
  .min(5)
  .max(64)
  .regex(/^req_[A-Za-z0-9_-]+$/, 'must be a request id such as req_…');

export const SubmitInputSchema = z.object({
  params: ChatCompletionRequestSchema,
  options: SubmitOptionsSchema.optional(),
});

export const requestsRouter = {
  /** Accepts a request; returns its id only once the log holds it durably. */
  submit: tenantProcedure.input(SubmitInputSchema).mutation(async ({ ctx, input }) => {
    const options = SubmitOptionsSchema.parse(input.options ?? {});
    const r = await ctx.services.intake.submit(ctx.tenantId, input.params, options, 'trpc');
    return { id: r.requestId, duplicate: r.duplicate, priority: r.priority };
  }),

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
  watch: tenantProcedure.input(z.object({ id: RequestIdSchema })).subscription(async function* ({
    ctx,
    input,
    signal,
  }) {
    const first = await ctx.services.requests.get(ctx.tenantId, input.id);
    if (!first) throw new SluiceError('not_found', `No request ${input.id} for this tenant.`);
    yield* ctx.services.hub.watch(ctx.tenantId, input.id, signal);
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
