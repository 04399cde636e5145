import * as crypto from 'node:crypto';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SluiceDb } from '../db/database';
import { generateApiKey, hashApiKey, hashesEqual, isWellFormedApiKey } from './api-key';
import { createTenantService } from './tenant-service';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const timingSafeEqual = vi.mocked(crypto.timingSafeEqual);

/** A stand-in for the one query `authenticate` makes: records the lookup, returns the given rows. */
function fakeDb(rows: unknown[]) {
  const lookups: unknown[] = [];
  const chain = {
    from: () => chain,
    leftJoin: () => chain,
    where: (condition: unknown) => {
      lookups.push(condition);
      return chain;
    },
    limit: async () => rows,
  };
  const db = { select: vi.fn(() => chain) };
  return { db: db as unknown as SluiceDb, select: db.select, lookups };
}

const keyRow = (apiKey: string, overrides: Record<string, unknown> = {}) => ({
  key: {
    id: 'key_1',
    tenantId: 'ten_1',
    role: 'tenant',
    prefix: apiKey.slice(0, 14),
    hash: hashApiKey(apiKey),
    revokedAt: null,
    ...overrides,
  },
  disabledAt: null,
});

describe('API keys', () => {
  afterEach(() => timingSafeEqual.mockClear());

  it('makes 256-bit keys in a recognisable shape and stores only their sha256', () => {
    const k = generateApiKey();
    expect(isWellFormedApiKey(k.apiKey)).toBe(true);
    expect(k.hash).toBe(crypto.createHash('sha256').update(k.apiKey).digest('hex'));
    expect(k.hash).not.toContain(k.apiKey.slice(10));
    expect(k.prefix).toBe(k.apiKey.slice(0, 14));
    expect(generateApiKey().apiKey).not.toBe(k.apiKey);
  });

  it('compares hashes with crypto.timingSafeEqual, on the full 32 bytes', () => {
    const a = hashApiKey(generateApiKey().apiKey);
    const b = hashApiKey(generateApiKey().apiKey);
    expect(hashesEqual(a, a)).toBe(true);
    expect(hashesEqual(a, b)).toBe(false);
    expect(timingSafeEqual).toHaveBeenCalledTimes(2);
    const [x, y] = timingSafeEqual.mock.calls[1]!;
    expect(Buffer.isBuffer(x) && Buffer.isBuffer(y)).toBe(true);
    expect((x as Buffer).length).toBe(32);
    expect((y as Buffer).length).toBe(32);
  });

  it('authenticates by looking the hash up, then comparing it in constant time', async () => {
    const { apiKey } = generateApiKey();
    const { db, lookups } = fakeDb([keyRow(apiKey)]);
    const auth = await createTenantService(db).authenticate(apiKey);
    expect(auth).toEqual({ tenantId: 'ten_1', keyId: 'key_1', role: 'tenant' });
    expect(lookups).toHaveLength(1);
    // The lookup is by hash: the key itself never goes into the query.
    const query = new PgDialect().sqlToQuery(lookups[0] as SQL);
    expect(query.sql).toMatch(/"hash" = \$1/);
    expect(query.params).toEqual([hashApiKey(apiKey)]);
    expect(timingSafeEqual).toHaveBeenCalledTimes(1);
  });

  it("makes one lookup for a key's requests arriving together, and a new one once it answered", async () => {
    const { apiKey } = generateApiKey();
    const { db, lookups } = fakeDb([keyRow(apiKey)]);
    const tenants = createTenantService(db);
    const together = await Promise.all(Array.from({ length: 50 }, () => tenants.authenticate(apiKey)));
    expect(new Set(together.map((a) => a?.keyId))).toEqual(new Set(['key_1']));
    expect(lookups).toHaveLength(1);
    await tenants.authenticate(apiKey); // no cache here (an operator tool): it asks again
    expect(lookups).toHaveLength(2);
  });

  it('refuses when the stored hash does not match exactly, even if the lookup returned a row', async () => {
    const { apiKey } = generateApiKey();
    const stored = keyRow(generateApiKey().apiKey);
    const { db } = fakeDb([stored]);
    expect(await createTenantService(db).authenticate(apiKey)).toBeNull();
    expect(timingSafeEqual).toHaveBeenCalledTimes(1);
  });

  it('refuses revoked keys and disabled tenants', async () => {
    const { apiKey } = generateApiKey();
    expect(
      await createTenantService(fakeDb([keyRow(apiKey, { revokedAt: new Date() })]).db).authenticate(apiKey),
    ).toBeNull();
    expect(
      await createTenantService(fakeDb([{ ...keyRow(apiKey), disabledAt: new Date() }]).db).authenticate(
        apiKey,
      ),
    ).toBeNull();
  });

  it('refuses malformed keys without a query', async () => {
    for (const bad of [
      '',
      'sk-sluice-short',
      `sk-sluice-${'a'.repeat(44)}`,
      `sk-test-${'a'.repeat(43)}`,
      `sk-sluice-${'é'.repeat(43)}`,
    ]) {
      const { db, select } = fakeDb([]);
      expect(await createTenantService(db).authenticate(bad)).toBeNull();
      expect(select).not.toHaveBeenCalled();
    }
    expect(timingSafeEqual).not.toHaveBeenCalled();
  });
});
