import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, freePort, requireKafka, type TestDatabase, uniqueName } from './index';

// The foundation's promise: the real parts the product talks to are here and work.
describe('real Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('sluice_smoke');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('writes and reads a row in a fresh database of its own', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('CREATE TABLE smoke (id serial PRIMARY KEY, note text NOT NULL)');
      await client.query('INSERT INTO smoke (note) VALUES ($1)', ['hello sluice']);
      const { rows } = await client.query('SELECT note FROM smoke');
      expect(rows).toEqual([{ note: 'hello sluice' }]);
      const { rows: current } = await client.query('SELECT current_database() AS name');
      expect(current[0].name).toBe(db.name);
    } finally {
      await client.end();
    }
  });
});

describe('real Kafka', () => {
  it('produces and consumes a message through the broker infra/kafka started', async () => {
    const brokers = await requireKafka();
    const kafka = new Kafka({ clientId: 'sluice-smoke', brokers, logLevel: logLevel.ERROR });
    const topic = uniqueName('sluice-smoke');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true,
    });

    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'hello sluice' }] });

    const consumer = kafka.consumer({ groupId: uniqueName('sluice-smoke-group') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within 20s')), 20_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer);
          resolve(message.value?.toString() ?? '');
        },
      });
    });
    expect(received).toBe('hello sluice');

    await consumer.disconnect();
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
  });
});

describe('freePort', () => {
  it('returns a port below the ephemeral range that a server can listen on', async () => {
    const { createServer } = await import('node:net');
    const port = await freePort();
    expect(port).toBeGreaterThanOrEqual(10_000);
    expect(port).toBeLessThan(32_768);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
