import { createTestDatabase, type TestDatabase } from '@sluice/test-support';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumedMessage, EventLog, LogConsumer } from '../event-log';
import { waitFor } from '../testing/contract';
import { makeSubmittedEvent } from '../testing/fixtures';
import { TOPICS } from '../topics';
import { createPostgresEventLog } from './postgres-event-log';

// A consumer at the log's end is handed what its own process appends, without reading it back;
// records from other processes (and anything it is not positioned for) still come by a read.
describe('embedded log: in-process handoff on the Postgres server', () => {
  let database: TestDatabase;
  const pools: pg.Pool[] = [];
  const logs: EventLog[] = [];
  const consumers: LogConsumer[] = [];
  /** Reads of the record table (the fetch statement) through each pool. */
  const reads = new Map<pg.Pool, number>();

  async function open(): Promise<{ log: EventLog; pool: pg.Pool }> {
    const pool = new pg.Pool({ connectionString: database.url, max: 4 });
    pool.on('error', () => {});
    reads.set(pool, 0);
    const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
    (pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args) => {
      const first = args[0] as string | { text?: string };
      const text = typeof first === 'string' ? first : (first?.text ?? '');
      if (text.includes('FROM sluice_log_record') && text.includes('CROSS JOIN LATERAL'))
        reads.set(pool, (reads.get(pool) ?? 0) + 1);
      return query(...args);
    };
    pools.push(pool);
    const log = createPostgresEventLog({
      db: drizzle(pool),
      partitions: 4,
      pollIntervalMs: 100,
      heartbeatMs: 200,
    });
    await log.start();
    logs.push(log);
    return { log, pool };
  }

  beforeAll(async () => {
    database = await createTestDatabase('sluice_handoff');
  });
  afterAll(async () => {
    await Promise.allSettled(consumers.map((c) => c.stop()));
    for (const l of logs) await l.close().catch(() => {});
    for (const p of pools) await p.end().catch(() => {});
    await database.drop();
  });

  async function consumeAll(log: EventLog, topic: string) {
    const seen: ConsumedMessage[] = [];
    const consumer = await log.consume({
      groupId: `handoff-${Math.random().toString(36).slice(2)}`,
      topics: [topic],
      fromBeginning: false,
      handle: async (m) => void seen.push(m),
    });
    consumers.push(consumer);
    await waitFor(() => consumer.assignment().length > 0);
    return seen;
  }

  it('delivers a sequence of local appends without a read per record', async () => {
    const { log, pool } = await open();
    const seen = await consumeAll(log, TOPICS.requests.interactive);
    const before = reads.get(pool)!;
    for (let i = 0; i < 40; i++) {
      const event = makeSubmittedEvent({ pool: 'handoff-a', priority: 'interactive' });
      await log.append([{ topic: TOPICS.requests.interactive, key: 'handoff-a', event }]);
      await waitFor(() => seen.some((m) => m.event.requestId === event.requestId));
    }
    expect(seen).toHaveLength(40);
    // Without the handoff every append is followed by one read.
    expect(reads.get(pool)! - before).toBeLessThan(10);
  });

  it('interleaves handed and read records without losing, repeating or reordering one', async () => {
    const here = await open();
    const elsewhere = await open();
    const seen = await consumeAll(here.log, TOPICS.requests.standard);
    const keys = ['k-1', 'k-2', 'k-3', 'k-4', 'k-5'];
    const appended: string[] = [];
    await Promise.all(
      [here.log, elsewhere.log].map(async (log) => {
        for (let i = 0; i < 60; i++) {
          const key = keys[i % keys.length]!;
          const event = makeSubmittedEvent({ pool: key });
          appended.push(event.requestId);
          await log.append([{ topic: TOPICS.requests.standard, key, event }]);
        }
      }),
    );
    await waitFor(() => seen.length >= appended.length);
    await new Promise((r) => setTimeout(r, 300)); // anything extra would arrive by now
    expect(seen.map((m) => m.event.requestId).sort()).toEqual([...appended].sort());
    for (const p of new Set(seen.map((m) => m.partition))) {
      const offsets = seen.filter((m) => m.partition === p).map((m) => Number(m.offset));
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }
  });
});
