import { SluiceError } from '@sluice/events';
import type { TenantService } from '../tenants/tenant-service';

export interface TenantBatchApi {
  tenantId: string;
  name: string;
  batchApi: boolean;
}

/**
 * Shows or sets whether a tenant's batch-class requests may go through the Batch API (`enabled`
 * undefined = show). API processes see a change within their route cache's few seconds.
 */
export async function tenantBatchApi(
  tenants: Pick<TenantService, 'getTenant' | 'updateTenantSettings'>,
  tenant: string,
  enabled?: boolean,
): Promise<TenantBatchApi> {
  const t = await tenants.getTenant(tenant);
  if (!t)
    throw new SluiceError('not_found', `No tenant ${tenant}. List them with \`sluice tenants list\`.`, {
      details: { param: 'tenant' },
    });
  if (enabled !== undefined && enabled !== (t.settings.batchApi === true))
    await tenants.updateTenantSettings(t.id, { ...t.settings, batchApi: enabled });
  return { tenantId: t.id, name: t.name, batchApi: enabled ?? t.settings.batchApi === true };
}
