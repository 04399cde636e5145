export { createKafkaEventLog, deleteKafkaNamespace, type KafkaEventLogConfig } from './kafka-event-log';
export { SamePartitionAssigner } from './same-partition-assigner';
