export {
  type AnyPgDatabase,
  createPostgresEventLog,
  type PostgresEventLogConfig,
} from './postgres-event-log';
export { LOG_SCHEMA_SQL } from './schema';
