import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PGlite } from '@electric-sql/pglite';
import { type SQL, sql } from 'drizzle-orm';
import { type PgDatabase, PgDialect, type PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { escapeLiteral } from 'pg';
import { validateEvent } from '../codec';
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
import type { SluiceEvent } from '../events';
import { type CommitPoint, createDelivery, type DeliveryTuning, type RawMessage } from '../internal/delivery';
import { createGroupCommit } from '../internal/group-commit';
import { deliverLocally } from '../internal/local-notify';
import { partitionForKey } from '../internal/partitioner';
import { ALL_TOPICS, TOPICS } from '../topics';
import { LOG_SCHEMA_SQL } from './schema';

const APPEND_STATEMENT = 'sluice_log_append';

/**
 * One partition's append: reserves `n` offsets (the partition row's lock orders appends, so they
 * commit in offset order) and inserts the records of `rows` (a JSON array of `{i, key, event_id,
 * value}`); an event id already in the topic is skipped, and `inserted` says how many went in.
 */
function appendSql(p: { topic: SQL; partition: SQL; n: SQL; rows: SQL }): SQL {
  return sql`WITH reserved AS (
      UPDATE sluice_log_partition SET next_offset = next_offset + ${p.n}
      WHERE topic = ${p.topic} AND partition = ${p.partition} RETURNING next_offset - ${p.n} AS "first"),
    inserted AS (
      INSERT INTO sluice_log_record (topic, partition, "offset", key, event_id, value)
      SELECT ${p.topic}, ${p.partition}, reserved."first" + r.i, r.key, r.event_id, r.value
      FROM reserved, jsonb_to_recordset(${p.rows}::jsonb) AS r(i int, key text, event_id text, value text)
      ON CONFLICT (topic, event_id) WHERE event_id IS NOT NULL DO NOTHING RETURNING 1)
    SELECT (SELECT "first" FROM reserved) AS "first", (SELECT count(*) FROM inserted)::int AS inserted`;
}

/** `appendSql` with its values as `$1`…`$4`, for PGlite's prepared statement. */
const APPEND_SQL_TEXT = new PgDialect().sqlToQuery(
  appendSql({ topic: sql.raw('$1'), partition: sql.raw('$2'), n: sql.raw('$3'), rows: sql.raw('$4') }),
).sql;

type PgliteClient = Pick<PGlite, 'exec'>;

const KNOWN_TOPICS: ReadonlySet<string> = new Set(ALL_TOPICS);

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
  /** Shortest time between two reads of one consumer (default 5 ms): batches reads under load. */
  minFetchIntervalMs?: number;
  /** How long `stop()` waits for running handlers before it commits what settled (default 10 s). */
  stopTimeoutMs?: number;
  /** Buffering and handler-retry tuning of consumers (tests shorten the delays). */
  delivery?: DeliveryTuning;
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
  const minFetchIntervalMs = config.minFetchIntervalMs ?? 5;
  const sessionTimeoutMs = config.sessionTimeoutMs ?? 6_000;
  const heartbeatMs = config.heartbeatMs ?? 1_000;
  const fetchBatch = config.fetchBatch ?? 200;
  const stopTimeoutMs = config.stopTimeoutMs ?? 10_000;
  const bufferLimit = Math.max(1, config.delivery?.bufferPerPartition ?? 64);
  const local = new EventEmitter();
  // PGlite (it has `listen`) is held by this process alone: no NOTIFY round trip is needed.
  const inProcessOnly =
    typeof (db as unknown as { $client: { listen?: unknown } }).$client?.listen === 'function';
  /** The PGlite engine itself, when the log is on one (see `writePrepared`). */
  const pglite = inProcessOnly ? (db as unknown as { $client: PgliteClient }).$client : undefined;
  local.setMaxListeners(0);
  const consumers = new Set<LogConsumer>();
  /** Names this handle in its NOTIFY payloads (after the topics), so it skips its own. */
  const selfTag = `@${randomUUID()}`;
  let unlisten: (() => Promise<void>) | undefined;

  async function listen(): Promise<void> {
    const client = (db as unknown as { $client: unknown }).$client as {
      listen?: (channel: string, cb: () => void) => Promise<() => Promise<void>>;
      connect?: () => Promise<{
        query(q: string): Promise<unknown>;
        on(ev: 'notification' | 'error', cb: (msg: { payload?: string }) => void): void;
        release(destroy?: boolean): void;
      }>;
    };
    try {
      // PGlite lives in this process alone: the in-process signal reaches every consumer already.
      if (typeof client.listen === 'function') return;
      if (typeof client.connect === 'function') {
        const c = await client.connect();
        c.on('notification', (msg: { payload?: string }) => {
          const parts = msg.payload ? msg.payload.split(',') : undefined;
          // Our own appends were handed to our consumers already (see `writeBatch`).
          if (parts?.includes(selfTag)) return;
          local.emit(
            'append',
            parts?.filter((p) => !p.startsWith('@')),
          );
        });
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
    const encoded = records.map((r) => {
      // Refused before anything is written: a write spanning partitions must be all or nothing.
      if (!KNOWN_TOPICS.has(r.topic)) throw new SluiceError('invalid_event', `unknown topic ${r.topic}`);
      const event = validateEvent(r.event);
      return {
        topic: r.topic,
        key: r.key,
        eventId: event.eventId,
        // The event as validated (what `encodeEvent` writes), checked once.
        value: JSON.stringify(event),
        event,
        partition: partitionForKey(r.key, partitions),
      };
    });
    return appendRaw(encoded);
  }

  type Encoded = {
    topic: string;
    key: string;
    eventId: string | null;
    value: string;
    partition: number;
    /** Absent for a dead letter (not an event). */
    event?: SluiceEvent;
  };

  /** One partition's part of a write: the indexes of its records, and the records as `appendSql` takes them. */
  type PartitionWrite = { topic: string; partition: number; indexes: number[]; rows: string };
  type Written = { first: string | number | bigint | null; inserted: number };

  /**
   * One statement per partition reserves the offsets and inserts the records; a group of concurrent
   * appends that spans partitions is one transaction (all or nothing). The partition row's lock
   * orders appends, so a partition's records commit in offset order.
   */
  async function writeBatch(encoded: Encoded[]): Promise<AppendResult[]> {
    const byPartition = new Map<string, number[]>();
    encoded.forEach((r, i) => {
      const k = `${r.topic}\u0000${r.partition}`;
      const indexes = byPartition.get(k);
      if (indexes) indexes.push(i);
      else byPartition.set(k, [i]);
    });
    const parts: PartitionWrite[] = [...byPartition.values()].map((indexes) => ({
      topic: encoded[indexes[0]!]!.topic,
      partition: encoded[indexes[0]!]!.partition,
      indexes,
      rows: JSON.stringify(
        indexes.map((i, j) => ({
          i: j,
          key: encoded[i]!.key,
          event_id: encoded[i]!.eventId,
          value: encoded[i]!.value,
        })),
      ),
    }));
    const out: AppendResult[] = new Array(encoded.length);
    /** What this write appended, in offset order per partition, for the in-process handoff. */
    const appended: RawMessage[] = [];
    try {
      const written = pglite ? await writePrepared(pglite, parts) : await writeParameterised(parts);
      for (const [k, part] of parts.entries()) {
        const { topic, partition, indexes } = part;
        const w = written[k];
        if (w?.first === null || w?.first === undefined)
          throw new SluiceError('invalid_event', `unknown topic ${topic}`);
        const base = Number(w.first);
        const whole = Number(w.inserted) === indexes.length;
        const now = Date.now();
        indexes.forEach((i, j) => {
          out[i] = { topic, partition, offset: String(base + j) };
          if (whole)
            appended.push({
              topic,
              partition,
              offset: base + j,
              key: encoded[i]!.key,
              value: encoded[i]!.value,
              ...(encoded[i]!.event ? { event: encoded[i]!.event } : {}),
              timestamp: now,
            });
        });
        if (!whole) await reportStoredCopies(encoded, part, out);
      }
    } catch (cause) {
      if (cause instanceof SluiceError) throw cause;
      throw new SluiceError('log_unavailable', 'the embedded log could not append', {
        cause,
        details: { retryAfterMs: 1_000 },
      });
    }
    // Consumers wake only for their own topics: in-process at once, other processes by NOTIFY.
    // Consumers here are handed the committed records themselves, so a reader at the log's end
    // takes them without a query.
    const topics = [...new Set(encoded.map((r) => r.topic))];
    local.emit('append', topics, appended);
    if (!inProcessOnly)
      void db.execute(sql`SELECT pg_notify(${CHANNEL}, ${[...topics, selfTag].join(',')})`).catch(() => {});
    return out;
  }

  /** A server: the parameterised statement, in one transaction when the write spans partitions. */
  async function writeParameterised(parts: PartitionWrite[]): Promise<Written[]> {
    const write = async (tx: Pick<typeof db, 'execute'>) => {
      const written: Written[] = [];
      for (const { topic, partition, indexes, rows } of parts) {
        const n = indexes.length;
        const result = await tx.execute(
          appendSql({ topic: sql`${topic}`, partition: sql`${partition}`, n: sql`${n}`, rows: sql`${rows}` }),
        );
        written.push(rowsOf<Written>(result)[0]!);
      }
      return written;
    };
    return parts.length === 1 ? write(db) : db.transaction((tx) => write(tx));
  }

  /**
   * PGlite: the append is planned once (PGlite is one session) and executed by name, every
   * partition's statement in one simple-protocol message, which Postgres runs as one transaction.
   * Planning it on every call, and the extended protocol's five round trips into the WebAssembly
   * engine, were most of an append's cost, paid on the serving thread. The values are literals,
   * quoted by node-postgres's `escapeLiteral`; `partition` and `n` are integers of ours.
   */
  async function writePrepared(client: PgliteClient, parts: PartitionWrite[]): Promise<Written[]> {
    prepared ??= client
      .exec(`PREPARE ${APPEND_STATEMENT}(text, int, int, jsonb) AS ${APPEND_SQL_TEXT}`)
      .catch((error: unknown) => {
        prepared = undefined; // prepared again by the next append
        throw error;
      });
    await prepared;
    const statements = parts.map(
      ({ topic, partition, indexes, rows }) =>
        `EXECUTE ${APPEND_STATEMENT}(${escapeLiteral(topic)}, ${partition}, ${indexes.length}, ${escapeLiteral(rows)})`,
    );
    const results = await client.exec(statements.join(';\n'));
    return results.map((r) => r.rows[0] as Written);
  }
  let prepared: Promise<unknown> | undefined;

  /** Some event ids were already in the topic (a no-op append): each such record is reported at its stored copy. */
  async function reportStoredCopies(
    encoded: Encoded[],
    part: PartitionWrite,
    out: AppendResult[],
  ): Promise<void> {
    const ids = part.indexes.map((i) => encoded[i]!.eventId).filter((id): id is string => id !== null);
    const stored = rowsOf<{ event_id: string; partition: number; offset: string | number }>(
      await db.execute(sql`SELECT event_id, partition, "offset" FROM sluice_log_record
        WHERE topic = ${part.topic} AND event_id IN (${sql.join(
          ids.map((id) => sql`${id}`),
          sql`, `,
        )})`),
    );
    const at = new Map(stored.map((r) => [r.event_id, r]));
    for (const i of part.indexes) {
      const hit = at.get(encoded[i]!.eventId ?? '');
      if (hit) out[i] = { topic: part.topic, partition: Number(hit.partition), offset: String(hit.offset) };
    }
  }

  const appendRaw = createGroupCommit(writeBatch, { nextTurn: inProcessOnly });

  async function commit(groupId: string, points: readonly CommitPoint[]): Promise<void> {
    if (!points.length) return;
    const values = points.map((p) => sql`(${groupId}, ${p.topic}, ${p.partition}, ${p.offset})`);
    // GREATEST: a late commit from a previous owner never moves a partition back.
    await db.execute(sql`INSERT INTO sluice_log_group_offset (group_id, topic, partition, committed)
      VALUES ${sql.join(values, sql`, `)}
      ON CONFLICT (group_id, topic, partition) DO UPDATE SET committed = GREATEST(sluice_log_group_offset.committed, EXCLUDED.committed)`);
  }

  async function consume(options: ConsumerOptions): Promise<LogConsumer> {
    const groupId = options.groupId;
    const memberId = randomUUID();
    const ttl = sql`make_interval(secs => ${sessionTimeoutMs / 1000})`;
    const paused = new Set<string>();
    /** Partition numbers this member leases and reads. */
    const owned = new Set<number>();
    /** Leased numbers being handed over: no longer read, lease kept until their handlers settle. */
    const releasing = new Set<number>();
    const positions = new Map<string, number>();
    const freshFrom = new Map<string, number>();
    let assignment: TopicPartition[] = [];
    let stopped = false;
    let wake: (() => void) | undefined;
    // Set by a poke that arrives while a fetch runs: the loop looks again instead of sleeping.
    let dirty = false;
    const poke = () => {
      dirty = true;
      wake?.();
    };
    const subscribed = new Set(options.topics);
    /** True while a read is in flight: a record handed meanwhile makes its result stale, so read again. */
    let reading = false;
    const onAppend = (topics?: readonly string[], appended?: readonly RawMessage[]) => {
      if (topics && !topics.some((t) => subscribed.has(t))) return;
      let taken = false;
      try {
        taken = appended !== undefined && takeAppended(appended);
      } catch {
        // Runs inside the appender's call, which has committed: never fail it; a read catches up.
      }
      if (!taken) poke();
      else if (reading) dirty = true;
    };
    /**
     * Accepts records appended in this process where this member reads exactly from their offset
     * (it owns the partition, has room, is not paused): no query needed. False when any record of
     * a subscribed topic is left for a read.
     */
    function takeAppended(appended: readonly RawMessage[]): boolean {
      let all = true;
      for (const raw of appended) {
        if (!subscribed.has(raw.topic) || stopped) continue;
        const key = k(raw.topic, raw.partition);
        const takes =
          owned.has(raw.partition) &&
          !releasing.has(raw.partition) &&
          !paused.has(raw.topic) &&
          positions.get(key) === raw.offset &&
          delivery.queued(raw.topic, raw.partition) < bufferLimit;
        if (!takes) {
          all = false;
          continue;
        }
        delivery.accept({ ...raw, fresh: raw.offset >= (freshFrom.get(key) ?? Number.POSITIVE_INFINITY) });
        positions.set(key, raw.offset + 1);
      }
      return all;
    }
    local.on('append', onAppend);
    // In-process notifications (see `notify`) go to the member that owns the key's partition.
    const onNotify = (records: readonly LogRecord[]) => {
      if (stopped) return;
      deliverLocally(
        options,
        records,
        partitions,
        (topic, partition) => !paused.has(topic) && owned.has(partition) && !releasing.has(partition),
      );
    };
    local.on('notify', onNotify);
    const k = (topic: string, partition: number) => `${topic}\u0000${partition}`;
    const tpsOf = (n: number) => options.topics.map((topic) => ({ topic, partition: n }));

    const delivery = createDelivery(
      options,
      {
        commit: (points) => commit(groupId, points),
        deadLetter: (record) => deadLetterRecord(record),
        // The fetch loop skips full partitions; when one drains, it looks again at once.
        backpressure: (_topic, _partition, full) => {
          if (!full) poke();
        },
      },
      config.delivery,
    );

    function publishAssignment(): void {
      assignment = [...owned]
        .filter((n) => !releasing.has(n))
        .sort((a, b) => a - b)
        .flatMap(tpsOf);
      options.onAssignment?.(assignment);
    }

    function forget(n: number): void {
      owned.delete(n);
      releasing.delete(n);
      delivery.revoke(tpsOf(n));
      for (const tp of tpsOf(n)) {
        positions.delete(k(tp.topic, tp.partition));
        freshFrom.delete(k(tp.topic, tp.partition));
      }
    }

    /**
     * Where a newly leased partition is read from. Also notes where its log ended once leased:
     * later records were appended after this member took it, so no other member can have been
     * handed them (`firstDelivery`).
     */
    async function startPosition(tp: TopicPartition): Promise<number> {
      const end = Number(
        rowsOf<{ next_offset: string | number }>(
          await db.execute(
            sql`SELECT next_offset FROM sluice_log_partition WHERE topic = ${tp.topic} AND partition = ${tp.partition}`,
          ),
        )[0]?.next_offset ?? 0,
      );
      freshFrom.set(k(tp.topic, tp.partition), end);
      const committed = rowsOf<{ committed: string | number }>(
        await db.execute(sql`SELECT committed FROM sluice_log_group_offset
          WHERE group_id = ${groupId} AND topic = ${tp.topic} AND partition = ${tp.partition}`),
      )[0];
      if (committed) return Number(committed.committed);
      if (options.fromBeginning ?? true) return 0;
      // Pin the start, so the next owner does not skip what arrives in between.
      await commit(groupId, [{ ...tp, offset: end }]);
      return end;
    }

    /** Stops reading a partition number, lets its handlers settle, commits, then frees the lease. */
    async function release(n: number): Promise<void> {
      releasing.add(n);
      publishAssignment();
      try {
        await delivery.settle(tpsOf(n), sessionTimeoutMs);
      } finally {
        if (releasing.has(n)) {
          forget(n);
          await db
            .execute(sql`DELETE FROM sluice_log_group_lease
              WHERE group_id = ${groupId} AND partition = ${n} AND member_id = ${memberId}`)
            .catch(() => {});
        }
      }
    }

    /** Heartbeat, lease renewal and rebalancing: targets computed over live members, fenced by leases. */
    async function heartbeat(): Promise<void> {
      await db.execute(sql`INSERT INTO sluice_log_group_member (group_id, member_id, heartbeat_at)
        VALUES (${groupId}, ${memberId}, now())
        ON CONFLICT (group_id, member_id) DO UPDATE SET heartbeat_at = now()`);
      const held = new Set(
        rowsOf<{ partition: number }>(
          await db.execute(sql`UPDATE sluice_log_group_lease SET expires_at = now() + ${ttl}
            WHERE group_id = ${groupId} AND member_id = ${memberId} AND expires_at > now() RETURNING partition`),
        ).map((r) => Number(r.partition)),
      );
      // A lease that lapsed (this process stalled) may be someone else's now: stop reading at once.
      const lost = [...owned].filter((n) => !held.has(n));
      if (lost.length) {
        for (const n of lost) forget(n);
        publishAssignment();
      }
      const live = rowsOf<{ member_id: string }>(
        await db.execute(sql`SELECT member_id FROM sluice_log_group_member
          WHERE group_id = ${groupId} AND heartbeat_at > now() - ${ttl} ORDER BY member_id`),
      ).map((r) => r.member_id);
      const index = live.indexOf(memberId);
      const target = new Set<number>();
      for (let n = 0; n < partitions; n++) if (index >= 0 && n % live.length === index) target.add(n);
      for (const n of owned) if (!target.has(n) && !releasing.has(n)) void release(n);
      const wanted = [...target].filter((n) => !owned.has(n));
      if (!wanted.length || stopped) return;
      // Taken only when free or expired: the previous owner hands over once its handlers settled.
      const acquired = rowsOf<{ partition: number }>(
        await db.execute(sql`INSERT INTO sluice_log_group_lease (group_id, partition, member_id, expires_at)
          SELECT ${groupId}, n, ${memberId}, now() + ${ttl} FROM unnest(${`{${wanted.join(',')}}`}::int[]) AS n
          ON CONFLICT (group_id, partition) DO UPDATE SET member_id = EXCLUDED.member_id, expires_at = EXCLUDED.expires_at
          WHERE sluice_log_group_lease.expires_at < now() OR sluice_log_group_lease.member_id = EXCLUDED.member_id
          RETURNING partition`),
      ).map((r) => Number(r.partition));
      if (!acquired.length) return;
      for (const n of acquired) {
        for (const tp of tpsOf(n)) positions.set(k(tp.topic, tp.partition), await startPosition(tp));
        owned.add(n);
      }
      publishAssignment();
      poke();
    }

    /**
     * One round trip reads every owned (topic, partition) that has room, from its position. True
     * when a partition filled its limit: more may be waiting. Otherwise the log was read to its end,
     * and the next append pokes this consumer (in process at once, from other processes by NOTIFY).
     */
    async function fetchOnce(): Promise<boolean> {
      const wanted: Array<{ topic: string; partition: number; from: number; limit: number }> = [];
      for (const n of owned) {
        for (const topic of options.topics) {
          if (releasing.has(n) || paused.has(topic)) continue;
          const from = positions.get(k(topic, n));
          const room = bufferLimit - delivery.queued(topic, n);
          if (from !== undefined && room > 0) {
            wanted.push({ topic, partition: n, from, limit: Math.min(room, fetchBatch) });
          }
        }
      }
      if (stopped || wanted.length === 0) return false;
      const pgArray = (xs: Array<string | number>) =>
        `{${xs.map((x) => JSON.stringify(String(x))).join(',')}}`;
      const rows = rowsOf<Row & { topic: string; partition: number }>(
        await db.execute(sql`SELECT w.topic, w.partition, r."offset", r.key, r.value,
            (extract(epoch from r.appended_at) * 1000)::float8 AS ts
          FROM unnest(${pgArray(wanted.map((w) => w.topic))}::text[], ${pgArray(wanted.map((w) => w.partition))}::int[],
                      ${pgArray(wanted.map((w) => w.from))}::bigint[], ${pgArray(wanted.map((w) => w.limit))}::int[])
            AS w(topic, partition, from_offset, max_rows)
          CROSS JOIN LATERAL (
            SELECT "offset", key, value, appended_at FROM sluice_log_record
            WHERE topic = w.topic AND partition = w.partition AND "offset" >= w.from_offset
            ORDER BY "offset" LIMIT w.max_rows) r
          ORDER BY w.topic, w.partition, r."offset"`),
      );
      // Ownership or a position may have changed while the query ran: drop what is stale.
      // (Offsets can have gaps, where a duplicate append reserved but did not insert.)
      const current = new Map(
        wanted.map((w) => [k(w.topic, w.partition), positions.get(k(w.topic, w.partition)) === w.from]),
      );
      const fetched = new Map<string, number>();
      for (const row of rows) {
        const partition = Number(row.partition);
        const key = k(row.topic, partition);
        if (stopped || releasing.has(partition) || !owned.has(partition) || !current.get(key)) continue;
        const offset = Number(row.offset);
        delivery.accept({
          topic: row.topic,
          partition,
          offset,
          key: row.key,
          value: row.value,
          timestamp: Number(row.ts),
          fresh: offset >= (freshFrom.get(key) ?? Number.POSITIVE_INFINITY),
        });
        positions.set(key, offset + 1);
        fetched.set(key, (fetched.get(key) ?? 0) + 1);
      }
      return wanted.some((w) => (fetched.get(k(w.topic, w.partition)) ?? 0) >= w.limit);
    }

    // Heartbeats run on their own: a handler holding messages never delays them.
    const heartbeats = (async () => {
      while (!stopped) {
        try {
          await heartbeat();
        } catch {
          // Database unavailable: leases lapse if it lasts; nothing is committed meanwhile.
        }
        await sleep(heartbeatMs);
      }
    })();

    const fetching = (async () => {
      let lastFetchAt = 0;
      // Set while appends outpace reads (a read filled its limit, or a poke came during it).
      let busy = false;
      while (!stopped) {
        // Under load, appends wake consumers far more often than a query is worth: read at most
        // once per interval and take everything that arrived meanwhile in one go. A consumer that
        // had read to the end reads at once: a lone request never waits for the interval.
        const since = performance.now() - lastFetchAt;
        if (busy && since < minFetchIntervalMs) await sleep(minFetchIntervalMs - since);
        lastFetchAt = performance.now();
        dirty = false;
        busy = true;
        reading = true;
        try {
          if (await fetchOnce()) continue;
        } catch {
          // Database unavailable: wait and try again.
        } finally {
          reading = false;
        }
        if (dirty) continue;
        busy = false;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollIntervalMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    })();

    const consumer: LogConsumer = {
      pause(topics) {
        for (const t of topics) paused.add(t);
        delivery.setPaused(paused);
      },
      resume(topics) {
        for (const t of topics) paused.delete(t);
        delivery.setPaused(paused);
        poke();
      },
      paused: () => [...paused],
      assignment: () => assignment,
      async stop() {
        if (stopped) return;
        stopped = true;
        poke();
        await fetching;
        await heartbeats;
        // Leases stay renewed while handlers finish, so no one else reads these partitions yet.
        const keepAlive = setInterval(() => {
          void db
            .execute(sql`UPDATE sluice_log_group_lease SET expires_at = now() + ${ttl}
              WHERE group_id = ${groupId} AND member_id = ${memberId}`)
            .catch(() => {});
        }, heartbeatMs);
        try {
          await delivery.drain(stopTimeoutMs);
        } finally {
          clearInterval(keepAlive);
        }
        local.off('append', onAppend);
        local.off('notify', onNotify);
        await db
          .execute(
            sql`DELETE FROM sluice_log_group_lease WHERE group_id = ${groupId} AND member_id = ${memberId}`,
          )
          .catch(() => {});
        await db
          .execute(
            sql`DELETE FROM sluice_log_group_member WHERE group_id = ${groupId} AND member_id = ${memberId}`,
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
        // Every group reading a topic meets the same bad message: store its dead letter once.
        eventId:
          valid.sourceOffset === null
            ? null
            : `dead-letter/${valid.sourceTopic}/${valid.sourcePartition}/${valid.sourceOffset}/${valid.requestId ?? ''}`,
        value: JSON.stringify(valid),
        partition: partitionForKey(valid.requestId ?? valid.sourceTopic, partitions),
      },
    ]);
  }

  return {
    kind: 'postgres',
    async start() {
      // Several processes may start at once on one database: the DDL runs under one advisory lock.
      await db.transaction(async (tx) => {
        await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext('sluice_log_schema'))`);
        for (const statement of LOG_SCHEMA_SQL) await tx.execute(sql.raw(statement));
      });
      for (const topic of ALL_TOPICS) {
        for (let p = 0; p < partitions; p++) {
          await db.execute(sql`INSERT INTO sluice_log_partition (topic, partition, next_offset) VALUES (${topic}, ${p}, 0)
            ON CONFLICT (topic, partition) DO NOTHING`);
        }
      }
      await listen();
    },
    append,
    async notify(records) {
      // PGlite lives in this process alone, and so does every consumer of it: notifications (not
      // the record; the event store is) are handed to them directly instead of written and polled.
      if (!inProcessOnly) {
        await append(records);
        return;
      }
      const valid = records.map((r) => ({ ...r, event: validateEvent(r.event) }));
      local.emit('notify', valid);
    },
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
