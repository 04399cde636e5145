import { PgDialect } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import {
  decodeCursor,
  EXACT_FILTERS,
  ExplorerSearchInput,
  encodeCursor,
  explorerWhere,
  TenantExplorerSearchInput,
} from './explorer-query';

const dialect = new PgDialect({ casing: 'snake_case' });
const render = (q: Parameters<typeof explorerWhere>[0], scope: string | null) => {
  const where = explorerWhere(q, scope);
  return where ? dialect.sqlToQuery(where) : undefined;
};

describe('request explorer search', () => {
  it('matches each given filter exactly, with bound parameters', () => {
    const q = render(
      { status: 'failed', model: "gpt-4o'; DROP TABLE requests;--", from: '2025-07-01T00:00:00Z' },
      null,
    )!;
    expect(q.sql).toBe(
      '("requests"."status" = $1 and "requests"."model" = $2 and "requests"."submitted_at" >= $3)',
    );
    expect(q.params).toEqual(['failed', "gpt-4o'; DROP TABLE requests;--", '2025-07-01T00:00:00.000Z']);
    expect(render({}, null)).toBeUndefined();
  });

  it("always scopes a tenant's search to that tenant, whatever the input names", () => {
    const q = render({ tenantId: 'ten_other', idempotencyKey: 'order-42' }, 'ten_mine')!;
    expect(q.sql).toContain('"requests"."tenant_id" = $1');
    expect(q.params[0]).toBe('ten_mine');
    expect(q.params).not.toContain('ten_other');
    // The tenant procedure's schema drops a tenant filter before it reaches the query.
    const parsed = TenantExplorerSearchInput.parse({ tenantId: 'ten_other', status: 'completed' });
    expect(parsed).not.toHaveProperty('tenantId');
    expect(parsed).toMatchObject({ status: 'completed', limit: 50 });
  });

  it('pages by keyset: after the last row of the previous page, on (submitted_at, request_id)', () => {
    const cursor = encodeCursor({ submittedAt: '2025-07-01T10:00:00.123Z', requestId: 'req_b' });
    expect(decodeCursor(cursor)).toEqual({ submittedAt: '2025-07-01T10:00:00.123Z', requestId: 'req_b' });
    const q = render({ cursor, tenantId: 't1' }, null)!;
    expect(q.sql).toContain('("requests"."submitted_at", "requests"."request_id") < ($2::timestamptz, $3)');
    expect(q.params).toEqual(['t1', '2025-07-01T10:00:00.123Z', 'req_b']);
    for (const bad of [
      'nope',
      encodeCursor({ submittedAt: 'not a time', requestId: 'x' }),
      Buffer.from('[1,2]').toString('base64url'),
    ])
      expect(() => decodeCursor(bad)).toThrow(/cursor/);
  });

  it('refuses bad input with a message naming the field', () => {
    expect(ExplorerSearchInput.safeParse({ status: 'lost' }).error?.issues[0]?.path).toEqual(['status']);
    expect(ExplorerSearchInput.safeParse({ limit: 10_000 }).error?.issues[0]?.path).toEqual(['limit']);
    const inverted = ExplorerSearchInput.safeParse({
      from: '2025-07-02T00:00:00Z',
      to: '2025-07-01T00:00:00Z',
    });
    expect(inverted.error?.issues[0]?.message).toMatch(/before/);
  });

  it('derives its input from one table of filters, so a new filter is one line', () => {
    const shape = ExplorerSearchInput.shape;
    for (const name of Object.keys(EXACT_FILTERS)) expect(shape).toHaveProperty(name);
  });
});
