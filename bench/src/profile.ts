import type { LatencyOptions } from '@sluice/openai-simulator';
import type { Limits } from './workload';

/**
 * The sizes of one run. Quick scales the limits up ×4 (what one 2-core machine running the load, the simulator and Sluice in one process sustains) and the backlogs down so each run takes
 * seconds; what is compared (backlog ≫ what the quota admits in the run, ratios to the limit) stays.
 */
export interface Profile {
  name: 'quick' | 'full';
  limits: Limits;
  latency: LatencyOptions;
  /** Seconds left out at each end of a run when measuring steady state. */
  skipFirst: number;
  skipLast: number;
  saturation: {
    tenants: number;
    requests: number;
    directConcurrencyPerTenant: number;
    /** The `limit change` variant: seconds at half the limits, then at the limits (a tier upgrade). */
    limitChange: { beforeSeconds: number; afterSeconds: number };
    /**
     * The `daily limit` variant: the day's allowance left lasts `secondsToExhaust` at the binding
     * limit, the run goes on `secondsAfter`, one interactive request every `interactiveEverySeconds`.
     */
    dailyLimit: { secondsToExhaust: number; secondsAfter: number; interactiveEverySeconds: number };
  };
  priority: { backlogs: [number, number]; interactivePerSecond: number; seconds: number };
  fairness: { heavyBacklog: number; lightTenants: number; lightShareOfLimit: number; seconds: number };
  overhead: { sequential: number; warmUp: number; seconds: number; concurrency: number };
  scaleOut: { requests: number; warmUp: number };
  /** Cost levers: `requests` batch-class requests in `waves` nights, `repeatShare` of a later night's repeats. */
  cost: { requests: number; waves: number; repeatShare: number; batchCompletionMs: number };
  /** Other endpoints: an embeddings backlog (TPM-bound), and chat plus embeddings at once. */
  operations: {
    embeddingLimits: Limits;
    tenants: number;
    requestsPerTraffic: number;
    directConcurrencyPerTenant: number;
  };
  /** Streams timed one after the other (`tokens` each, one every `perTokenMs`), and held at once. */
  streaming: { sequential: number; tokens: number; perTokenMs: number; concurrent: number };
}

export const PROFILES: Record<Profile['name'], Profile> = {
  full: {
    name: 'full',
    limits: { rpm: 600, tpm: 60_000 },
    latency: { baseMs: 300, jitterMs: 100 },
    skipFirst: 5,
    skipLast: 3,
    saturation: {
      tenants: 4,
      requests: 2_000,
      directConcurrencyPerTenant: 4,
      limitChange: { beforeSeconds: 60, afterSeconds: 90 },
      dailyLimit: { secondsToExhaust: 30, secondsAfter: 60, interactiveEverySeconds: 2 },
    },
    priority: { backlogs: [2_000, 10_000], interactivePerSecond: 1, seconds: 45 },
    fairness: { heavyBacklog: 10_000, lightTenants: 3, lightShareOfLimit: 0.1, seconds: 45 },
    overhead: { sequential: 400, warmUp: 2_000, seconds: 10, concurrency: 64 },
    scaleOut: { requests: 800, warmUp: 80 },
    cost: { requests: 1_000, waves: 4, repeatShare: 0.3, batchCompletionMs: 2_000 },
    // 400-token requests: TPM binds at 10 requests/s (RPM would allow 100).
    operations: {
      embeddingLimits: { rpm: 6_000, tpm: 240_000 },
      tenants: 4,
      requestsPerTraffic: 1_600,
      directConcurrencyPerTenant: 4,
    },
    streaming: { sequential: 200, tokens: 50, perTokenMs: 10, concurrent: 1_000 },
  },
  quick: {
    name: 'quick',
    limits: { rpm: 2_400, tpm: 240_000 },
    latency: { baseMs: 100, jitterMs: 50 },
    skipFirst: 2,
    skipLast: 1,
    saturation: {
      tenants: 4,
      requests: 192,
      directConcurrencyPerTenant: 8,
      limitChange: { beforeSeconds: 12, afterSeconds: 15 },
      dailyLimit: { secondsToExhaust: 10, secondsAfter: 20, interactiveEverySeconds: 2 },
    },
    priority: { backlogs: [150, 750], interactivePerSecond: 10, seconds: 3 },
    fairness: { heavyBacklog: 2_500, lightTenants: 3, lightShareOfLimit: 0.1, seconds: 4 },
    overhead: { sequential: 50, warmUp: 300, seconds: 1.5, concurrency: 64 },
    scaleOut: { requests: 192, warmUp: 64 },
    cost: { requests: 150, waves: 3, repeatShare: 0.3, batchCompletionMs: 500 },
    operations: {
      embeddingLimits: { rpm: 24_000, tpm: 960_000 },
      tenants: 4,
      requestsPerTraffic: 400,
      directConcurrencyPerTenant: 8,
    },
    streaming: { sequential: 40, tokens: 30, perTokenMs: 10, concurrent: 200 },
  },
};
