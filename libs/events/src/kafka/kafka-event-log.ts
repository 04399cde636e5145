import { Kafka, type KafkaConfig, logLevel, type Producer } from 'kafkajs';
import { encodeEvent } from '../codec';
import { DeadLetterSchema } from '../dead-letter';
import { SluiceError } from '../errors';
import type {
  AppendResult,
  ConsumerOptions,
  EventLog,
  LogConsumer,
  PartitionLag,
  TopicPartition,
} from '../event-log';
import { createDelivery } from '../internal/delivery';
import { createGroupCommit } from '../internal/group-commit';
import { partitionForKey } from '../internal/partitioner';
import { ALL_TOPICS, TOPICS } from '../topics';
import { SamePartitionAssigner } from './same-partition-assigner';

export interface KafkaEventLogConfig {
  brokers: string[];
  clientId?: string;
  /** Partitions of every topic (the same on every priority topic). */
  partitions?: number;
  replicationFactor?: number;
  /** Prefix for topic names and consumer groups: isolates environments (and test runs) on one cluster. */
  namespace?: string;
  /** Longest an append may take before it fails as `log_unavailable`. */
  appendTimeoutMs?: number;
  logger?: (level: 'error' | 'warn' | 'info', message: string, extra?: Record<string, unknown>) => void;
  kafka?: Partial<KafkaConfig>;
}

/**
 * The production EventLog on Kafka (kafkajs): idempotent producer with acks=-1, topics created on
 * start, consumer groups committing only what was handled, per-topic pause/resume, and an assigner
 * that keeps one partition number of every topic on one member.
 */
