// Exits 0 once a client can create a topic, produce to it and consume the message back.
// Usage: node ready-check.mjs <bootstrap> [timeoutMs]
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../package.json', import.meta.url));
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap = '127.0.0.1:9092', timeoutArg = '10000'] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg);
const kafka = new Kafka({
  clientId: 'sluice-ready-check',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 2000,
  retry: { retries: 1 },
});
const topic = '__sluice_ready_check';
const token = `ready-${process.pid}-${Date.now()}`;

const timer = setTimeout(() => {
  console.error('ready-check timed out');
  process.exit(1);
}, timeoutMs);

try {
  const admin = kafka.admin();
  await admin.connect();
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) {
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true,
    });
  }
  await admin.disconnect();

  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const [meta] = await producer.send({ topic, acks: -1, messages: [{ value: token }] });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `sluice-ready-check-${process.pid}` });
  await consumer.connect();
  await consumer.subscribe({ topic });
  await new Promise((resolve) => {
    consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value?.toString() === token) resolve();
      },
    });
    consumer.seek({ topic, partition: meta.partition, offset: meta.baseOffset });
  });
  await consumer.disconnect();
  clearTimeout(timer);
  process.exit(0);
} catch (error) {
  console.error(String(error?.message ?? error));
  process.exit(1);
}
