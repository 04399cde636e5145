export { promptTokens, simulatedAnswer } from './completion';
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
  type SimulatorStats,
  startOpenAISimulator,
} from './simulator';
