import { sql } from 'drizzle-orm';
import {
  bigint,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/**
 * Tables of the embedded log. They live beside the broker's own tables but belong to this adapter,
 * which creates them idempotently on start (`LOG_SCHEMA_SQL`, kept in step with these definitions):
 * the adapter must work in any database it is given, before the broker's migrations run.
 */

/** One row per topic-partition: the next offset to assign (row-locked by each append). */
export const logPartition = pgTable(
  'sluice_log_partition',
  {
    topic: text().notNull(),
    partition: integer().notNull(),
    nextOffset: bigint({ mode: 'number' }).notNull().default(0),
  },
  (tbl) => [primaryKey({ columns: [tbl.topic, tbl.partition] })],
);

export const logRecord = pgTable(
  'sluice_log_record',
  {
    topic: text().notNull(),
    partition: integer().notNull(),
    offset: bigint({ mode: 'number' }).notNull(),
    key: text(),
    /** Null for records that are not events (dead letters, raw test bytes). */
    eventId: text(),
    value: text().notNull(),
    appendedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (tbl) => [
    primaryKey({ columns: [tbl.topic, tbl.partition, tbl.offset] }),
    // An event id is stored once per topic: appending it again is a no-op.
    uniqueIndex('sluice_log_record_event_id').on(tbl.topic, tbl.eventId).where(sql`event_id IS NOT NULL`),
  ],
);

export const logGroupOffset = pgTable(
  'sluice_log_group_offset',
  {
    groupId: text().notNull(),
    topic: text().notNull(),
    partition: integer().notNull(),
    /** The next offset to read (Kafka's convention). */
    committed: bigint({ mode: 'number' }).notNull(),
  },
  (tbl) => [primaryKey({ columns: [tbl.groupId, tbl.topic, tbl.partition] })],
);

export const logGroupMember = pgTable(
  'sluice_log_group_member',
  {
    groupId: text().notNull(),
    memberId: text().notNull(),
    heartbeatAt: timestamp({ withTimezone: true }).notNull(),
  },
  (tbl) => [primaryKey({ columns: [tbl.groupId, tbl.memberId] })],
);

/**
 * Who reads partition number `partition` (of every topic the group reads) until `expiresAt`. A
 * member reads only what it leases, renews with each heartbeat, and hands a partition over by
 * deleting the row once its handlers have settled and committed: two members never read one
 * partition at once, even while they disagree about who is alive.
 */
export const logGroupLease = pgTable(
  'sluice_log_group_lease',
  {
    groupId: text().notNull(),
    partition: integer().notNull(),
    memberId: text().notNull(),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
  },
  (tbl) => [primaryKey({ columns: [tbl.groupId, tbl.partition] }), index().on(tbl.groupId, tbl.memberId)],
);

export type LogRecordRow = typeof logRecord.$inferSelect;
export type LogGroupOffsetRow = typeof logGroupOffset.$inferSelect;
export type LogGroupLeaseRow = typeof logGroupLease.$inferSelect;

export const LOG_SCHEMA_SQL = [
  `CREATE TABLE IF NOT EXISTS sluice_log_partition (
    topic text NOT NULL, partition integer NOT NULL, next_offset bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, partition))`,
  `CREATE TABLE IF NOT EXISTS sluice_log_record (
    topic text NOT NULL, partition integer NOT NULL, "offset" bigint NOT NULL, key text,
    event_id text, value text NOT NULL, appended_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset"))`,
  `CREATE UNIQUE INDEX IF NOT EXISTS sluice_log_record_event_id ON sluice_log_record (topic, event_id) WHERE event_id IS NOT NULL`,
  `CREATE TABLE IF NOT EXISTS sluice_log_group_offset (
    group_id text NOT NULL, topic text NOT NULL, partition integer NOT NULL, committed bigint NOT NULL,
    PRIMARY KEY (group_id, topic, partition))`,
  `CREATE TABLE IF NOT EXISTS sluice_log_group_member (
    group_id text NOT NULL, member_id text NOT NULL, heartbeat_at timestamptz NOT NULL,
    PRIMARY KEY (group_id, member_id))`,
  `CREATE TABLE IF NOT EXISTS sluice_log_group_lease (
    group_id text NOT NULL, partition integer NOT NULL, member_id text NOT NULL, expires_at timestamptz NOT NULL,
    PRIMARY KEY (group_id, partition))`,
  `CREATE INDEX IF NOT EXISTS sluice_log_group_lease_group_id_member_id_index ON sluice_log_group_lease (group_id, member_id)`,
];
