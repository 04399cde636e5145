import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { TenantCacheInput } from '../cache/cache-settings';
import { TIER_MODES } from '../tiers/tier-policy';
import { adminProcedure } from '../trpc';
import { RequestIdSchema } from './requests';
import { UsageQueryInput, usageRange } from './usage';

const TenantName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, 'letters, digits, . _ - (starting with a letter or digit)');

const TenantRef = z.string().min(1).max(128);

export const OperatorReportInput = z.object({ tenant: TenantRef.optional() }).and(UsageQueryInput);

/** Operator API: what the CLI calls when a server is running (PGlite allows one process per data dir). */
export const adminRouter = {
  /** What `sluice status` shows: dispatcher heartbeats, open requests, log lag. */
  status: adminProcedure.query(({ ctx }) => ctx.services.status()),
  dlq: {
    list: adminProcedure
      .input(z.object({ all: z.boolean().default(false) }).optional())
      .query(({ ctx, input }) => ctx.services.dlq.list({ includeResolved: input?.all ?? false })),
    retry: adminProcedure
      .input(z.object({ id: RequestIdSchema }))
      .mutation(({ ctx, input }) => ctx.services.dlq.retry(input.id)),
    discard: adminProcedure
      .input(z.object({ id: RequestIdSchema }))
      .mutation(({ ctx, input }) => ctx.services.dlq.discard(input.id)),
  },
  tenants: {
    create: adminProcedure
      .input(z.object({ name: TenantName }))
      .mutation(({ ctx, input }) => ctx.services.admin.createTenant(input.name)),
    list: adminProcedure.query(({ ctx }) => ctx.services.admin.listTenants()),
    /** The tenant's exact response cache: on/off, TTL, and an operator-shared scope. */
    cache: {
      get: adminProcedure
        .input(z.object({ tenant: TenantRef }))
        .query(({ ctx, input }) => ctx.services.cacheSettings.get(input.tenant)),
      set: adminProcedure.input(TenantCacheInput.extend({ tenant: TenantRef })).mutation(({ ctx, input }) => {
        const { tenant, ...settings } = input;
        return ctx.services.cacheSettings.set(tenant, settings);
      }),
    },
    /** Shows (no `enabled`) or sets whether batch-class requests may go through the Batch API. */
    batchApi: adminProcedure
      .input(z.object({ tenant: TenantRef, enabled: z.boolean().optional() }))
      .mutation(({ ctx, input }) => ctx.services.admin.batchApi(input.tenant, input.enabled)),
    /** Shows (nothing to change) or changes the tenant's service-tier policy. */
    tiers: adminProcedure
      .input(
        z.object({
          tenant: TenantRef,
          flex: z.enum(TIER_MODES).optional(),
          priority: z.enum(TIER_MODES).optional(),
          fallback: z.boolean().optional(),
        }),
      )
      .mutation(({ ctx, input: { tenant, ...patch } }) => ctx.services.admin.tiers(tenant, patch)),
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
  /** Usage report of one tenant (id or name) or all; unknown tenants are `NOT_FOUND`. */
  usage: adminProcedure.input(OperatorReportInput).query(({ ctx, input }) =>
    ctx.services.billing.report({
      ...(input.tenant ? { tenant: input.tenant } : {}),
      ...usageRange(input),
      by: input.by,
    }),
  ),
  budgets: {
    get: adminProcedure
      .input(z.object({ tenant: TenantRef }))
      .query(({ ctx, input }) => ctx.services.billing.budget(input.tenant)),
    set: adminProcedure
      .input(
        z
          .object({
            tenant: TenantRef,
            usdMicros: z.number().int().min(0).nullable().default(null),
            tokens: z.number().int().min(0).nullable().default(null),
            onExhausted: z.enum(['refuse', 'downgrade']).default('refuse'),
          })
          .refine((b) => b.usdMicros !== null || b.tokens !== null, {
            message: 'give a dollar limit, a token limit, or both',
            path: ['usdMicros'],
          }),
      )
      .mutation(({ ctx, input }) => {
        const { tenant, ...budget } = input;
        return ctx.services.billing.setBudget(tenant, budget);
      }),
    clear: adminProcedure
      .input(z.object({ tenant: TenantRef }))
      .mutation(({ ctx, input }) => ctx.services.billing.setBudget(input.tenant, null)),
  },
  audit: {
    /** Checks every tenant's hash chain (or one's); says where each breaks. */
    verify: adminProcedure
      .input(z.object({ tenant: TenantRef.optional() }).optional())
      .query(({ ctx, input }) =>
        ctx.services.billing.auditVerify(input?.tenant ? { tenant: input.tenant } : {}),
      ),
  },
} satisfies TRPCRouterRecord;
