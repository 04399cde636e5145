export { decodeEvent, describeZodError, encodeEvent, upcastEvent, validateEvent } from './codec';
export { type DeadLetter, DeadLetterSchema } from './dead-letter';
export {
  isSluiceError,
  SLUICE_ERROR_CODES,
  SluiceError,
  type SluiceErrorCode,
  toSluiceError,
} from './errors';
export type {
  AppendResult,
  ConsumedMessage,
  ConsumerOptions,
  EventLog,
  LogConsumer,
  LogRecord,
  PartitionLag,
  TopicPartition,
} from './event-log';
export {
  ChatCompletionBodySchema,
  type EventEnvelope,
  type EventOfType,
  eventIdFor,
  type RequestCancelled,
  RequestCancelledV1,
  type RequestCompleted,
  RequestCompletedV1,
  type RequestDispatched,
  RequestDispatchedV1,
  type RequestFailed,
  RequestFailedV1,
  type RequestRetryScheduled,
  RequestRetryScheduledV1,
  type RequestSubmitted,
  RequestSubmittedV1,
  SLUICE_EVENT_TYPES,
  type SluiceEvent,
  SluiceEventSchema,
  type SluiceEventType,
  TERMINAL_EVENT_TYPES,
  type TokenEstimate,
  TokenEstimateSchema,
  type UsageRecorded,
  UsageRecordedV1,
  UsageRecordedV2,
} from './events';
export { createGroupCommit, type GroupCommit } from './internal/group-commit';
export { PRIORITIES, type Priority, PrioritySchema } from './priority';
export { ALL_TOPICS, REQUEST_TOPICS, requestKey, requestTopic, TOPICS, type TopicName } from './topics';
