/**
 * Tables of the embedded log, created idempotently on start. They live beside the broker's own
 * tables but belong to this adapter. (Plain SQL rather than a drizzle migration: the adapter must
 * work in any database it is given, before the broker's migrations run.)
 */
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
];
