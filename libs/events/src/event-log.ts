import type { DeadLetter } from './dead-letter';
import type { SluiceEvent } from './events';

/**
 * The EventLog port: a durable, partitioned, at-least-once log. The broker depends on this
 * interface only; `@sluice/events/kafka` and `@sluice/events/postgres` implement it and pass
 * one contract suite (`@sluice/events/testing`).
 */
export interface EventLog {
  /** Adapter name for logs and metrics (`kafka`, `postgres`). */
  readonly kind: string;
  /** Creates the topics (idempotent) and connects. Called once before use. */
  start(): Promise<void>;
  /**
   * Appends events; resolves only when they are durable (Kafka: idempotent producer, acks=-1;
   * Postgres: committed). Every event is validated first: an invalid one throws `invalid_event`
   * naming the field and nothing of the batch is written. Within a key, order is kept.
   * Kafka may hold a duplicate after a producer retry; consumers dedupe by `eventId`.
   */
  append(records: readonly LogRecord[]): Promise<AppendResult[]>;
  /**
   * Publishes notifications (the outcomes topic): they wake a waiting caller on any API process,
   * but the event store, not the log, is the record. So they are not held to `append`'s
   * durability. Kafka hands them at once to this instance's consumers that own the key's
   * partition (offset `-1`: nothing to commit) and sends them, on their own producer (leader
   * acknowledgement, many in flight, never queued behind durable request appends), to the other
   * processes; a consumer handed one skips its copy. A Postgres server appends them; PGlite,
   * whose consumers all live in its process, only hands them over. A lost one delays a result
   * (waiters also poll the store), never loses it. Validated like `append`.
   */
  notify(records: readonly LogRecord[]): Promise<void>;
  /** Writes to the dead-letter topic. */
  deadLetter(record: DeadLetter): Promise<void>;
  /** Joins a consumer group; see `ConsumerOptions` for the delivery contract. */
  consume(options: ConsumerOptions): Promise<LogConsumer>;
  /** Per topic-partition: end offset and each group's committed offset, for lag metrics and `status`. */
  lag(groupId: string, topics: readonly string[]): Promise<PartitionLag[]>;
  /** Cheap reachability check for `/readyz`. */
  healthy(): Promise<boolean>;
  /** Stops every consumer it started (gracefully) and disconnects. */
  close(): Promise<void>;
}

export interface LogRecord {
  topic: string;
  /** Partitioning key: requests are keyed by upstream pool (`requestKey`). */
  key: string;
  event: SluiceEvent;
}

export interface AppendResult {
  topic: string;
  partition: number;
  /** Decimal string: Kafka offsets are int64. */
  offset: string;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface ConsumedMessage extends TopicPartition {
  offset: string;
  key: string | null;
  event: SluiceEvent;
  /** Append time, ms since epoch. */
  timestamp: number;
  /**
   * True when no consumer of the group can have been handed this message before: it was appended
   * after this consumer was assigned its partition, and this is the handler's first try. A handler
   * may then skip looking up what an earlier delivery did. Adapters that cannot tell leave it unset;
   * a copy of the same event appended again (at a new offset) is still a first delivery.
   */
  firstDelivery?: boolean;
}

export interface ConsumerOptions {
  groupId: string;
  topics: readonly string[];
  /** For a group with no committed offset: read from the beginning (default) or only new messages. */
  fromBeginning?: boolean;
  /**
   * How many messages may be in `handle` at once across the consumer (default 1). Handlers start in
   * offset order per partition; the committed offset is the end of the contiguous prefix of settled
   * handlers, so a slow message never lets a later one be committed before it.
   */
  maxInFlight?: number;
  /**
   * Called for every decodable message. The message counts as handled when the promise resolves;
   * if it rejects, the same message is retried with backoff (the partition's commit point waits), so
   * nothing is ever skipped. Messages that fail to decode never reach here: they go to the
   * dead-letter topic with the reason and the consumer moves on.
   */
  handle(message: ConsumedMessage): Promise<void>;
  /**
   * A cheap filter before decoding: a message it refuses counts as handled without being decoded
   * or handed to `handle` (a notification consumer skips what concerns no one it serves). `type`
   * is the event's type where the adapter carries it beside the value (Kafka), else undefined:
   * accept those unless the key decides.
   */
  accept?(message: { key: string | null; type: string | undefined }): boolean;
  /**
   * How long settled offsets wait to be committed together (default: the adapter's, 50 ms). A
   * notification consumer whose group lives only as long as its process commits rarely: no one
   * resumes from its offsets.
   */
  commitIntervalMs?: number;
  /** Called after a rebalance with the partitions this member now owns (same number across topics). */
  onAssignment?(assigned: readonly TopicPartition[]): void;
  /** Called when a message is sent to the dead-letter topic (e.g. to count it). */
  onDeadLetter?(record: DeadLetter): void;
  /** Called when `handle` rejects, before the retry. */
  onHandlerError?(error: unknown, message: ConsumedMessage): void;
}

export interface LogConsumer {
  /** Stops fetching from these topics (in-flight messages still finish). */
  pause(topics: readonly string[]): void;
  resume(topics: readonly string[]): void;
  paused(): readonly string[];
  assignment(): readonly TopicPartition[];
  /** Graceful: stops fetching, waits for in-flight handlers, commits what was handled, leaves the group. */
  stop(): Promise<void>;
}

export interface PartitionLag extends TopicPartition {
  endOffset: string;
  committedOffset: string | null;
  lag: number;
}
