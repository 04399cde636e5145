import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';

export const HOW_TO_START_KAFKA =
  'Start it with `infra/kafka/start` (or `npm run kafka:start`), or point KAFKA_BROKERS at a reachable broker.';

/** Bootstrap servers for tests: KAFKA_BROKERS (comma-separated) or the one `infra/kafka/start` runs. */
export function kafkaBrokers(): string[] {
  return (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Fails (never skips) with a message that says how to start Kafka when no broker answers. */
export async function requireKafka(brokers = kafkaBrokers()): Promise<string[]> {
  const admin = new Kafka({
    clientId: 'sluice-test-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    retry: { retries: 2 },
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (cause) {
    throw new Error(`Kafka is not reachable at ${brokers.join(',')}. ${HOW_TO_START_KAFKA}`, { cause });
  } finally {
    await admin.disconnect().catch(() => {});
  }
  return brokers;
}

/** A name no other test run uses (topics, consumer groups, schemas). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}
