import type { TRPCRouterRecord } from '@trpc/server';
import type { ResponseItemList } from 'openai/resources/responses/input-items';
import type { Response } from 'openai/resources/responses/responses';
import { z } from 'zod';
import { operationRouter } from '../../router/operations';
import { tenantProcedure } from '../../trpc';
import { responses } from './index';

const ResponseId = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be a response id such as resp_…');

/**
 * `responses` over tRPC, named as the openai SDK names it: `create` (a background one answers its
 * queued response at once), `submit` / `wait`, and `retrieve`, `cancel`, `delete`, `inputItems`
 * for the tenant's own responses.
 */
export const responsesRouter = {
  ...operationRouter(responses),
  retrieve: tenantProcedure
    .input(z.object({ id: ResponseId, include: z.array(z.string().min(1).max(128)).max(16).optional() }))
    .query(
      ({ ctx, input }): Promise<Response> =>
        ctx.services.responses.retrieve(
          ctx.tenantId,
          input.id,
          input.include ? { 'include[]': input.include } : {},
        ),
    ),
  cancel: tenantProcedure
    .input(z.object({ id: ResponseId }))
    .mutation(({ ctx, input }): Promise<Response> => ctx.services.responses.cancel(ctx.tenantId, input.id)),
  delete: tenantProcedure
    .input(z.object({ id: ResponseId }))
    .mutation(({ ctx, input }) => ctx.services.responses.remove(ctx.tenantId, input.id)),
  inputItems: tenantProcedure
    .input(
      z.object({
        id: ResponseId,
        after: ResponseId.optional(),
        limit: z.number().int().min(1).max(100).optional(),
        order: z.enum(['asc', 'desc']).optional(),
      }),
    )
    .query(async ({ ctx, input }): Promise<ResponseItemList> => {
      const { id, ...query } = input;
      const params = Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)]));
      return (await ctx.services.responses.inputItems(ctx.tenantId, id, params)) as ResponseItemList;
    }),
} satisfies TRPCRouterRecord;