export function createKafkaEventLog(config: KafkaEventLogConfig): EventLog {
  const ns = config.namespace ? `${config.namespace}.` : '';
  const topicName = (t: string) => `${ns}${t}`;
  const logicalName = (t: string) => (ns && t.startsWith(ns) ? t.slice(ns.length) : t);
  const partitions = config.partitions ?? 6;
  const appendTimeoutMs = config.appendTimeoutMs ?? 8_000;
  const kafka = new Kafka({
    clientId: config.clientId ?? 'sluice',
    brokers: config.brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2_000 },
    ...config.kafka,
  });
  const admin = kafka.admin();
  let producer: Producer | undefined;
  const consumers = new Set<LogConsumer>();

  async function getProducer(): Promise<Producer> {
    if (!producer) {
      producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5, allowAutoTopicCreation: false });
      await producer.connect();
    }
    return producer;
  }

  async function sendGrouped(
    messages: Array<{ topic: string; key: string; value: Buffer | string }>,
  ): Promise<AppendResult[]> {
    // Partition chosen here (Kafka's murmur2): a key lands on the same partition number in every topic.
    const byTopic = new Map<
      string,
      Array<{ key: string; value: Buffer | string; partition: number; index: number }>
    >();
    messages.forEach((m, index) => {
      const list = byTopic.get(m.topic) ?? [];
      list.push({ key: m.key, value: m.value, partition: partitionForKey(m.key, partitions), index });
      byTopic.set(m.topic, list);
    });
    const results: AppendResult[] = new Array(messages.length);
    const work = (async () => {
      const p = await getProducer();
      const sent = await p.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, list]) => ({
          topic: topicName(topic),
          messages: list.map((m) => ({ key: m.key, value: m.value, partition: m.partition })),
        })),
      });
      // kafkajs reports the base offset per topic-partition; offsets within a batch follow in order.
      const next = new Map(
        sent.map((r) => [`${logicalName(r.topicName)}:${r.partition}`, BigInt(r.baseOffset ?? '0')]),
      );
      for (const [topic, list] of byTopic) {
        for (const m of list) {
          const k = `${topic}:${m.partition}`;
          const offset = next.get(k) ?? 0n;
          next.set(k, offset + 1n);
          results[m.index] = { topic, partition: m.partition, offset: offset.toString() };
        }
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        work,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no acknowledgement within ${appendTimeoutMs} ms`)),
            appendTimeoutMs,
          );
        }),
      ]);
    } catch (cause) {
      throw new SluiceError('log_unavailable', 'Kafka did not acknowledge the append', {
        cause,
        details: { retryAfterMs: 1_000 },
      });
    } finally {
      clearTimeout(timer);
    }
    return results;
  }

  const produce = createGroupCommit(sendGrouped);

  async function consume(options: ConsumerOptions): Promise<LogConsumer> {
    const consumer = kafka.consumer({
      groupId: `${ns}${options.groupId}`,
      partitionAssigners: [SamePartitionAssigner],
      sessionTimeout: 10_000,
      rebalanceTimeout: 15_000,
      heartbeatInterval: 1_000,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 100,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
    const paused = new Set<string>();
    let assignment: TopicPartition[] = [];
    const delivery = createDelivery(options, {
      commit: async (topic, partition, next) => {
        await consumer.commitOffsets([{ topic: topicName(topic), partition, offset: String(next) }]);
      },
      deadLetter: (record) => deadLetter(record),
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      delivery.reset();
      assignment = Object.entries(e.payload.memberAssignment).flatMap(([topic, ps]) =>
        (ps as number[]).map((partition) => ({ topic: logicalName(topic), partition })),
      );
      options.onAssignment?.(assignment);
    });
    if (options.fromBeginning === false) await pinStartOffsets(`${ns}${options.groupId}`, options.topics);
    await consumer.connect();
    for (const topic of options.topics) {
      await consumer.subscribe({ topic: topicName(topic), fromBeginning: options.fromBeginning ?? true });
    }
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: Math.max(1, Math.min(options.topics.length * partitions, 16)),
      eachMessage: async ({ topic, partition, message }) => {
        // Returns once the handler has started: a slow handler never holds the fetch loop.
        await delivery.deliver({
          topic: logicalName(topic),
          partition,
          offset: Number(message.offset),
          key: message.key?.toString() ?? null,
          value: message.value,
          timestamp: Number(message.timestamp),
        });
      },
    });
    let stopped = false;
    const handle: LogConsumer = {
      pause(topics) {
        for (const t of topics) paused.add(t);
        consumer.pause(topics.map((t) => ({ topic: topicName(t) })));
      },
      resume(topics) {
        for (const t of topics) paused.delete(t);
        consumer.resume(topics.map((t) => ({ topic: topicName(t) })));
      },
      paused: () => [...paused],
      assignment: () => assignment,
      async stop() {
        if (stopped) return;
        stopped = true;
        consumer.pause(options.topics.map((t) => ({ topic: topicName(t) })));
        await delivery.drain(10_000);
        await consumer.disconnect().catch(() => {});
        consumers.delete(handle);
      },
    };
    consumers.add(handle);
    return handle;
  }

  /**
   * A new group that reads "only new messages" starts at the current end, fixed now: kafkajs would
   * resolve "latest" lazily after joining, silently skipping what is appended in between.
   */
  async function pinStartOffsets(groupId: string, topics: readonly string[]): Promise<void> {
    const committed = await admin.fetchOffsets({ groupId, topics: topics.map(topicName) });
    for (const topic of topics) {
      const c = committed.find((x) => x.topic === topicName(topic));
      if (c?.partitions.some((p) => p.offset !== '-1')) continue;
      const ends = await admin.fetchTopicOffsets(topicName(topic));
      await admin.setOffsets({
        groupId,
        topic: topicName(topic),
        partitions: ends.map((e) => ({ partition: e.partition, offset: e.high })),
      });
    }
  }

  async function deadLetter(record: Parameters<EventLog['deadLetter']>[0]): Promise<void> {
    const valid = DeadLetterSchema.parse(record);
    await sendGrouped([
      { topic: TOPICS.deadLetter, key: valid.requestId ?? valid.sourceTopic, value: JSON.stringify(valid) },
    ]);
  }

  return {
    kind: 'kafka',
    async start() {
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      const missing = ALL_TOPICS.map(topicName).filter((t) => !existing.has(t));
      if (missing.length) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: partitions,
            replicationFactor: config.replicationFactor ?? 1,
          })),
        });
      }
      await getProducer();
    },
    async append(records) {
      return produce(records.map((r) => ({ topic: r.topic, key: r.key, value: encodeEvent(r.event) })));
    },
    deadLetter,
    consume,
    async lag(groupId, topics): Promise<PartitionLag[]> {
      const out: PartitionLag[] = [];
      const committed = await admin.fetchOffsets({
        groupId: `${ns}${groupId}`,
        topics: topics.map(topicName),
      });
      for (const topic of topics) {
        const ends = await admin.fetchTopicOffsets(topicName(topic));
        const c = committed.find((x) => x.topic === topicName(topic));
        for (const e of ends) {
          const co = c?.partitions.find((p) => p.partition === e.partition)?.offset;
          const committedOffset = co === undefined || co === '-1' ? null : co;
          out.push({
            topic,
            partition: e.partition,
            endOffset: e.high,
            committedOffset,
            lag: Number(e.high) - Number(committedOffset ?? e.low),
          });
        }
      }
      return out;
    },
    async healthy() {
      try {
        await Promise.race([
          admin.describeCluster(),
          new Promise((_, r) => setTimeout(() => r(new Error('timeout')), 2_000)),
        ]);
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await Promise.allSettled([...consumers].map((c) => c.stop()));
      await producer?.disconnect().catch(() => {});
      await admin.disconnect().catch(() => {});
    },
  };
}

/** Deletes a namespace's topics (tests). */
export async function deleteKafkaNamespace(brokers: string[], namespace: string): Promise<void> {
  const admin = new Kafka({ clientId: 'sluice-cleanup', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${namespace}.`));
    if (topics.length) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}
