import type { Endpoint, Priority, TierChoice, UpstreamRoute } from '@sluice/events';
import { type PriceTable, tierPricedAt } from '../billing/prices';
import { cachedRead } from '../cached-read';
import type { TenantSettings } from '../db/schema';
import { decideTier, TIER_DEFAULTS, type TierPolicy, type TierSettings, tierPolicyOf } from './tier-policy';

export interface TierQuestion {
  tenantId: string;
  endpoint: Endpoint;
  model: string;
  body: Record<string, unknown>;
  priority: Priority;
  route: UpstreamRoute;
  /** Epoch ms, or null. */
  deadline: number | null;
}

/** The admission step's view: the tier settled on (null: none), or a 403 for a tier the tenant may not use. */
export type ChooseTier = (q: TierQuestion) => Promise<TierChoice | null>;

/**
 * `decideTier` with the tenant's policy looked up (cached briefly, like the route policy, so a
 * backlog submitted at speed reads the tenant once) and flex's price looked up in the price table.
 */
export function createTierAdmission(deps: {
  tenant: (tenantId: string) => Promise<{ name: string; settings: TenantSettings } | undefined>;
  prices: PriceTable;
  settings?: Partial<TierSettings>;
  clock?: () => number;
  cacheMs?: number;
}): ChooseTier {
  const clock = deps.clock ?? Date.now;
  const settings = { ...TIER_DEFAULTS, ...deps.settings };
  const policyOf = cachedRead(
    async (tenantId): Promise<{ name: string; policy: TierPolicy }> => {
      const t = await deps.tenant(tenantId);
      return { name: t?.name ?? tenantId, policy: tierPolicyOf(t?.settings.tiers) };
    },
    deps.cacheMs ?? 2_000,
    clock,
  );

  return async (q) => {
    const now = clock();
    const { name, policy } = await policyOf(q.tenantId);
    return decideTier({
      endpoint: q.endpoint,
      requested: q.body.service_tier,
      priority: q.priority,
      route: q.route,
      deadline: q.deadline,
      now,
      policy,
      flexPriced: tierPricedAt(deps.prices, q.model, new Date(now), 'flex'),
      tenantName: name,
      settings,
    });
  };
}
