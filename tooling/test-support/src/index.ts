export { freePort } from './free-port';
export { kafkaBrokers, requireKafka, uniqueName } from './kafka';
export { postgresAdminUrl } from './postgres-url';
export { createTestDatabase, type TestDatabase } from './test-database';
