import { kafkaBrokers, requireKafka, uniqueName } from '@sluice/test-support';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionForKey } from '../internal/partitioner';
import { describeEventLogContract } from '../testing/contract';
import { TOPICS } from '../topics';
import { createKafkaEventLog, deleteKafkaNamespace } from './kafka-event-log';

// Real Kafka (infra/kafka/start); topics live in a namespace of their own and are deleted after.
describeEventLogContract('Kafka', async () => {
  const brokers = await requireKafka();
  const namespace = uniqueName('contract');
  const logs: Array<{ close(): Promise<void> }> = [];
  const sessionTimeoutMs = 6_000; // the broker's minimum (group.min.session.timeout.ms)
  const open = async (options: { stopTimeoutMs?: number } = {}) => {
    const log = createKafkaEventLog({
      brokers,
      namespace,
      partitions: 4,
      sessionTimeoutMs,
      delivery: { bufferPerPartition: 2, retryDelayMs: 20 },
      ...options,
    });
    await log.start();
    logs.push(log);
    return log;
  };
  const log = await open();
  const producer = new Kafka({
    clientId: 'contract-raw',
    brokers: kafkaBrokers(),
    logLevel: logLevel.NOTHING,
  }).producer();
  await producer.connect();
  return {
    log,
    open,
    sessionTimeoutMs,
    async writeRaw(topic, key, value) {
      await producer.send({
        topic: `${namespace}.${topic}`,
        messages: [{ key, value, partition: partitionForKey(key, 4) }],
      });
    },
    async cleanup() {
      for (const l of logs) await l.close().catch(() => {});
      await producer.disconnect();
      await deleteKafkaNamespace(brokers, namespace);
    },
  };
});

// Production starts API and dispatcher processes together on a fresh namespace: each may find the
// topics created a moment ago by another, before their partitions have leaders.
describe('Kafka log start', () => {
  it('starts several processes at once on new topics and consumes from the current end', async () => {
    const brokers = await requireKafka();
    const namespace = uniqueName('race');
    const logs = Array.from({ length: 3 }, () => createKafkaEventLog({ brokers, namespace, partitions: 3 }));
    try {
      await Promise.all(logs.map((l) => l.start()));
      const consumers = await Promise.all(
        logs.map((l, i) =>
          l.consume({
            groupId: `g${i}`,
            topics: [TOPICS.outcomes],
            fromBeginning: false,
            handle: async () => {},
          }),
        ),
      );
      await Promise.all(consumers.map((c) => c.stop()));
      expect(consumers).toHaveLength(3);
    } finally {
      await Promise.all(logs.map((l) => l.close().catch(() => {})));
      await deleteKafkaNamespace(brokers, namespace);
    }
  }, 60_000);
});
