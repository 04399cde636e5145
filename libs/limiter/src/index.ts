export {
  BATCH_QUEUE_DEFAULTS,
  type BatchAllowance,
  type BatchQueueBudget,
  type BatchQueueConfig,
  type BatchQueueGroupSnapshot,
  createBatchQueueBudget,
  parseBatchQueueLimit,
  takeWithinAllowance,
} from './batch-queue';
export {
  DEFAULT_MAX_OUTPUT_TOKENS,
  defaultRetryPolicy,
  LIMITER_DEFAULTS,
  type RetryPolicy,
} from './defaults';
export { parseGoDuration, parseRateLimitHeaders, parseRetryAfter, type RateLimitHeaders } from './headers';
export {
  type AdmissionResult,
  createLimiter,
  type Dispatch,
  type GroupSnapshot,
  type Limiter,
  type LimiterConfig,
  type LimiterSnapshot,
  type QueuedRequest,
  type Reservation,
} from './limiter';
export { PRIORITIES, type Priority } from './priority';
export { type EnforcementEstimate, parseDailyLimit, type QuotaLimits } from './quota';
export {
  classifyUpstreamFailure,
  decideRetry,
  type RetryDecision,
  type UpstreamFailureFacts,
  type UpstreamFailureKind,
} from './retry';
export {
  type ChatParamsForEstimate,
  countTextTokens,
  type EncodingName,
  encodingNameForModel,
  estimateChatTokens,
  type ModelInfo,
  modelInfo,
  type TokenEstimate,
} from './tokens';
