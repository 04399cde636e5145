import type { EventLog } from '@sluice/events';
import { createKafkaEventLog } from '@sluice/events/kafka';
import { createPostgresEventLog } from '@sluice/events/postgres';
import type { Database } from '../db/database';
import type { SluiceConfig } from '../env';

/** The log as the server sees it (Kafka, or the Postgres-backed log in the database), started. */
export async function openLog(config: SluiceConfig, database: Database, clientId: string): Promise<EventLog> {
  const log =
    config.log.kind === 'kafka'
      ? createKafkaEventLog({
          brokers: config.log.brokers,
          partitions: config.log.partitions,
          clientId,
          ...(config.log.namespace ? { namespace: config.log.namespace } : {}),
        })
      : createPostgresEventLog({ db: database.db, partitions: config.log.partitions });
  try {
    await log.start();
  } catch (error) {
    await log.close().catch(() => {});
    throw error;
  }
  return log;
}
