import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { partitionForKey } from '../internal/partitioner';
import { describeEventLogContract } from '../testing/contract';
import { createPostgresEventLog } from './postgres-event-log';

// PGlite is one process: the "second handle" shares the database, as two consumers in one process would.
describeEventLogContract('embedded on PGlite', async () => {
  const client = new PGlite();
  const db = drizzle(client);
  const opened: Array<{ close(): Promise<void> }> = [];
  const open = async (options: { stopTimeoutMs?: number } = {}) => {
    const log = createPostgresEventLog({
      db,
      partitions: 4,
      pollIntervalMs: 100,
      heartbeatMs: 200,
      sessionTimeoutMs: 1_500,
      delivery: { bufferPerPartition: 2, retryDelayMs: 20 },
      ...options,
    });
    await log.start();
    opened.push(log);
    return log;
  };
  const log = await open();
  return {
    log,
    open,
    sessionTimeoutMs: 1_500,
    async writeRaw(topic, key, value) {
      const partition = partitionForKey(key, 4);
      await db.execute(sql`WITH p AS (UPDATE sluice_log_partition SET next_offset = next_offset + 1
        WHERE topic = ${topic} AND partition = ${partition} RETURNING next_offset - 1 AS o)
        INSERT INTO sluice_log_record (topic, partition, "offset", key, event_id, value) SELECT ${topic}, ${partition}, o, ${key}, NULL, ${value} FROM p`);
    },
    async cleanup() {
      for (const l of opened) await l.close();
      await client.close();
    },
  };
});
