import { randomBytes } from 'node:crypto';
import { and, asc, eq, isNull, or, sql } from 'drizzle-orm';
import type { SluiceDb } from '../db/database';
import { type ApiKey, apiKeys, type Tenant, type TenantSettings, tenants } from '../db/schema';
import { generateApiKey, hashApiKey, hashesEqual, isWellFormedApiKey } from './api-key';
import { createAuthCache, KEY_REVOKED_CHANNEL } from './auth-cache';

export interface Authenticated {
  tenantId: string | null;
  keyId: string;
  role: 'tenant' | 'admin';
}

/** Tenants and their keys. Keys are random, shown once, stored as a hash, revocable at once. */
export function createTenantService(db: SluiceDb, opts: { cacheAuth?: boolean } = {}) {
  // Only the API process caches (it answers every request); operator tools always ask the database.
  const cache = opts.cacheAuth ? createAuthCache<Authenticated>(db) : undefined;
  const lookups = new Map<string, Promise<Authenticated | null>>();

  async function insertKey(tenantId: string | null, role: 'tenant' | 'admin') {
    const k = generateApiKey();
    const [key] = await db
      .insert(apiKeys)
      .values({
        id: `key_${randomBytes(9).toString('base64url')}`,
        tenantId,
        role,
        prefix: k.prefix,
        hash: k.hash,
      })
      .returning();
    return { key: key!, apiKey: k.apiKey };
  }

  async function getTenant(idOrName: string): Promise<Tenant | undefined> {
    return (
      await db
        .select()
        .from(tenants)
        .where(or(eq(tenants.id, idOrName), eq(tenants.name, idOrName)))
        .limit(1)
    )[0];
  }

  return {
    getTenant,
    async createTenant(
      name: string,
      settings: TenantSettings = {},
    ): Promise<{ tenant: Tenant; apiKey: string }> {
      const [tenant] = await db
        .insert(tenants)
        .values({ id: `ten_${randomBytes(9).toString('base64url')}`, name, settings })
        .returning();
      const { apiKey } = await insertKey(tenant!.id, 'tenant');
      return { tenant: tenant!, apiKey };
    },
    listTenants: (): Promise<Tenant[]> => db.select().from(tenants).orderBy(asc(tenants.createdAt)),
    async updateTenantSettings(id: string, settings: TenantSettings): Promise<void> {
      await db.update(tenants).set({ settings }).where(eq(tenants.id, id));
    },
    createKey: (tenantId: string) => insertKey(tenantId, 'tenant'),
    createAdminKey: () => insertKey(null, 'admin'),
    /** Revokes by key id or by the prefix shown in lists; returns the key, or undefined. */
    async revokeKey(idOrPrefix: string): Promise<ApiKey | undefined> {
      const [key] = await db
        .update(apiKeys)
        .set({ revokedAt: new Date() })
        .where(and(or(eq(apiKeys.id, idOrPrefix), eq(apiKeys.prefix, idOrPrefix)), isNull(apiKeys.revokedAt)))
        .returning();
      if (key) {
        cache?.clear();
        // Every API process that caches keys hears this and forgets them at once.
        await db.execute(sql`SELECT pg_notify(${KEY_REVOKED_CHANNEL}, ${key.id})`);
      }
      return key;
    },
    /** Starts and stops hearing revocations made by other processes (API processes only). */
    startAuthCache: async () => cache?.start(),
    stopAuthCache: async () => cache?.stop(),
    async listKeys(tenantId?: string): Promise<Omit<ApiKey, 'hash'>[]> {
      const rows = await db
        .select({
          id: apiKeys.id,
          tenantId: apiKeys.tenantId,
          role: apiKeys.role,
          prefix: apiKeys.prefix,
          createdAt: apiKeys.createdAt,
          revokedAt: apiKeys.revokedAt,
        })
        .from(apiKeys)
        .where(tenantId ? eq(apiKeys.tenantId, tenantId) : undefined)
        .orderBy(asc(apiKeys.createdAt));
      return rows;
    },
    /**
     * Who a presented key belongs to, or null. Malformed keys are refused without a query; the
     * stored hash is compared in constant time; revoked keys and disabled tenants are refused.
     */
    async authenticate(presented: string): Promise<Authenticated | null> {
      if (!isWellFormedApiKey(presented)) return null;
      const hash = hashApiKey(presented);
      const cached = cache?.get(hash);
      if (cached) return cached;
      // A key's first requests arriving together (a thousand connections opened at once) make one
      // lookup, not one each: the database pool stays free for everyone else's requests.
      let lookup = lookups.get(hash);
      if (!lookup) {
        lookup = lookUp(hash).finally(() => lookups.delete(hash));
        lookups.set(hash, lookup);
      }
      return lookup;
    },
  };

  async function lookUp(hash: string): Promise<Authenticated | null> {
    const row = (
      await db
        .select({ key: apiKeys, disabledAt: tenants.disabledAt })
        .from(apiKeys)
        .leftJoin(tenants, eq(tenants.id, apiKeys.tenantId))
        .where(eq(apiKeys.hash, hash))
        .limit(1)
    )[0];
    if (!row || !hashesEqual(row.key.hash, hash) || row.key.revokedAt || row.disabledAt) return null;
    const auth: Authenticated = { tenantId: row.key.tenantId, keyId: row.key.id, role: row.key.role };
    cache?.set(hash, auth);
    return auth;
  }
}

export type TenantService = ReturnType<typeof createTenantService>;
