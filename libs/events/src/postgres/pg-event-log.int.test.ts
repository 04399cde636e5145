import { createTestDatabase } from '@sluice/test-support';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { partitionForKey } from '../internal/partitioner';
import { describeEventLogContract } from '../testing/contract';
import { createPostgresEventLog } from './postgres-event-log';

// On the Postgres server each handle has its own pool: two processes in effect.
describeEventLogContract('embedded on the Postgres server', async () => {
  const database = await createTestDatabase('sluice_events');
  const pools: pg.Pool[] = [];
  const logs: Array<{ close(): Promise<void> }> = [];
  const open = async (options: { stopTimeoutMs?: number } = {}) => {
    const pool = new pg.Pool({ connectionString: database.url, max: 4 });
    // Dropping the database at the end terminates idle connections: expected, not a failure.
    pool.on('error', () => {});
    pools.push(pool);
    const log = createPostgresEventLog({
      db: drizzle(pool),
      partitions: 4,
      pollIntervalMs: 100,
      heartbeatMs: 200,
      sessionTimeoutMs: 1_500,
      delivery: { bufferPerPartition: 2, retryDelayMs: 20 },
      ...options,
    });
    await log.start();
    logs.push(log);
    return log;
  };
  const log = await open();
  const admin = new pg.Pool({ connectionString: database.url, max: 1 });
  admin.on('error', () => {});
  pools.push(admin);
  return {
    log,
    open,
    sessionTimeoutMs: 1_500,
    async writeRaw(topic, key, value) {
      const partition = partitionForKey(key, 4);
      await drizzle(
        admin,
      ).execute(sql`WITH p AS (UPDATE sluice_log_partition SET next_offset = next_offset + 1
        WHERE topic = ${topic} AND partition = ${partition} RETURNING next_offset - 1 AS o)
        INSERT INTO sluice_log_record (topic, partition, "offset", key, event_id, value) SELECT ${topic}, ${partition}, o, ${key}, NULL, ${value} FROM p`);
    },
    async cleanup() {
      for (const l of logs) await l.close().catch(() => {});
      for (const p of pools) await p.end().catch(() => {});
      await database.drop();
    },
  };
});
