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

/**
 * A started log on a namespace of its own, closed and deleted after `run`; `other` opens another
 * instance on the same namespace, as another process would.
 */
async function withKafkaLog(
  name: string,
  partitions: number,
  run: (log: EventLog, other: () => Promise<EventLog>) => Promise<void>,
) {
  const brokers = await requireKafka();
  const namespace = uniqueName(name);
  const logs: EventLog[] = [];
  const open = async () => {
    const log = createKafkaEventLog({ brokers, namespace, partitions });
    logs.push(log);
    await log.start();
    return log;
  };
  try {
    await run(await open(), open);
  } finally {
    await Promise.all(logs.map((l) => l.close().catch(() => {})));
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
    await withKafkaLog('typed', 2, async (log, other) => {
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
      // From another process: they come through Kafka, not in-process.
      const sender = await other();
      await sender.notify(events.map((event) => ({ topic: TOPICS.outcomes, key: event.requestId, event })));
      await waitFor(() => offered.length >= events.length);
      await consumer.stop();
      expect([...offered].sort()).toEqual(['request.cancelled', 'request.completed', 'request.failed']);
      expect(seen).toEqual(['request.cancelled']);
    });
  }, 60_000);
});

describe('Kafka notifications', () => {
  it("hands this instance's notifications to its consumers in-process, once, and another's through Kafka", async () => {
    await withKafkaLog('notify', 3, async (log, other) => {
      const seen: Array<{ requestId: string; offset: string }> = [];
      const consumer = await log.consume({
        groupId: 'waiters',
        topics: [TOPICS.outcomes],
        fromBeginning: false,
        handle: async (m) => void seen.push({ requestId: m.event.requestId, offset: m.offset }),
      });
      await waitFor(() => consumer.assignment().length === 3, 30_000);
      const own = makeEvent('request.completed');
      await log.notify([{ topic: TOPICS.outcomes, key: own.requestId, event: own }]);
      // Handed over before notify resolved: the caller wakes without a Kafka round trip.
      expect(seen).toEqual([{ requestId: own.requestId, offset: '-1' }]);

      const remote = makeEvent('request.failed');
      await (await other()).notify([{ topic: TOPICS.outcomes, key: remote.requestId, event: remote }]);
      await waitFor(() => seen.some((s) => s.requestId === remote.requestId), 30_000);
      // Both Kafka copies read and committed: the own one was skipped, not handed over again.
      const settled = async () => (await log.lag('waiters', [TOPICS.outcomes])).every((p) => p.lag === 0);
      const deadline = Date.now() + 30_000;
      while (!(await settled()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await settled()).toBe(true);
      await consumer.stop();
      expect(seen.filter((s) => s.requestId === own.requestId)).toHaveLength(1);
      expect(seen.find((s) => s.requestId === remote.requestId)?.offset).not.toBe('-1');
    });
  }, 60_000);

  it('delivers through Kafka, once, a notification sent before the consumer owned its partition', async () => {
    await withKafkaLog('notify-early', 3, async (log) => {
      const seen: string[] = [];
      const consumer = await log.consume({
        groupId: 'early',
        topics: [TOPICS.outcomes],
        fromBeginning: false,
        handle: async (m) => void seen.push(m.event.requestId),
      });
      const events = Array.from({ length: 3 }, () => makeEvent('request.completed'));
      // Right away: the group may not have joined yet, so some or all cannot be handed over here.
      await log.notify(events.map((event) => ({ topic: TOPICS.outcomes, key: event.requestId, event })));
      await waitFor(() => seen.length >= events.length, 30_000);
      await new Promise((r) => setTimeout(r, 500));
      await consumer.stop();
      expect([...seen].sort()).toEqual(events.map((e) => e.requestId).sort());
    });
  }, 60_000);
});
