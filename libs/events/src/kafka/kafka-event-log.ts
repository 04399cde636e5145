import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, type KafkaConfig, logLevel, type Producer } from 'kafkajs';
import { encodeEvent } from '../codec';
import { DeadLetterSchema } from '../dead-letter';
import { SluiceError } from '../errors';
import type {
  AppendResult,
  ConsumerOptions,
  EventLog,
  LogConsumer,
  LogRecord,
  PartitionLag,
  TopicPartition,
} from '../event-log';
import { createDelivery, type DeliveryTuning } from '../internal/delivery';
import { createGroupCommit } from '../internal/group-commit';
import { deliverLocally } from '../internal/local-notify';
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
  /** A consumer that has not heartbeated for this long is removed from its group (default 10 s). */
  sessionTimeoutMs?: number;
  /** How long `stop()` waits for running handlers before it commits what settled (default 10 s). */
  stopTimeoutMs?: number;
  /** Buffering and handler-retry tuning of consumers (tests shorten the delays). */
  delivery?: DeliveryTuning;
  logger?: (level: 'error' | 'warn' | 'info', message: string, extra?: Record<string, unknown>) => void;
  kafka?: Partial<KafkaConfig>;
}

type KafkaMessage = { topic: string; key: string; value: Buffer | string; headers?: Record<string, string> };

/** The event's type travels as a header too, so a consumer can filter without decoding (`accept`). */
const TYPE_HEADER = 'sluice-type';
/** A notification's event id: a consumer skips the copy of one it was handed in-process (`notify`). */
const EVENT_ID_HEADER = 'sluice-event-id';
/** How many in-process notifications a consumer remembers until their Kafka copies arrive. */
const HANDED_LIMIT = 10_000;

