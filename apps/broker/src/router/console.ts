import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { ExplorerSearchInput, TenantExplorerSearchInput } from '../console/explorer-query';
import { adminProcedure, recordAdminAction, signedInProcedure, tenantProcedure } from '../trpc';
import { RequestIdSchema } from './requests';

const RequestRef = z.object({ id: RequestIdSchema });

/**
 * What the console reads beyond the API's own procedures. Its actions are the admin procedures the
 * CLI calls (`admin.*`); these are reads, each a tenant procedure scoped to the caller's tenant or
 * an admin procedure, with exactly the API's authorization, whether the caller holds a key or a session.
 */
export const consoleRouter = {
  /** Who the caller is (either role): the console's header and which pages it offers. */
  session: signedInProcedure.query(({ ctx }) => ctx.services.console.whoami(ctx.auth)),

  /** The calling tenant's own requests and timelines: the tenant comes from its key or session. */
  requests: {
    search: tenantProcedure
      .input(TenantExplorerSearchInput)
      .query(({ ctx, input }) => ctx.services.console.search(ctx.tenantId, input)),
    timeline: tenantProcedure
      .input(RequestRef)
      .query(({ ctx, input }) => ctx.services.console.timeline(ctx.tenantId, input.id)),
  },
  /** The calling tenant's own keys (listed; issuing and revoking stay with operators). */
  keys: tenantProcedure.query(({ ctx }) => ctx.services.console.ownKeys(ctx.tenantId)),

  admin: {
    requests: {
      search: adminProcedure
        .input(ExplorerSearchInput)
        .query(({ ctx, input }) => ctx.services.console.search(null, input)),
      timeline: adminProcedure
        .input(RequestRef)
        .query(({ ctx, input }) => ctx.services.console.timeline(null, input.id)),
      /** The bodies, read on purpose: a separate call, recorded in the audit trail like an action. */
      bodies: adminProcedure.input(RequestRef).query(async ({ ctx, input, path }) => {
        const bodies = await ctx.services.console.bodies(input.id);
        await recordAdminAction(ctx, path, input, undefined, 'ok');
        return bodies;
      }),
    },
    /** Queues, quota use against the learned limits, 429 pauses and in-flight batches, right now. */
    live: adminProcedure.query(({ ctx }) => ctx.services.console.live()),
    /** Every tenant with its policies and live key count. */
    tenants: adminProcedure.query(({ ctx }) => ctx.services.console.tenants()),
    /** The audit trail of administrative actions, newest first. */
    audit: adminProcedure
      .input(
        z
          .object({
            limit: z.number().int().min(1).max(500).default(100),
            before: z.number().int().min(1).optional(),
          })
          .optional(),
      )
      .query(({ ctx, input }) =>
        ctx.services.console.audit.list({
          limit: input?.limit ?? 100,
          ...(input?.before !== undefined ? { before: input.before } : {}),
        }),
      ),
  },
} satisfies TRPCRouterRecord;
