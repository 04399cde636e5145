import type { ConsumerOptions, LogRecord } from '../event-log';
import { partitionForKey } from './partitioner';

/**
 * Hands notifications straight to one consumer of this process (see `EventLog.notify`): the records
 * of its topics whose key's partition it owns and whose filter accepts them. Offset `-1`: they are
 * not read from the log, so nothing is committed for them. Returns the event ids handed over.
 */
export function deliverLocally(
  options: ConsumerOptions,
  records: readonly LogRecord[],
  partitions: number,
  takes: (topic: string, partition: number) => boolean,
): string[] {
  const handed: string[] = [];
  for (const r of records) {
    const partition = partitionForKey(r.key, partitions);
    if (!options.topics.includes(r.topic) || !takes(r.topic, partition)) continue;
    if (options.accept && !options.accept({ key: r.key, type: r.event.type })) continue;
    const message = {
      topic: r.topic,
      partition,
      offset: '-1',
      key: r.key,
      event: r.event,
      timestamp: Date.now(),
    };
    handed.push(r.event.eventId);
    void options.handle(message).catch((error: unknown) => options.onHandlerError?.(error, message));
  }
  return handed;
}
