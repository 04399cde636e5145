import { SluiceError } from '@sluice/events';
import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import type { SubmitOptions } from '../intake/submit-options';
import type { AnyOperation, ResultOf } from '../operations/operation';
import { callerAnswerOf } from '../outcomes/outcome-answer';
import { tenantProcedure } from '../trpc';
import { RequestIdSchema } from './request-id';

/**
 * The input of a submission over tRPC. Its parts are typed here but validated by the submit use
 * case, once, like `/v1`'s (the body guard runs on the raw input, before any schema).
 */
export function submitInput<O extends AnyOperation>(_operation: O) {
  return z.strictObject({
    params: z.custom<z.input<O['request']>>(),
    options: z.custom<SubmitOptions>().optional(),
  });
}

/**
 * One operation over tRPC, named as the openai SDK names it (`chat.completions`, `embeddings`):
 * `create` submits and waits (the familiar one-call form, same parameters and result as the openai
 * SDK), `submit` returns the id once the log holds the request, `wait` waits for a submitted
 * request's result. Streaming is served by `/v1` (over tRPC, watch the request).
 */
export function operationRouter<O extends AnyOperation>(operation: O) {
  const input = submitInput(operation);
  const refuseStream = (params: unknown) => {
    if (operation.stream?.requested(params as Record<string, unknown>))
      throw new SluiceError(
        'invalid_request',
        `stream: true is served by POST ${operation.endpoint}; over tRPC use submit and requests.watch.`,
        { details: { param: 'stream' } },
      );
  };
  return {
    create: tenantProcedure.input(input).mutation(async ({ ctx, input, signal }): Promise<ResultOf<O>> => {
      refuseStream(input.params);
      const { submission, view, placeholder } = await ctx.services.submissions.submitAndWait(
        { tenantId: ctx.tenantId, operation, body: input.params, options: input.options, source: 'trpc' },
        signal ? { signal } : {},
      );
      if (!view) return placeholder as ResultOf<O>;
      return callerAnswerOf(operation, view, submission.requestId) as ResultOf<O>;
    }),
    submit: tenantProcedure.input(input).mutation(async ({ ctx, input }) => {
      const r = await ctx.services.submissions.submit({
        tenantId: ctx.tenantId,
        operation,
        body: input.params,
        options: input.options,
        source: 'trpc',
      });
      return { id: r.requestId, duplicate: r.duplicate, priority: r.priority, cache: r.cache };
    }),
    wait: tenantProcedure
      .input(z.object({ id: RequestIdSchema, timeoutMs: z.number().int().min(1).max(600_000).optional() }))
      .query(async ({ ctx, input, signal }): Promise<ResultOf<O>> => {
        const first = await ctx.services.requests.get(ctx.tenantId, input.id);
        if (!first || first.endpoint !== operation.endpoint)
          throw new SluiceError('not_found', `No ${operation.endpoint} request ${input.id} for this tenant.`);
        const view = await ctx.services.hub.waitForOutcome(ctx.tenantId, input.id, {
          timeoutMs: input.timeoutMs ?? ctx.services.syncWaitTimeoutMs,
          ...(signal ? { signal } : {}),
        });
        return callerAnswerOf(operation, view, input.id) as ResultOf<O>;
      }),
  } satisfies TRPCRouterRecord;
}
