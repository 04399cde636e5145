import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { encodeEvent, validateEvent } from '../codec';
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
import { LOG_SCHEMA_SQL } from './schema';

// biome-ignore lint/suspicious/noExplicitAny: both drizzle drivers (node-postgres, PGlite) qualify
export type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any, any>;

export interface PostgresEventLogConfig {
  db: AnyPgDatabase;
  partitions?: number;
  /** Fallback poll when no notification arrives. */
  pollIntervalMs?: number;
  /** A member that has not heartbeated for this long leaves the group. */
  sessionTimeoutMs?: number;
  heartbeatMs?: number;
  fetchBatch?: number;
}

const CHANNEL = 'sluice_log';

interface Row {
  offset: string | number;
  key: string | null;
  value: string;
  ts: string | number;
}

function rowsOf<T>(result: unknown): T[] {
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

/**
 * The embedded EventLog: Kafka's semantics on plain Postgres tables, for one machine without Kafka.
 * Works on a Postgres server (`pg`) and on PGlite, through drizzle. Appends are transactions with a
 * per-partition offset sequence; consumer groups keep offsets and members in tables; new records
 * wake consumers through LISTEN/NOTIFY (and in-process at once), with polling as a fallback.
 */
export function createPostgresEventLog(config: PostgresEventLogConfig): EventLog {
  const db = config.db;
  const partitions = config.partitions ?? 6;
  const pollIntervalMs = config.pollIntervalMs ?? 500;
  const sessionTimeoutMs = config.sessionTimeoutMs ?? 6_000;
  const heartbeatMs = config.heartbeatMs ?? 1_000;
  const fetchBatch = config.fetchBatch ?? 200;
  const local = new EventEmitter();
  local.setMaxListeners(0);
  const consumers = new Set<LogConsumer>();
  let unlisten: (() => Promise<void>) | undefined;

  async function listen(): Promise<void> {
    const client = (db as unknown as { $client: unknown }).$client as {
      listen?: (channel: string, cb: () => void) => Promise<() => Promise<void>>;
      connect?: () => Promise<{
        query(q: string): Promise<unknown>;
        on(ev: 'notification' | 'error', cb: () => void): void;
        release(destroy?: boolean): void;
      }>;
    };
    try {
      if (typeof client.listen === 'function') {
        unlisten = await client.listen(CHANNEL, () => local.emit('append'));
      } else if (typeof client.connect === 'function') {
        const c = await client.connect();
        c.on('notification', () => local.emit('append'));
        // A server restart must not crash the process; polling carries on until it is back.
        c.on('error', () => {});
        await c.query(`LISTEN ${CHANNEL}`);
        unlisten = async () => {
          await c.query(`UNLISTEN ${CHANNEL}`).catch(() => {});
          c.release(true);
        };
      }
    } catch {
      // Polling still delivers; notifications only make it faster.
    }
  }

  async function append(records: Parameters<EventLog['append']>[0]): Promise<AppendResult[]> {
    const encoded = records.map((r) => ({
      topic: r.topic,
      key: r.key,
      eventId: validateEvent(r.event).eventId,
      value: encodeEvent(r.event).toString('utf8'),
      partition: partitionForKey(r.key, partitions),
    }));
    return appendRaw(encoded);
  }

  type Encoded = { topic: string; key: string; eventId: string | null; value: string; partition: number };

  /** One transaction per group of concurrent appends; one offset update and one insert per partition. */
  async function writeBatch(encoded: Encoded[]): Promise<AppendResult[]> {
    let results: AppendResult[];
    try {
      results = await db.transaction(async (tx) => {
        const out: AppendResult[] = new Array(encoded.length);
        const byPartition = new Map<string, number[]>();
        encoded.forEach((r, i) => {
          const k = `${r.topic}\u0000${r.partition}`;
          byPartition.set(k, [...(byPartition.get(k) ?? []), i]);
        });
        for (const indexes of byPartition.values()) {
          const { topic, partition } = encoded[indexes[0]!]!;
          const n = indexes.length;
          const first = rowsOf<{ first: string | number }>(
            await tx.execute(sql`UPDATE sluice_log_partition SET next_offset = next_offset + ${n}
              WHERE topic = ${topic} AND partition = ${partition} RETURNING next_offset - ${n} AS "first"`),
          )[0];
          if (!first) throw new SluiceError('invalid_event', `unknown topic ${topic}`);
          const base = Number(first.first);
          const values = indexes.map((i, j) => {
            const r = encoded[i]!;
            out[i] = { topic, partition, offset: String(base + j) };
            return sql`(${topic}, ${partition}, ${base + j}, ${r.key}, ${r.eventId}, ${r.value})`;
          });
          await tx.execute(sql`INSERT INTO sluice_log_record (topic, partition, "offset", key, event_id, value)
            VALUES ${sql.join(values, sql`, `)}
            ON CONFLICT (topic, event_id) WHERE event_id IS NOT NULL DO NOTHING`);
        }
        return out;
      });
    } catch (cause) {
      if (cause instanceof SluiceError) throw cause;
      throw new SluiceError('log_unavailable', 'the embedded log could not append', {
        cause,
        details: { retryAfterMs: 1_000 },
      });
    }
    local.emit('append');
    void db.execute(sql.raw(`NOTIFY ${CHANNEL}`)).catch(() => {});
    return results;
  }

  const appendRaw = createGroupCommit(writeBatch);

  async function commit(groupId: string, topic: string, partition: number, next: number): Promise<void> {
    await db.execute(sql`INSERT INTO sluice_log_group_offset (group_id, topic, partition, committed)
      VALUES (${groupId}, ${topic}, ${partition}, ${next})
      ON CONFLICT (group_id, topic, partition) DO UPDATE SET committed = GREATEST(sluice_log_group_offset.committed, EXCLUDED.committed)`);
  }

  async function consume(options: ConsumerOptions): Promise<LogConsumer> {
    const memberId = randomUUID();
    const paused = new Set<string>();
    let owned: TopicPartition[] = [];
    const positions = new Map<string, number>();
    let stopped = false;
    let wake: (() => void) | undefined;
    const onAppend = () => wake?.();
    local.on('append', onAppend);

    const delivery = createDelivery(options, {
      commit: (topic, partition, next) => commit(options.groupId, topic, partition, next),
      deadLetter: (record) => deadLetterRecord(record),
    });

    async function heartbeat(): Promise<void> {
      await db.execute(sql`INSERT INTO sluice_log_group_member (group_id, member_id, heartbeat_at)
        VALUES (${options.groupId}, ${memberId}, now())
        ON CONFLICT (group_id, member_id) DO UPDATE SET heartbeat_at = now()`);
      const live = rowsOf<{ member_id: string }>(
        await db.execute(sql`SELECT member_id FROM sluice_log_group_member
          WHERE group_id = ${options.groupId} AND heartbeat_at > now() - make_interval(secs => ${sessionTimeoutMs / 1000})
          ORDER BY member_id`),
      ).map((r) => r.member_id);
      const index = live.indexOf(memberId);
      const mine: TopicPartition[] = [];
      for (let p = 0; p < partitions; p++) {
        if (live.length > 0 && p % live.length === index)
          for (const topic of options.topics) mine.push({ topic, partition: p });
      }
      const key = (tps: TopicPartition[]) => tps.map((tp) => `${tp.topic}:${tp.partition}`).join(',');
      if (key(mine) !== key(owned)) {
        owned = mine;
        delivery.reset();
        positions.clear();
        for (const tp of owned) positions.set(`${tp.topic}:${tp.partition}`, await startPosition(tp));
        options.onAssignment?.(owned);
      }
    }

    async function startPosition(tp: TopicPartition): Promise<number> {
      const committed = rowsOf<{ committed: string | number }>(
        await db.execute(sql`SELECT committed FROM sluice_log_group_offset
          WHERE group_id = ${options.groupId} AND topic = ${tp.topic} AND partition = ${tp.partition}`),
      )[0];
      if (committed) return Number(committed.committed);
      if (options.fromBeginning ?? true) return 0;
      const end = rowsOf<{ next_offset: string | number }>(
        await db.execute(
          sql`SELECT next_offset FROM sluice_log_partition WHERE topic = ${tp.topic} AND partition = ${tp.partition}`,
        ),
      )[0];
      const position = Number(end?.next_offset ?? 0);
      // Pin the start so a restart of this member does not skip what arrived in between.
      await commit(options.groupId, tp.topic, tp.partition, position);
      return position;
    }

    async function fetchOnce(): Promise<number> {
      let fetched = 0;
      for (const tp of owned) {
        if (stopped) break;
        if (paused.has(tp.topic)) continue;
        const k = `${tp.topic}:${tp.partition}`;
        const from = positions.get(k);
        if (from === undefined) continue;
        const rows = rowsOf<Row>(
          await db.execute(sql`SELECT "offset", key, value, (extract(epoch from appended_at) * 1000)::float8 AS ts
            FROM sluice_log_record WHERE topic = ${tp.topic} AND partition = ${tp.partition} AND "offset" >= ${from}
            ORDER BY "offset" LIMIT ${fetchBatch}`),
        );
        for (const row of rows) {
          if (stopped || paused.has(tp.topic) || positions.get(k) === undefined) break;
          const offset = Number(row.offset);
          await delivery.deliver({
            ...tp,
            offset,
            key: row.key,
            value: row.value,
            timestamp: Number(row.ts),
          });
          positions.set(k, offset + 1);
          fetched++;
        }
      }
      return fetched;
    }

    const loop = (async () => {
      let lastHeartbeat = 0;
      while (!stopped) {
        try {
          if (Date.now() - lastHeartbeat >= heartbeatMs) {
            await heartbeat();
            lastHeartbeat = Date.now();
          }
          if ((await fetchOnce()) > 0) continue;
        } catch {
          // Database unavailable: wait and try again; nothing is committed meanwhile.
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.min(pollIntervalMs, heartbeatMs));
        });
        wake = undefined;
      }
    })();

    const consumer: LogConsumer = {
      pause(topics) {
        for (const t of topics) paused.add(t);
      },
      resume(topics) {
        for (const t of topics) paused.delete(t);
        wake?.();
      },
      paused: () => [...paused],
      assignment: () => owned,
      async stop() {
        if (stopped) return;
        stopped = true;
        wake?.();
        await loop;
        await delivery.drain(10_000);
        local.off('append', onAppend);
        await db
          .execute(
            sql`DELETE FROM sluice_log_group_member WHERE group_id = ${options.groupId} AND member_id = ${memberId}`,
          )
          .catch(() => {});
        consumers.delete(consumer);
      },
    };
    consumers.add(consumer);
    return consumer;
  }

  async function deadLetterRecord(record: Parameters<EventLog['deadLetter']>[0]): Promise<void> {
    const valid = DeadLetterSchema.parse(record);
    await appendRaw([
      {
        topic: TOPICS.deadLetter,
        key: valid.requestId ?? valid.sourceTopic,
        eventId: null,
        value: JSON.stringify(valid),
        partition: partitionForKey(valid.requestId ?? valid.sourceTopic, partitions),
      },
    ]);
  }

  return {
    kind: 'postgres',
    async start() {
      for (const statement of LOG_SCHEMA_SQL) await db.execute(sql.raw(statement));
      for (const topic of ALL_TOPICS) {
        for (let p = 0; p < partitions; p++) {
          await db.execute(sql`INSERT INTO sluice_log_partition (topic, partition, next_offset) VALUES (${topic}, ${p}, 0)
            ON CONFLICT (topic, partition) DO NOTHING`);
        }
      }
      await listen();
    },
    append,
    deadLetter: deadLetterRecord,
    consume,
    async lag(groupId, topics): Promise<PartitionLag[]> {
      const out: PartitionLag[] = [];
      for (const topic of topics) {
        const rows = rowsOf<{
          partition: number;
          next_offset: string | number;
          committed: string | number | null;
        }>(
          await db.execute(sql`SELECT p.partition, p.next_offset, o.committed FROM sluice_log_partition p
            LEFT JOIN sluice_log_group_offset o ON o.group_id = ${groupId} AND o.topic = p.topic AND o.partition = p.partition
            WHERE p.topic = ${topic} ORDER BY p.partition`),
        );
        for (const r of rows) {
          const end = Number(r.next_offset);
          const committed = r.committed === null ? null : Number(r.committed);
          out.push({
            topic,
            partition: Number(r.partition),
            endOffset: String(end),
            committedOffset: committed === null ? null : String(committed),
            lag: end - (committed ?? 0),
          });
        }
      }
      return out;
    },
    async healthy() {
      try {
        await db.execute(sql`SELECT 1`);
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await Promise.allSettled([...consumers].map((c) => c.stop()));
      await unlisten?.().catch(() => {});
    },
  };
}
