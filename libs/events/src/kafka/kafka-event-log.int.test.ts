import { kafkaBrokers, requireKafka, uniqueName } from '@sluice/test-support';
import { Kafka, logLevel } from 'kafkajs';
import { partitionForKey } from '../internal/partitioner';
import { describeEventLogContract } from '../testing/contract';
import { createKafkaEventLog, deleteKafkaNamespace } from './kafka-event-log';

// Real Kafka (infra/kafka/start); topics live in a namespace of their own and are deleted after.
describeEventLogContract('Kafka', async () => {
  const brokers = await requireKafka();
  const namespace = uniqueName('contract');
  const logs: Array<{ close(): Promise<void> }> = [];
  const open = async () => {
    const log = createKafkaEventLog({ brokers, namespace, partitions: 4 });
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