function toMessage(r: LogRecord, headers: Record<string, string> = {}) {
  return {
    topic: r.topic,
    key: r.key,
    value: encodeEvent(r.event),
    headers: { [TYPE_HEADER]: r.event.type, ...headers },
  };
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
  const appendTimeoutMs = config.appendTimeoutMs ?? 5_000;
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
  const consumers = new Set<LogConsumer>();
  /** Consumers of this instance, for in-process notification delivery (see `notify`). */
  const localDelivery = new Set<(records: readonly LogRecord[]) => void>();
  // One request in flight: ordering within a partition holds even across retries, and writes are
  // group-committed, so it costs no throughput. Retries stay unbounded (kafkajs's default for the
  // idempotent producer: bounding them could reuse a sequence number and drop a message);
  // `appendTimeoutMs` bounds what a caller waits.
  const durable = lazyProducer(() =>
    kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false }),
  );
  // Notifications have their own producer: leader acknowledgement and any number of requests in
  // flight, so a caller's wake-up never queues behind durable request appends (see `notify`).
  const notifier = lazyProducer(() =>
    kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 2 } }),
  );

  /**
   * Groups messages by topic with their partition chosen here (Kafka's murmur2), so a key lands on
   * the same partition number in every topic; each keeps its index in `messages`.
   */
  function byTopicAndPartition<M extends { topic: string; key: string }>(messages: readonly M[]) {
    const byTopic = new Map<string, Array<M & { partition: number; index: number }>>();
    messages.forEach((m, index) => {
      const list = byTopic.get(m.topic) ?? [];
      list.push({ ...m, partition: partitionForKey(m.key, partitions), index });
      byTopic.set(m.topic, list);
    });
    return byTopic;
  }

  /** kafkajs's `sendBatch` shape for messages grouped by `byTopicAndPartition`. */
  function topicMessagesOf(byTopic: ReturnType<typeof byTopicAndPartition<KafkaMessage>>) {
    return [...byTopic].map(([topic, list]) => ({
      topic: topicName(topic),
      messages: list.map((m) => ({ key: m.key, value: m.value, partition: m.partition, headers: m.headers })),
    }));
  }

  async function sendGrouped(messages: KafkaMessage[]): Promise<AppendResult[]> {
    const byTopic = byTopicAndPartition(messages);
    const results: AppendResult[] = new Array(messages.length);
    const work = (async () => {
      const p = await durable.get();
      const sent = await p.sendBatch({
        acks: -1,
        topicMessages: topicMessagesOf(byTopic),
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
      sessionTimeout: config.sessionTimeoutMs ?? 10_000,
      rebalanceTimeout: 15_000,
      heartbeatInterval: 1_000,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 100,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
    const paused = new Set<string>();
    // Notifications this consumer was handed in-process (see `notify`), until their Kafka copy comes.
    const handedLocally = new Set<string>();
    const full = new Map<string, Set<number>>();
    let assignment: TopicPartition[] = [];
    let running = false;
    // Where each owned partition's log ended once this member was assigned it: the messages from
    // there on were appended after the assignment, so no other member can have been handed them
    // (`firstDelivery`). Forgotten at every rebalance until the new ends are known.
    const freshFrom = new Map<string, number>();
    let generation = 0;
    const freshKey = (topic: string, partition: number) => `${topic}:${partition}`;
    async function learnFreshOffsets(owned: readonly TopicPartition[], joined: number): Promise<void> {
      for (const topic of new Set(owned.map((tp) => tp.topic))) {
        const ends = await admin.fetchTopicOffsets(topicName(topic));
        if (joined !== generation) return;
        for (const e of ends)
          if (owned.some((tp) => tp.topic === topic && tp.partition === e.partition))
            freshFrom.set(freshKey(topic, e.partition), Number(e.high));
      }
    }

    /**
     * kafkajs keeps one pause state per topic, and a partition-level call clears a topic-level
     * one; so the effective state (the user paused the topic, or a partition's buffer is full) is
     * recomputed and applied whole for the topic whenever either changes.
     */
    function applyPause(topic: string): void {
      if (!running) return;
      const name = topicName(topic);
      if (paused.has(topic)) {
        consumer.pause([{ topic: name }]);
        return;
      }
      consumer.resume([{ topic: name }]);
      const partitionsFull = [...(full.get(topic) ?? [])];
      if (partitionsFull.length) consumer.pause([{ topic: name, partitions: partitionsFull }]);
    }

    const delivery = createDelivery(
      options,
      {
        commit: async (points) => {
          await consumer.commitOffsets(
            points.map((p) => ({
              topic: topicName(p.topic),
              partition: p.partition,
              offset: String(p.offset),
            })),
          );
        },
        deadLetter: (record) => deadLetter(record),
        backpressure: (topic, partition, isFull) => {
          const set = full.get(topic) ?? new Set<number>();
          if (isFull) set.add(partition);
          else set.delete(partition);
          full.set(topic, set);
          applyPause(topic);
        },
      },
      config.delivery,
    );
    consumer.on(consumer.events.REBALANCING, () => {
      generation++;
      freshFrom.clear();
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      assignment = Object.entries(e.payload.memberAssignment).flatMap(([topic, ps]) =>
        (ps as number[]).map((partition) => ({ topic: logicalName(topic), partition })),
      );
      freshFrom.clear();
      // Unknown ends mean no first deliveries (the safe answer), so a failed lookup only costs speed.
      void learnFreshOffsets(assignment, ++generation).catch(() => {});
      // Partitions kept across the rebalance keep their state; revoked ones are forgotten and
      // their uncommitted messages go to the new owner.
      delivery.retain(assignment);
      for (const [topic, set] of full) {
        for (const p of [...set])
          if (!assignment.some((tp) => tp.topic === topic && tp.partition === p)) set.delete(p);
        applyPause(topic);
      }
      // A partition with no committed offset starts where the log ended when `consume` was called.
      for (const tp of assignment) {
        const offset = startOffsets.get(tp.topic)?.get(tp.partition);
        if (offset === undefined) continue;
        startOffsets.get(tp.topic)?.delete(tp.partition);
        consumer.seek({ topic: topicName(tp.topic), partition: tp.partition, offset });
      }
      options.onAssignment?.(assignment);
    });
    const startOffsets =
      options.fromBeginning === false
        ? await untilSettled(() => endOffsetsWithoutCommits(`${ns}${options.groupId}`, options.topics))
        : new Map<string, Map<number, string>>();
    await consumer.connect();
    for (const topic of options.topics) {
      await consumer.subscribe({ topic: topicName(topic), fromBeginning: options.fromBeginning ?? true });
    }
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: Math.max(1, Math.min(options.topics.length * partitions, 16)),
      // Never waits for the handler: kafkajs heartbeats between messages, and a handler may hold a
      // message for minutes. A full buffer pauses the partition instead (see `applyPause`).
      eachMessage: async ({ topic, partition, message }) => {
        delivery.accept({
          topic: logicalName(topic),
          partition,
          offset: Number(message.offset),
          key: message.key?.toString() ?? null,
          value: message.value,
          timestamp: Number(message.timestamp),
          type: message.headers?.[TYPE_HEADER]?.toString(),
          deliveredLocally: handedLocally.delete(message.headers?.[EVENT_ID_HEADER]?.toString() ?? ''),
          fresh:
            Number(message.offset) >= (freshFrom.get(freshKey(logicalName(topic), partition)) ?? Infinity),
        });
      },
    });
    running = true;
    for (const t of options.topics) applyPause(t);
    let stopped = false;
    const deliverNotifications = (records: readonly LogRecord[]) => {
      if (stopped) return;
      const handed = deliverLocally(
        options,
        records,
        partitions,
        (topic, partition) =>
          !paused.has(topic) && assignment.some((tp) => tp.topic === topic && tp.partition === partition),
      );
      for (const id of handed) {
        handedLocally.add(id);
        if (handedLocally.size > HANDED_LIMIT) handedLocally.delete(handedLocally.values().next().value!);
      }
    };
    localDelivery.add(deliverNotifications);
    const handle: LogConsumer = {
      pause(topics) {
        for (const t of topics) paused.add(t);
        delivery.setPaused(paused);
        for (const t of topics) applyPause(t);
      },
      resume(topics) {
        for (const t of topics) paused.delete(t);
        delivery.setPaused(paused);
        for (const t of topics) applyPause(t);
      },
      paused: () => [...paused],
      assignment: () => assignment,
      async stop() {
        if (stopped) return;
        stopped = true;
        localDelivery.delete(deliverNotifications);
        consumer.pause(options.topics.map((t) => ({ topic: topicName(t) })));
        await delivery.drain(config.stopTimeoutMs ?? 10_000);
        await consumer.disconnect().catch(() => {});
        consumers.delete(handle);
      },
    };
    consumers.add(handle);
    return handle;
  }

  /**
   * The current end of each partition the group has no committed offset for, by topic: a consumer
   * that reads "only new messages" starts there, so nothing appended after `consume` returns is
   * missed. (kafkajs's own `fromBeginning: false` resolves "latest" only when the group has joined,
   * and `admin.setOffsets` spends its fetch wait, 5 s, per topic.)
   */
  async function endOffsetsWithoutCommits(
    groupId: string,
    topics: readonly string[],
  ): Promise<Map<string, Map<number, string>>> {
    const committed = await admin.fetchOffsets({ groupId, topics: topics.map(topicName) });
    const out = new Map<string, Map<number, string>>();
    for (const topic of topics) {
      const done = new Set(
        committed
          .find((x) => x.topic === topicName(topic))
          ?.partitions.filter((p) => p.offset !== '-1')
          .map((p) => p.partition) ?? [],
      );
      const ends = await admin.fetchTopicOffsets(topicName(topic));
      out.set(topic, new Map(ends.filter((e) => !done.has(e.partition)).map((e) => [e.partition, e.high])));
    }
    return out;
  }

  async function deadLetter(record: Parameters<EventLog['deadLetter']>[0]): Promise<void> {
    const valid = DeadLetterSchema.parse(record);
    await produce([
      { topic: TOPICS.deadLetter, key: valid.requestId ?? valid.sourceTopic, value: JSON.stringify(valid) },
    ]);
  }

  return {
    kind: 'kafka',
    async start() {
      await admin.connect();
      const names = ALL_TOPICS.map(topicName);
      const existing = new Set(await admin.listTopics());
      const missing = names.filter((t) => !existing.has(t));
      if (missing.length) {
        // Another process may be creating the same topics right now: that is not an error.
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: partitions,
            replicationFactor: config.replicationFactor ?? 1,
          })),
        });
      }
      // Topics another process has just created may not have leaders yet; offsets and consumer
      // groups on them would fail with "not the leader", so wait until every partition has one.
      await untilSettled(async () => {
        const { topics } = await admin.fetchTopicMetadata({ topics: names });
        const leaderless = topics.filter((t) => t.partitions.some((p) => p.leader < 0));
        if (leaderless.length) throw new TopicsNotReadyError(leaderless.map((t) => t.name));
      });
      await Promise.all([durable.get(), notifier.get()]);
    },
    async append(records) {
      return produce(records.map((r) => toMessage(r)));
    },
    async notify(records) {
      // Consumers in this process have them at once; Kafka carries them to the other processes
      // (a consumer handed one here skips its copy, known by the event id header).
      const messages = records.map((r) => toMessage(r, { [EVENT_ID_HEADER]: r.event.eventId }));
      for (const deliver of localDelivery) deliver(records);
      try {
        const p = await notifier.get();
        await p.sendBatch({
          acks: 1,
          timeout: appendTimeoutMs,
          topicMessages: topicMessagesOf(byTopicAndPartition(messages)),
        });
      } catch (cause) {
        throw new SluiceError('log_unavailable', 'Kafka did not take the notification', { cause });
      }
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
      await durable.disconnect();
      await notifier.disconnect();
      await admin.disconnect().catch(() => {});
    },
  };
}

