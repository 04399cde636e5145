// `@sluice/limiter/testing`: the upstream model and the simulation driver, for tests and benchmarks.

export { type SdkClientsOptions, type SdkClientsResult, simulateSdkClients } from './sdk-clients';
export { backlog, type SimulationOptions, type SimulationResult, simulate } from './simulate';
export {
  createUpstreamModel,
  type Enforcement,
  type EnforcementFamily,
  enforcementFamily,
  formatGoDuration,
  seededRandom,
  type UpstreamLimits,
  type UpstreamModel,
  type UpstreamModelOptions,
  type UpstreamVerdict,
} from './upstream-model';
