import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { adminProcedure } from '../trpc';
import { RequestIdSchema } from './requests';
import { UsageQueryInput, usageRange } from './usage';

const TenantName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, 'letters, digits, . _ - (starting with a letter or digit)');

/** Operator API: what the CLI calls when a server is running (PGlite allows one process per data dir). */
export const adminRouter = {
  tenants: {
    create: adminProcedure
      .input(z.object({ name: TenantName }))
      .mutation(({ ctx, input }) => ctx.services.admin.createTenant(input.name)),
    list: adminProcedure.query(({ ctx }) => ctx.services.admin.listTenants()),
  },
  keys: {
    create: adminProcedure
      .input(z.object({ tenant: z.string().min(1).max(64).nullable() }))
      .mutation(({ ctx, input }) => ctx.services.admin.createKey(input.tenant)),
    revoke: adminProcedure
      .input(z.object({ key: z.string().min(3).max(64) }))
      .mutation(({ ctx, input }) => ctx.services.admin.revokeKey(input.key)),
    list: adminProcedure
      .input(z.object({ tenant: z.string().min(1).max(64).optional() }).optional())
      .query(({ ctx, input }) => ctx.services.admin.listKeys(input?.tenant)),
  },
  requests: {
    get: adminProcedure
      .input(z.object({ id: RequestIdSchema }))
      .query(({ ctx, input }) => ctx.services.requests.get(null, input.id)),
    cancel: adminProcedure
      .input(z.object({ id: RequestIdSchema }))
      .mutation(({ ctx, input }) => ctx.services.requests.cancel(null, input.id, 'operator')),
  },
  usage: adminProcedure
    .input(z.object({ tenant: z.string().min(1).max(128).optional() }).and(UsageQueryInput))
    .query(({ ctx, input }) =>
      ctx.services.usage({
        ...(input.tenant ? { tenantId: input.tenant } : {}),
        ...usageRange(input),
        by: input.by,
      }),
    ),
} satisfies TRPCRouterRecord;
