import { SluiceError } from '@sluice/events';
import { z } from 'zod';
import type { TenantSettings } from '../db/schema';
import { DEFAULT_CACHE_TTL_SECONDS } from './cache-key';

/** A shared cache's name, as an operator gives it (`--shared-scope`). */
export const SharedScopeName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, 'letters, digits, . _ - (starting with a letter or digit)');

/** What an operator sets: `scope` null = the tenant's own cache, a name = the shared cache of that name. */
export const TenantCacheInput = z.object({
  enabled: z.boolean(),
  ttlSeconds: z.number().int().min(1).max(31_536_000).optional(),
  scope: SharedScopeName.nullable().optional(),
});
export type TenantCacheInput = z.infer<typeof TenantCacheInput>;

export interface TenantCacheView {
  tenant: string;
  tenantId: string;
  enabled: boolean;
  ttlSeconds: number;
  /** The shared cache's name, or null for the tenant's own. */
  sharedScope: string | null;
}

/** Shared scopes live in their own namespace, so a name can never collide with a tenant id. */
const SHARED_PREFIX = 'shared:';

/**
 * Applies an operator's cache change to a tenant's settings (pure): `ttlSeconds` and `scope` keep
 * their values unless given.
 */
export function applyCacheInput(
  current: TenantSettings['cache'],
  input: TenantCacheInput,
): NonNullable<TenantSettings['cache']> {
  const scope =
    input.scope === undefined
      ? current?.scope
      : input.scope === null
        ? undefined
        : `${SHARED_PREFIX}${input.scope}`;
  return {
    enabled: input.enabled,
    ttlSeconds: input.ttlSeconds ?? current?.ttlSeconds ?? DEFAULT_CACHE_TTL_SECONDS,
    ...(scope ? { scope } : {}),
  };
}

interface TenantStore {
  getTenant(idOrName: string): Promise<{ id: string; name: string; settings: TenantSettings } | undefined>;
  updateTenantSettings(id: string, settings: TenantSettings): Promise<void>;
}

/** The operator's view and change of a tenant's cache settings (admin API, `sluice tenants cache`). */
export function createCacheSettingsOps(tenants: TenantStore, onChange?: (tenantId: string) => void) {
  async function resolve(tenant: string) {
    const t = await tenants.getTenant(tenant);
    if (!t)
      throw new SluiceError('not_found', `No tenant ${tenant}. List them with \`sluice tenants list\`.`, {
        details: { param: 'tenant' },
      });
    return t;
  }
  const view = (t: { id: string; name: string }, c: TenantSettings['cache']): TenantCacheView => ({
    tenant: t.name,
    tenantId: t.id,
    enabled: c?.enabled ?? false,
    ttlSeconds: c?.ttlSeconds ?? DEFAULT_CACHE_TTL_SECONDS,
    sharedScope: c?.scope?.startsWith(SHARED_PREFIX) ? c.scope.slice(SHARED_PREFIX.length) : null,
  });
  return {
    async get(tenant: string): Promise<TenantCacheView> {
      const t = await resolve(tenant);
      return view(t, t.settings.cache);
    },
    async set(tenant: string, input: TenantCacheInput): Promise<TenantCacheView> {
      const t = await resolve(tenant);
      const cache = applyCacheInput(t.settings.cache, input);
      await tenants.updateTenantSettings(t.id, { ...t.settings, cache });
      onChange?.(t.id);
      return view(t, cache);
    },
  };
}

export type CacheSettingsOps = ReturnType<typeof createCacheSettingsOps>;
