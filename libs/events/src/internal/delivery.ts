import { setTimeout as sleep } from 'node:timers/promises';
import { decodeEvent } from '../codec';
import type { DeadLetter } from '../dead-letter';
import type { ConsumedMessage, ConsumerOptions, TopicPartition } from '../event-log';
import type { SluiceEvent } from '../events';
import { TOPICS } from '../topics';
import { CommitTracker } from './commit-tracker';

export interface RawMessage {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer | string | null;
  timestamp: number;
  /** Appended after this consumer was assigned the partition (see `ConsumedMessage.firstDelivery`). */
  fresh?: boolean;
  /** The event's type, when the adapter carries it beside the value (Kafka: a header). */
  type?: string;
  /**
   * The event itself, when it was validated by an append in this process: handed over as it is
   * rather than decoded and validated again (consumers only read events).
   */
  event?: SluiceEvent;
  /** A notification this consumer was already handed in-process (`EventLog.notify`): settled, not handled again. */
  deliveredLocally?: boolean;
}

export interface CommitPoint extends TopicPartition {
  /** The next offset to read (Kafka's convention). */
  offset: number;
}

export interface DeliveryIo {
  /** Commits several partitions at once; rejecting is fine (the delivery retries, superseded points are dropped). */
  commit(points: readonly CommitPoint[]): Promise<void>;
  deadLetter(record: DeadLetter): Promise<void>;
  /**
   * Called when a partition's buffer of received-but-not-started messages fills up (`full`) or
   * drains again: the adapter stops and restarts fetching that partition, so a handler that holds
   * messages for minutes never blocks the fetch loop (nor the heartbeats riding on it).
   */
  backpressure?(topic: string, partition: number, full: boolean): void;
}

export interface DeliveryTuning {
  /** Received-but-not-started messages buffered per partition before its fetching pauses (default 64). */
  bufferPerPartition?: number;
  /** First retry delay of a failing handler; doubles up to `maxRetryDelayMs`. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /**
   * How long settled offsets wait to be committed together (default 50 ms): one commit per interval
   * instead of one per message. A crash redelivers at most this interval's messages (deduplicated).
   */
  commitIntervalMs?: number;
}

/** Errors a handler throws on purpose to give a message up without committing it (name `AbandonedError`). */
function isAbandon(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbandonedError';
}

interface PartitionState {
  topic: string;
  partition: number;
  tracker: CommitTracker;
  queued: number;
  full: boolean;
}

interface Entry {
  state: PartitionState;
  raw: RawMessage;
}

/**
 * The delivery contract both adapters share. `accept` never waits: messages are buffered and
 * started in offset order per partition while fewer than `maxInFlight` run; when a partition's
 * buffer fills, the adapter is told to stop fetching it. Commits cover the contiguous settled
 * prefix, batched across partitions and retried when they fail. Failed handlers are retried
 * (never skipped); undecodable messages are dead-lettered (the write retried until it lands), then
 * committed past. A revoked partition is forgotten: its uncommitted messages go to the next owner.
 */
