import { SluiceError } from '@sluice/events';
import type { TRPCRouterRecord } from '@trpc/server';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { SubmitOptionsSchema } from '../intake/chat-request';
import { submitProcedure } from '../trpc';
import { SubmitInputSchema } from './requests';

export const chatRouter = {
  completions: {
    /** Submit and wait: the familiar one-call form, same parameters and result as the openai SDK. */
    create: submitProcedure
      .input(SubmitInputSchema)
      .mutation(async ({ ctx, input, signal }): Promise<ChatCompletion> => {
        if (input.params.stream) {
          throw new SluiceError(
            'invalid_request',
            'stream: true is served by POST /v1/chat/completions; over tRPC use requests.watch.',
            { details: { param: 'stream' } },
          );
        }
        const options = SubmitOptionsSchema.parse(input.options ?? {});
        await ctx.services.checkSubmitRate?.(ctx.tenantId);
        const { requestId, submitted } = await ctx.services.intake.submit(
          ctx.tenantId,
          input.params,
          options,
          'trpc',
          ctx.services.hub.expect,
        );
        const view = await ctx.services.hub.waitForOutcome(ctx.tenantId, requestId, {
          submitted,
          timeoutMs: options.timeoutMs ?? ctx.services.syncWaitTimeoutMs,
          ...(signal ? { signal } : {}),
        });
        if (view.status === 'completed' && view.result) return view.result;
        if (view.status === 'cancelled')
          throw new SluiceError('cancelled', `Request ${requestId} was cancelled.`);
        const e = view.error;
        throw new SluiceError(
          e?.status !== null && e?.status !== undefined && e.status < 500 && e.status !== 429
            ? 'invalid_request'
            : 'upstream_error',
          `Request ${requestId} failed: ${e?.reason ?? 'unknown'}: ${e?.message ?? ''}`,
          { details: { requestId } },
        );
      }),
  },
} satisfies TRPCRouterRecord;
