import { randomBytes } from 'node:crypto';
import { and, asc, eq, isNull, or } from 'drizzle-orm';
import type { SluiceDb } from '../db/database';
import { type ApiKey, apiKeys, type Tenant, type TenantSettings, tenants } from '../db/schema';
import { generateApiKey, hashApiKey, hashesEqual, isWellFormedApiKey } from './api-key';

export interface Authenticated {
  tenantId: string | null;
  keyId: string;
  role: 'tenant' | 'admin';
}

/** Tenants and their keys. Keys are random, shown once, stored as a hash, revocable at once. */
export function createTenantService(db: SluiceDb) {
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
      return key;
    },
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
      const row = (
        await db
          .select({ key: apiKeys, disabledAt: tenants.disabledAt })
          .from(apiKeys)
          .leftJoin(tenants, eq(tenants.id, apiKeys.tenantId))
          .where(eq(apiKeys.hash, hash))
          .limit(1)
      )[0];
      if (!row || !hashesEqual(row.key.hash, hash) || row.key.revokedAt || row.disabledAt) return null;
      return { tenantId: row.key.tenantId, keyId: row.key.id, role: row.key.role };
    },
  };
}

export type TenantService = ReturnType<typeof createTenantService>;
