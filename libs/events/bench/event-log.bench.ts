// npm run bench -w @sluice/events — append throughput and append-to-consume latency per adapter,
// each next to a raw-driver baseline measured in the same run.
import { PGlite } from '@electric-sql/pglite';
import { createTestDatabase, kafkaBrokers, requireKafka, uniqueName } from '@sluice/test-support';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import type { EventLog } from '../src/index';
import { TOPICS } from '../src/index';
import { createKafkaEventLog, deleteKafkaNamespace } from '../src/kafka/index';
import { createPostgresEventLog } from '../src/postgres/index';
import { makeSubmittedEvent } from '../src/testing/fixtures';

const quick = process.argv.includes('--quick');
const UNBATCHED = quick ? 300 : 1_500;
const BATCHES = quick ? 4 : 10;
const BATCH = 500;
const LATENCY_SAMPLES = quick ? 100 : 300;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;
const rows: Array<Record<string, string>> = [];

async function measure(name: string, log: EventLog, baseline: () => Promise<void>): Promise<void> {
  const topic = TOPICS.requests.standard;
  const t0 = performance.now();
  for (let i = 0; i < UNBATCHED; i++)
    await log.append([{ topic, key: `p${i % 4}`, event: makeSubmittedEvent({ pool: `p${i % 4}` }) }]);
  const unbatched = UNBATCHED / ((performance.now() - t0) / 1000);
  const t1 = performance.now();
  for (let b = 0; b < BATCHES; b++) {
    await log.append(
      Array.from({ length: BATCH }, (_, i) => ({
        topic,
        key: `p${i % 4}`,
        event: makeSubmittedEvent({ pool: `p${i % 4}` }),
      })),
    );
  }
  const batched = (BATCHES * BATCH) / ((performance.now() - t1) / 1000);
  const b0 = performance.now();
  for (let i = 0; i < UNBATCHED; i++) await baseline();
  const base = UNBATCHED / ((performance.now() - b0) / 1000);

  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const consumer = await log.consume({
    groupId: uniqueName('bench'),
    topics: [TOPICS.requests.interactive],
    fromBeginning: false,
    handle: async (m) => {
      const t = sentAt.get(m.event.requestId);
      if (t !== undefined) latencies.push(performance.now() - t);
    },
  });
  await new Promise((r) => setTimeout(r, 3_000));
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const e = makeSubmittedEvent({ pool: 'lat', priority: 'interactive' });
    sentAt.set(e.requestId, performance.now());
    await log.append([{ topic: TOPICS.requests.interactive, key: 'lat', event: e }]);
    await new Promise((r) => setTimeout(r, 5));
  }
  const deadline = Date.now() + 20_000;
  while (latencies.length < LATENCY_SAMPLES && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  await consumer.stop();
  rows.push({
    adapter: name,
    'append unbatched (ev/s)': unbatched.toFixed(0),
    'raw driver unbatched (ev/s)': base.toFixed(0),
    'adapter / raw': (unbatched / base).toFixed(2),
    'append batched x500 (ev/s)': batched.toFixed(0),
    'append→consume p50 (ms)': pct(latencies, 50).toFixed(1),
    'append→consume p99 (ms)': pct(latencies, 99).toFixed(1),
    received: `${latencies.length}/${LATENCY_SAMPLES}`,
  });
}

// Kafka
{
  const brokers = await requireKafka(kafkaBrokers());
  const namespace = uniqueName('bench');
  const log = createKafkaEventLog({ brokers, namespace, partitions: 4 });
  await log.start();
  const producer = new Kafka({ clientId: 'bench-raw', brokers, logLevel: logLevel.NOTHING }).producer({
    idempotent: true,
  });
  await producer.connect();
  const raw = `${namespace}.raw`;
  await measure('kafka', log, async () => {
    await producer.send({
      topic: `${namespace}.${TOPICS.requests.batch}`,
      acks: -1,
      messages: [{ key: 'p', value: 'x'.repeat(600) }],
    });
  });
  void raw;
  await producer.disconnect();
  await log.close();
  await deleteKafkaNamespace(brokers, namespace);
}
// Postgres server
{
  const database = await createTestDatabase('sluice_bench');
  const pool = new pg.Pool({ connectionString: database.url, max: 8 });
  pool.on('error', () => {});
  const db = drizzlePg(pool);
  const log = createPostgresEventLog({ db, partitions: 4 });
  await log.start();
  await db.execute(sql`CREATE TABLE raw_baseline (id bigserial primary key, value text)`);
  await measure('postgres (server)', log, async () => {
    await db.execute(sql`INSERT INTO raw_baseline (value) VALUES (${'x'.repeat(600)})`);
  });
  await log.close();
  await pool.end();
  await database.drop();
}
// PGlite
{
  const client = new PGlite();
  const db = drizzlePglite(client);
  const log = createPostgresEventLog({ db, partitions: 4 });
  await log.start();
  await db.execute(sql`CREATE TABLE raw_baseline (id bigserial primary key, value text)`);
  await measure('postgres (PGlite)', log, async () => {
    await db.execute(sql`INSERT INTO raw_baseline (value) VALUES (${'x'.repeat(600)})`);
  });
  await log.close();
  await client.close();
}

console.table(rows);
process.exit(0);