export function createDelivery(options: ConsumerOptions, io: DeliveryIo, tuning: DeliveryTuning = {}) {
  const maxInFlight = Math.max(1, options.maxInFlight ?? 1);
  const bufferLimit = Math.max(1, tuning.bufferPerPartition ?? 64);
  const retryDelayMs = tuning.retryDelayMs ?? 50;
  const maxRetryDelayMs = tuning.maxRetryDelayMs ?? 5_000;
  const commitIntervalMs = options.commitIntervalMs ?? tuning.commitIntervalMs ?? 50;
  const states = new Map<string, PartitionState>();
  const waiting: Entry[] = [];
  const pausedTopics = new Set<string>();
  const running = new Map<Promise<void>, PartitionState>();
  const pendingCommits = new Map<string, { state: PartitionState; offset: number }>();
  let inFlight = 0;
  /** Set when a drain begins: nothing new starts. */
  let closing = false;
  /** Set when a drain ends: handlers still running commit nothing and stop retrying. */
  let stopping = false;
  let flushing: Promise<void> | undefined;
  // Event ids whose handler succeeded lately: a duplicate append (producer retry) is handled once.
  const handledIds = new Set<string>();
  const HANDLED_LIMIT = 20_000;

  const keyOf = (topic: string, partition: number) => `${topic}\u0000${partition}`;
  const owned = (state: PartitionState) => states.get(keyOf(state.topic, state.partition)) === state;
  const current = (state: PartitionState) => !stopping && owned(state);

  function stateOf(topic: string, partition: number): PartitionState {
    const k = keyOf(topic, partition);
    let s = states.get(k);
    if (!s) {
      s = { topic, partition, tracker: new CommitTracker(), queued: 0, full: false };
      states.set(k, s);
    }
    return s;
  }

  function setQueued(state: PartitionState, delta: number): void {
    state.queued += delta;
    // Resume at half the limit, so a busy partition does not flap between paused and running.
    if (!state.full && state.queued >= bufferLimit) {
      state.full = true;
      io.backpressure?.(state.topic, state.partition, true);
    } else if (state.full && state.queued <= bufferLimit >> 1) {
      state.full = false;
      if (current(state)) io.backpressure?.(state.topic, state.partition, false);
    }
  }

  function pump(): void {
    if (closing) return;
    for (let i = 0; i < waiting.length && inFlight < maxInFlight; ) {
      const entry = waiting[i]!;
      if (!owned(entry.state)) {
        waiting.splice(i, 1);
        continue;
      }
      if (pausedTopics.has(entry.state.topic)) {
        i++;
        continue;
      }
      waiting.splice(i, 1);
      setQueued(entry.state, -1);
      start(entry);
    }
  }

  function start({ state, raw }: Entry): void {
    inFlight++;
    state.tracker.started(raw.offset);
    const p = process(state, raw).finally(() => {
      inFlight--;
      running.delete(p);
      pump();
    });
    running.set(p, state);
  }

  const backoff = (attempt: number) => Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.min(attempt, 16));

  async function handleWithRetry(message: ConsumedMessage, state: PartitionState): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        // Only the first try can be a first delivery: a retry follows a handler that may have acted.
        await options.handle(attempt === 0 ? message : { ...message, firstDelivery: false });
        return true;
      } catch (error) {
        if (isAbandon(error) || !current(state)) return false;
        options.onHandlerError?.(error, message);
        await sleep(backoff(attempt));
        if (!current(state)) return false;
      }
    }
  }

  /** The dead letter must land before the bad message is committed past; retried while we own it. */
  async function writeDeadLetter(record: DeadLetter, state: PartitionState): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await io.deadLetter(record);
        options.onDeadLetter?.(record);
        return true;
      } catch {
        if (!current(state)) return false;
        await sleep(backoff(attempt));
      }
    }
  }

  async function process(state: PartitionState, raw: RawMessage): Promise<void> {
    let event: ConsumedMessage['event'] | undefined;
    let handled = false;
    try {
      // Refused by the consumer's filter, or already handed over in-process: settled without being decoded.
      if (raw.deliveredLocally || (options.accept && !options.accept({ key: raw.key, type: raw.type })))
        handled = true;
      else event = raw.event ?? decodeEvent(raw.value ?? '');
    } catch (error) {
      // Dead letters are not events: reading the dead-letter topic must not loop on them.
      handled = raw.topic === TOPICS.deadLetter || (await writeDeadLetter(deadLetterFor(raw, error), state));
    }
    if (event) {
      if (handledIds.has(event.eventId)) {
        handled = true;
      } else {
        handled = await handleWithRetry(
          {
            topic: raw.topic,
            partition: raw.partition,
            offset: String(raw.offset),
            key: raw.key,
            event,
            timestamp: raw.timestamp,
            firstDelivery: raw.fresh === true,
          },
          state,
        );
        if (handled) {
          handledIds.add(event.eventId);
          if (handledIds.size > HANDLED_LIMIT) handledIds.delete(handledIds.values().next().value as string);
        }
      }
    }
    // An abandoned message stays pending: nothing after it in this partition is committed.
    if (!handled || !current(state)) return;
    const next = state.tracker.settled(raw.offset);
    if (next !== undefined) {
      pendingCommits.set(keyOf(state.topic, state.partition), { state, offset: next });
      void flush();
    }
  }

  /** Commits every pending point in one call; retries failures until they land or are superseded. */
  function flush(): Promise<void> {
    flushing ??= (async () => {
      if (!stopping && commitIntervalMs > 0) await sleep(commitIntervalMs);
      let failures = 0;
      while (pendingCommits.size) {
        const batch = [...pendingCommits.values()].filter((c) => owned(c.state));
        pendingCommits.clear();
        if (!batch.length) break;
        try {
          await io.commit(
            batch.map((c) => ({ topic: c.state.topic, partition: c.state.partition, offset: c.offset })),
          );
          failures = 0;
        } catch {
          for (const c of batch) {
            const k = keyOf(c.state.topic, c.state.partition);
            if (!pendingCommits.has(k)) pendingCommits.set(k, c);
          }
          failures++;
          if (stopping && failures >= 5) break;
          await sleep(Math.min(2_000, 100 * 2 ** Math.min(failures, 5)));
        }
      }
    })().finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  function runningFor(tps: readonly TopicPartition[]): Promise<void>[] {
    const ks = new Set(tps.map((tp) => keyOf(tp.topic, tp.partition)));
    return [...running].filter(([, s]) => ks.has(keyOf(s.topic, s.partition))).map(([p]) => p);
  }

  return {
    /** Takes a fetched message. Never waits; redeliveries of offsets already in hand are ignored. */
    accept(raw: RawMessage): void {
      if (closing) return;
      const state = stateOf(raw.topic, raw.partition);
      if (state.tracker.seen(raw.offset)) return;
      state.tracker.received(raw.offset);
      waiting.push({ state, raw });
      setQueued(state, 1);
      pump();
    },
    /** Received but not started, for one partition. */
    queued(topic: string, partition: number): number {
      return states.get(keyOf(topic, partition))?.queued ?? 0;
    },
    /** Topics whose buffered messages must not start (user pause); running ones still finish. */
    setPaused(topics: Iterable<string>): void {
      pausedTopics.clear();
      for (const t of topics) pausedTopics.add(t);
      pump();
    },
    /**
     * After a rebalance: forgets partitions no longer owned (buffered messages dropped, running
     * handlers stop retrying, nothing more committed for them). Kept partitions keep their state,
     * so a refetch from the committed offset does not hand a message out twice.
     */
    retain(ownedNow: readonly TopicPartition[]): void {
      const keep = new Set(ownedNow.map((tp) => keyOf(tp.topic, tp.partition)));
      for (const k of [...states.keys()]) if (!keep.has(k)) states.delete(k);
      pump();
    },
    /** Forgets these partitions (see `retain`). */
    revoke(tps: readonly TopicPartition[]): void {
      for (const tp of tps) states.delete(keyOf(tp.topic, tp.partition));
      pump();
    },
    inFlight: () => inFlight,
    /** Waits (bounded) until these partitions have no running handler, then commits what settled. */
    async settle(tps: readonly TopicPartition[], timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      for (let mine = runningFor(tps); mine.length && Date.now() < deadline; mine = runningFor(tps)) {
        await Promise.race([Promise.allSettled(mine), sleep(Math.max(1, deadline - Date.now()))]);
      }
      await flush();
    },
    /** Commits what has settled so far. */
    flush,
    /** Stops starting messages; waits (bounded) for running handlers; commits what they settled. */
    async drain(timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      closing = true;
      waiting.length = 0;
      while (running.size && Date.now() < deadline) {
        await Promise.race([
          Promise.allSettled([...running.keys()]),
          sleep(Math.max(1, deadline - Date.now())),
        ]);
      }
      // From here on, handlers still running (given up by the timeout) commit nothing.
      stopping = true;
      await flush();
    },
  };
}

function deadLetterFor(raw: RawMessage, error: unknown): DeadLetter {
  const bytes = raw.value === null ? null : Buffer.isBuffer(raw.value) ? raw.value : Buffer.from(raw.value);
  let text: string | null = null;
  if (bytes) {
    const utf8 = bytes.toString('utf8');
    text = (Buffer.from(utf8, 'utf8').equals(bytes) ? utf8 : `base64:${bytes.toString('base64')}`).slice(
      0,
      64 * 1024,
    );
  }
  return {
    reason: `undecodable message: ${error instanceof Error ? error.message : String(error)}`.slice(0, 2_000),
    sourceTopic: raw.topic,
    sourcePartition: raw.partition,
    sourceOffset: String(raw.offset),
    failedAt: new Date().toISOString(),
    requestId: null,
    tenantId: null,
    raw: text,
    event: null,
  };
}
