import { decodeEvent } from '../codec';
import type { DeadLetter } from '../dead-letter';
import type { ConsumedMessage, ConsumerOptions } from '../event-log';
import { CommitTracker } from './commit-tracker';

export interface RawMessage {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer | string | null;
  timestamp: number;
}

/** Errors a handler throws on purpose to give a message up without committing it. */
function isAbandon(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbandonedError';
}

/**
 * The delivery contract both adapters share: at most `maxInFlight` handlers at once, handlers
 * started in offset order per partition, commits over the contiguous settled prefix, failed
 * handlers retried (never skipped), undecodable messages dead-lettered.
 */
export function createDelivery(
  options: ConsumerOptions,
  io: {
    commit(topic: string, partition: number, nextOffset: number): Promise<void>;
    deadLetter(record: DeadLetter): Promise<void>;
  },
) {
  const maxInFlight = Math.max(1, options.maxInFlight ?? 1);
  let inFlight = 0;
  let generation = 0;
  let stopping = false;
  const trackers = new Map<string, CommitTracker>();
  const waiters: Array<() => void> = [];
  const running = new Set<Promise<void>>();
  let commitChain: Promise<void> = Promise.resolve();
  // Recently delivered event ids: a duplicate append (producer retry, resubmit) is handled once.
  const recent = new Set<string>();
  const RECENT_LIMIT = 20_000;
  function firstTime(eventId: string): boolean {
    if (recent.has(eventId)) return false;
    recent.add(eventId);
    if (recent.size > RECENT_LIMIT) recent.delete(recent.values().next().value as string);
    return true;
  }

  function tracker(topic: string, partition: number): CommitTracker {
    const k = `${topic}:${partition}`;
    let t = trackers.get(k);
    if (!t) {
      t = new CommitTracker();
      trackers.set(k, t);
    }
    return t;
  }

  async function slot(): Promise<void> {
    while (inFlight >= maxInFlight) await new Promise<void>((r) => waiters.push(r));
    inFlight++;
  }
  function release(): void {
    inFlight--;
    waiters.shift()?.();
  }

  async function handleWithRetry(message: ConsumedMessage, gen: number): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await options.handle(message);
        return true;
      } catch (error) {
        if (isAbandon(error) || stopping || gen !== generation) return false;
        options.onHandlerError?.(error, message);
        await new Promise((r) => setTimeout(r, Math.min(5_000, 50 * 2 ** Math.min(attempt, 7))));
        if (stopping || gen !== generation) return false;
      }
    }
  }

  async function process(raw: RawMessage, gen: number): Promise<void> {
    let handled = true;
    try {
      let event: ConsumedMessage['event'] | undefined;
      try {
        event = decodeEvent(raw.value ?? '');
      } catch (error) {
        const record = deadLetterFor(raw, error);
        await io.deadLetter(record).catch(() => {});
        options.onDeadLetter?.(record);
      }
      if (event && firstTime(event.eventId)) {
        handled = await handleWithRetry(
          {
            topic: raw.topic,
            partition: raw.partition,
            offset: String(raw.offset),
            key: raw.key,
            event,
            timestamp: raw.timestamp,
          },
          gen,
        );
      }
    } finally {
      release();
    }
    if (!handled || gen !== generation) return;
    const next = tracker(raw.topic, raw.partition).settled(raw.offset);
    if (next !== undefined) {
      commitChain = commitChain.then(() => io.commit(raw.topic, raw.partition, next).catch(() => {}));
      await commitChain;
    }
  }

  return {
    /** Hands a message over; resolves once it is started (waits while `maxInFlight` are busy). */
    async deliver(raw: RawMessage): Promise<void> {
      if (stopping) return;
      await slot();
      const gen = generation;
      tracker(raw.topic, raw.partition).started(raw.offset);
      const p = process(raw, gen);
      running.add(p);
      void p.finally(() => running.delete(p));
    },
    /** After a rebalance: forget what was in flight; uncommitted messages come again. */
    reset(): void {
      generation++;
      trackers.clear();
      // Redelivered messages must be handled again, not mistaken for duplicates.
      recent.clear();
    },
    inFlight: () => inFlight,
    /** Stops delivering; waits (bounded) for running handlers; their commits happen as they settle. */
    async drain(timeoutMs: number): Promise<void> {
      stopping = true;
      await Promise.race([Promise.allSettled([...running]), new Promise((r) => setTimeout(r, timeoutMs))]);
      await commitChain;
      for (const w of waiters.splice(0)) w();
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