/** Deletes a namespace's topics (tests). */
class TopicsNotReadyError extends Error {
  readonly retriable = true;
  constructor(topics: string[]) {
    super(`topics without a leader yet: ${topics.join(', ')}`);
  }
}

/**
 * Retries an admin step while Kafka reports a transient condition (a topic just created, a leader
 * moving); kafkajs marks those errors `retriable`. Anything else, or a deadline, fails at once.
 */
async function untilSettled<T>(step: () => Promise<T>, deadlineMs = 30_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      return await step();
    } catch (error) {
      const retriable = (error as { retriable?: boolean }).retriable === true || isRetriableCause(error);
      if (!retriable || Date.now() + wait > until) throw error;
      await sleep(wait);
    }
  }
}

/** kafkajs wraps the broker's error (e.g. NOT_LEADER_OR_FOLLOWER) in a retry error's `cause`. */
function isRetriableCause(error: unknown): boolean {
  const cause = (error as { cause?: { retriable?: boolean } }).cause;
  return cause?.retriable === true;
}

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

/** A producer that connects on first use; a failed connect (Kafka down) is retried by the next call. */
function lazyProducer(create: () => Producer) {
  let producer: Producer | undefined;
  let ready: Promise<Producer> | undefined;
  return {
    get(): Promise<Producer> {
      ready ??= (async () => {
        producer = create();
        await producer.connect();
        return producer;
      })().catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
      return ready;
    },
    async disconnect(): Promise<void> {
      await producer?.disconnect().catch(() => {});
    },
  };
}
