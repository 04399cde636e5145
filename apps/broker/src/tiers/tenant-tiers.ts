import { SluiceError } from '@sluice/events';
import type { TenantService } from '../tenants/tenant-service';
import { type TierPolicy, tierPolicyOf } from './tier-policy';

export interface TenantTiers extends TierPolicy {
  tenantId: string;
  name: string;
}

/**
 * Shows (`patch` undefined or empty) or changes a tenant's service-tier policy. API processes see
 * a change within their policy cache's few seconds.
 */
export async function tenantTiers(
  tenants: Pick<TenantService, 'getTenant' | 'updateTenantSettings'>,
  tenant: string,
  patch: Partial<TierPolicy> = {},
): Promise<TenantTiers> {
  const t = await tenants.getTenant(tenant);
  if (!t)
    throw new SluiceError('not_found', `No tenant ${tenant}. List them with \`sluice tenants list\`.`, {
      details: { param: 'tenant' },
    });
  const changes = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  const policy = tierPolicyOf({ ...t.settings.tiers, ...changes });
  if (Object.keys(changes).length) await tenants.updateTenantSettings(t.id, { ...t.settings, tiers: policy });
  return { tenantId: t.id, name: t.name, ...policy };
}
