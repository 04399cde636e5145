import { kafkaBrokers, requireKafka, uniqueName } from '@sluice/test-support';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { EventLog } from '../event-log';
import { partitionForKey } from '../internal/partitioner';
import { describeEventLogContract, waitFor } from '../testing/contract';
import { makeEvent, makeSubmittedEvent } from '../testing/fixtures';
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

/** A started log on a namespace of its own, closed and deleted after `run`. */
async function withKafkaLog(name: string, partitions: number, run: (log: EventLog) => Promise<void>) {
  const brokers = await requireKafka();
  const namespace = uniqueName(name);
  const log = createKafkaEventLog({ brokers, namespace, partitions });
  try {
    await log.start();
    await run(log);
  } finally {
    await log.close().catch(() => {});
    await deleteKafkaNamespace(brokers, namespace);
  }
}

describe('Kafka consumer of only new messages', () => {
  it('skips what was appended before consume, and misses nothing appended right after it, before its group joined', async () => {
    await withKafkaLog('newonly', 3, async (log) => {
      const old = makeSubmittedEvent();
      await log.append([{ topic: TOPICS.outcomes, key: old.requestId, event: old }]);
      const seen: string[] = [];
      const consumer = await log.consume({
        groupId: 'fresh',
        topics: [TOPICS.outcomes],
        fromBeginning: false,
        handle: async (m) => void seen.push(m.event.requestId),
      });
      const fresh = Array.from({ length: 6 }, () => makeSubmittedEvent());
      await log.append(fresh.map((e) => ({ topic: TOPICS.outcomes, key: e.requestId, event: e })));
      await waitFor(() => seen.length >= fresh.length);
      await new Promise((r) => setTimeout(r, 300));
      await consumer.stop();
      expect([...seen].sort()).toEqual(fresh.map((e) => e.requestId).sort());
    });
  }, 60_000);
});

describe('Kafka event type header', () => {
  it("lets a consumer's accept filter pick events by type without decoding the rest", async () => {
    await withKafkaLog('typed', 2, async (log) => {
      const offered: Array<string | undefined> = [];
      const seen: string[] = [];
      const consumer = await log.consume({
        groupId: 'typed',
        topics: [TOPICS.outcomes],
        accept: ({ type }) => {
          offered.push(type);
          return type === 'request.cancelled';
        },
        handle: async (m) => void seen.push(m.event.type),
      });
      const events = [
        makeEvent('request.completed'),
        makeEvent('request.cancelled'),
        makeEvent('request.failed'),
      ];
      await log.notify(events.map((event) => ({ topic: TOPICS.outcomes, key: event.requestId, event })));
      await waitFor(() => offered.length >= events.length);
      await consumer.stop();
      expect([...offered].sort()).toEqual(['request.cancelled', 'request.completed', 'request.failed']);
      expect(seen).toEqual(['request.cancelled']);
    });
  }, 60_000);
});
