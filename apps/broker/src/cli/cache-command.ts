import { type Command, InvalidArgumentError } from 'commander';
import type { TenantCacheView } from '../cache/cache-settings';
import { withAdmin } from './admin-session';
import { out } from './output';

export function describeCache(c: TenantCacheView): string {
  if (!c.enabled) return `tenant ${c.tenant}: response cache off`;
  const scope = c.sharedScope ? `shared cache "${c.sharedScope}"` : 'its own cache';
  return `tenant ${c.tenant}: response cache on, ${scope}, answers kept ${c.ttlSeconds} s`;
}

const seconds = (v: string) => {
  if (!/^\d{1,8}$/.test(v) || Number(v) < 1 || Number(v) > 31_536_000)
    throw new InvalidArgumentError(`${v} is not a TTL in whole seconds from 1 to 31536000`);
  return Number(v);
};

/** `sluice tenants cache <tenant>`: show, enable or disable a tenant's exact response cache. */
export function registerCacheCommand(tenants: Command): void {
  tenants
    .command('cache <tenant>')
    .description('show or set a tenant’s exact response cache; no flags = show it')
    .option('--on', 'cache deterministic requests (temperature 0) and those that ask for it')
    .option('--off', 'stop caching (stored answers stay until they expire)')
    .option('--ttl <seconds>', 'how long an answer is reused (default 3600)', seconds)
    .option('--shared-scope <name>', 'share one cache with every tenant naming the same scope')
    .option('--own-scope', 'go back to the tenant’s own cache')
    .option('--json', 'print JSON')
    .action(
      (
        tenant: string,
        o: {
          on?: boolean;
          off?: boolean;
          ttl?: number;
          sharedScope?: string;
          ownScope?: boolean;
          json?: boolean;
        },
      ) =>
        withAdmin(async (s) => {
          if (o.on && o.off) throw new InvalidArgumentError('give --on or --off, not both');
          if (o.sharedScope && o.ownScope)
            throw new InvalidArgumentError('give --shared-scope or --own-scope, not both');
          const changing = o.on || o.off || o.ttl !== undefined || o.sharedScope || o.ownScope;
          let view: TenantCacheView;
          if (!changing) view = await s.cache.get(tenant);
          else {
            const current = await s.cache.get(tenant);
            view = await s.cache.set(tenant, {
              enabled: o.on ? true : o.off ? false : current.enabled,
              ...(o.ttl !== undefined ? { ttlSeconds: o.ttl } : {}),
              ...(o.sharedScope ? { scope: o.sharedScope } : o.ownScope ? { scope: null } : {}),
            });
          }
          out(o.json ? JSON.stringify(view) : describeCache(view));
        }),
    );
}
