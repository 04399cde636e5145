export type { BatchError } from './batch-validation';
export type { BatchObject, BatchOptions, BatchStats, BatchStatus } from './batches';
export { promptTokens, simulatedAnswer } from './completion';
export type {
  EndpointAnswer,
  EndpointContext,
  EndpointSession,
  RequestBody,
  RequestError,
  RouteAnswer,
  SimulatedEndpoint,
  SimulatedRoute,
  StreamChunk,
} from './endpoint';
export { SIMULATED_ENDPOINTS, simulatedEndpoints } from './endpoints';
export { EMBEDDING_LIMITS, embeddingToBase64, embeddingVector } from './endpoints/embeddings';
export type { FileObject } from './files';
export { type InstanceOptions, jsonSchemaInstance } from './json-schema-instance';
export {
  SIMULATED_MODEL_CATALOG,
  SIMULATED_MODELS,
  type SimulatedModel,
  type SimulatedModelInfo,
  type SimulatedModelKind,
  simulatedModelEndpoint,
  simulatedModelEndpoints,
  simulatedModelInfo,
} from './models';
export {
  chargedTokens,
  createRateLimitEngine,
  type Enforcement,
  type EnforcementFamily,
  enforcementFamily,
  enforcementLabel,
  formatGoDuration,
  type LimitVerdict,
  limitDimension,
  type ModelLimits,
  parseEnforcement,
  type RateLimitEngine,
  type RateLimitEngineOptions,
} from './rate-limits';
export {
  createSimulatorHandler,
  type EndpointStats,
  type FaultOptions,
  FLEX_UNAVAILABLE_MESSAGE,
  type LatencyOptions,
  type RunningSimulator,
  type SimulatorOptions,
  type SimulatorPatch,
  type SimulatorStats,
  startOpenAISimulator,
  type TierOptions,
} from './simulator';
