import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { REPORT_GROUPINGS } from '../reports/usage-report';
import { tenantProcedure } from '../trpc';

export const UsageQueryInput = z
  .object({
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    by: z.enum(REPORT_GROUPINGS).default('day'),
  })
  .refine((q) => !q.from || !q.to || Date.parse(q.from) < Date.parse(q.to), {
    message: '`from` must be before `to`',
    path: ['from'],
  });

export function usageRange(input: { from?: string | undefined; to?: string | undefined }): {
  from: Date;
  to: Date;
} {
  const to = input.to ? new Date(input.to) : new Date();
  const from = input.from ? new Date(input.from) : new Date(to.getTime() - 30 * 24 * 3600_000);
  return { from, to };
}

export const usageRouter = {
  /**
   * The calling tenant's own usage report (per day, hour or model, with cost and latency
   * percentiles); never another tenant's: the tenant comes from the key, not the input.
   */
  mine: tenantProcedure.input(UsageQueryInput.optional()).query(({ ctx, input }) => {
    const q = input ?? { by: 'day' as const };
    return ctx.services.usage({ tenantId: ctx.tenantId, ...usageRange(q), by: q.by });
  }),
  /** The calling tenant's budget this period: limits, spent, remaining, and what happens when spent. */
  budget: tenantProcedure.query(({ ctx }) => ctx.services.billing.budget(ctx.tenantId)),
} satisfies TRPCRouterRecord;
