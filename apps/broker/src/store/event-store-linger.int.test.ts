import { makeEvent, makeSubmittedEvent } from '@sluice/events/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Database, openDatabase } from '../db/database';
import { migrateDatabase } from '../db/migrate';
import { createTenantService } from '../tenants/tenant-service';
import { createEventStore, type EventStore } from './event-store';

// Embedded (PGlite, one connection): the dispatcher's outcome writes linger to share a transaction,
// and every read through the store still sees them.
describe('event store: appends that linger (PGlite)', () => {
  let database: Database;
  let store: EventStore;
  let tenantId: string;
  const nextTurn = () => new Promise((r) => setImmediate(r));

  beforeAll(async () => {
    database = await openDatabase({ memory: true });
    await migrateDatabase(database.db);
    store = createEventStore(database.db, { serialTransactions: true, lingerMs: 60_000 });
    tenantId = (await createTenantService(database.db).createTenant('linger')).tenant.id;
  });
  afterAll(async () => {
    await database.close();
  });

  const submitted = () => makeSubmittedEvent({ tenantId });

  it('holds appends marked `together` and commits them in one transaction on the next read', async () => {
    const transactions = vi.spyOn(database.db, 'transaction');
    const [a, b] = [submitted(), submitted()];
    const writes = [store.append([a], { together: true }), store.append([b], { together: true })];
    await nextTurn();
    expect(transactions).not.toHaveBeenCalled();
    // A read ends the linger (60 s here) at once and sees both.
    expect(await store.getRequest(tenantId, b.requestId)).toMatchObject({ status: 'queued' });
    expect(transactions).toHaveBeenCalledTimes(1);
    expect((await Promise.all(writes)).map((w) => w.inserted.length)).toEqual([1, 1]);
    transactions.mockRestore();
  });

  it('writes an append nobody marked `together` at once', async () => {
    const e = submitted();
    await store.append([e]);
    expect(await store.eventsOf(e.requestId)).toHaveLength(1);
    const outcome = makeEvent('request.cancelled', { requestId: e.requestId, tenantId, attempt: 0 });
    const held = store.append([outcome], { together: true });
    await store.flush();
    expect((await held).inserted).toHaveLength(1);
    expect(
      (await store.listRequests({ tenantId, limit: 10 })).find((r) => r.requestId === e.requestId),
    ).toMatchObject({
      status: 'cancelled',
    });
  });
});
