export type { BatchError } from './batch-validation';
export type { BatchObject, BatchOptions, BatchStats, BatchStatus } from './batches';
export { promptTokens, simulatedAnswer } from './completion';
export type { FileObject } from './files';
export { SIMULATED_MODELS } from './models';
export {
  chargedTokens,
  createRateLimitEngine,
  type Enforcement,
  formatGoDuration,
  type LimitVerdict,
  type ModelLimits,
  type RateLimitEngine,
} from './rate-limits';
export {
  createSimulatorHandler,
  type FaultOptions,
  type LatencyOptions,
  type RunningSimulator,
  type SimulatorOptions,
  type SimulatorPatch,
  type SimulatorStats,
  startOpenAISimulator,
} from './simulator';
