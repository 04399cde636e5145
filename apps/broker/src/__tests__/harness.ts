import { type RunningSimulator, type SimulatorOptions, startOpenAISimulator } from '@sluice/openai-simulator';
import {
  createTestDatabase,
  kafkaBrokers,
  requireKafka,
  type TestDatabase,
  uniqueName,
} from '@sluice/test-support';
import type pino from 'pino';
import { BATCH_DEFAULTS, type BatchSettings } from '../batch/batch-settings';
import type { SluiceConfig } from '../env';
import type { SubmitRateLimit } from '../intake/submit-rate';
import { createLogger } from '../logger';
import { createRuntime, type Role, type Runtime } from '../runtime';
import { DEFAULT_UPSTREAM_TIMEOUT_MS, type PoolConfig } from '../upstream/pools';

export type HarnessMode = 'embedded' | 'kafka';

/** High enough that no test or benchmark from one tenant meets it; pass `DEFAULT_SUBMIT_RATE` to test the real one. */
export const UNLIMITED_SUBMIT_RATE: SubmitRateLimit = { ratePerSecond: 1_000_000, burst: 1_000_000 };

export interface TestSluice {
  url: string;
  runtime: Runtime;
  /** The upstream (the first pool's, when `pools` declares several). */
  simulator: RunningSimulator;
  /** Each declared pool's own simulator, by pool name (empty without `pools`). */
  simulators: Record<string, RunningSimulator>;
  config: SluiceConfig;
  /** A tenant created for the test: its id and its key. */
  tenant: { id: string; apiKey: string };
  newTenant(name: string): Promise<{ id: string; apiKey: string }>;
  adminKey: string;
  logs: string[];
  close(): Promise<void>;
}

/**
 * Starts Sluice in-process against the project's OpenAI simulator: `embedded` on PGlite with the
 * Postgres-backed log, `kafka` on the machine's Postgres (fresh database) and real Kafka
 * (topics namespaced per run).
 */
export async function startTestSluice(
  opts: {
    mode?: HarnessMode;
    simulator?: SimulatorOptions;
    roles?: Role[];
    partitions?: number;
    /** Per-tenant submit limit; tests and benchmarks that flood from one tenant keep the high default. */
    submitRate?: SubmitRateLimit;
    /** Upstream retries (tests of exhausted retries shorten them). */
    retryPolicy?: SluiceConfig['retryPolicy'];
    /** Response cache bounds and Redis front (absent = defaults, no Redis). */
    cache?: SluiceConfig['cache'];
    /** Batch API routing (tests shorten its intervals); merged over `BATCH_DEFAULTS`. */
    batch?: Partial<BatchSettings>;
    /**
     * Separately provisioned pools, as `SLUICE_POOLS_FILE` declares them: each is served by its own
     * simulator (same options). Absent: one default pool.
     */
    pools?: Array<{ name: string; models?: string[]; tierLimits?: PoolConfig['tierLimits'] }>;
    /** Connections the API holds at once (absent = the defaults). */
    connections?: SluiceConfig['connections'];
    bodyTimeoutMs?: number;
    largeBodies?: SluiceConfig['largeBodies'];
    /** Service-tier tunables (flex's deadline lead). */
    tiers?: SluiceConfig['tiers'];
  } = {},
): Promise<TestSluice> {
  const mode = opts.mode ?? 'embedded';
  const simulators: Record<string, RunningSimulator> = {};
  for (const pool of opts.pools ?? [])
    simulators[pool.name] = await startOpenAISimulator({ port: 0, ...opts.simulator });
  const simulator =
    Object.values(simulators)[0] ?? (await startOpenAISimulator({ port: 0, ...opts.simulator }));
  const closeSimulators = async () => {
    await Promise.all([simulator, ...Object.values(simulators)].filter(unique).map((sim) => sim.close()));
  };
  let db: TestDatabase | undefined;
  const logs: string[] = [];
  try {
    if (mode === 'kafka') {
      await requireKafka();
      db = await createTestDatabase('sluice_broker');
    }
    const config: SluiceConfig = {
      port: 0,
      host: '127.0.0.1',
      mode: mode === 'kafka' ? 'production' : 'embedded',
      database: db ? { url: db.url } : { memory: true },
      log:
        mode === 'kafka'
          ? {
              kind: 'kafka',
              brokers: kafkaBrokers(),
              partitions: opts.partitions ?? 3,
              namespace: uniqueName('t'),
            }
          : { kind: 'postgres', partitions: opts.partitions ?? 3 },
      upstream: { apiKey: 'sk-test-upstream-secret-0001', baseURL: simulator.url },
      ...(opts.pools
        ? {
            pools: opts.pools.map((p, i) => ({
              name: p.name,
              apiKey: `sk-test-pool-secret-${i}`,
              baseURL: simulators[p.name]!.url,
              ...(p.models ? { models: p.models } : {}),
              ...(p.tierLimits ? { tierLimits: p.tierLimits } : {}),
              timeoutMs: DEFAULT_UPSTREAM_TIMEOUT_MS,
            })),
          }
        : {}),
      metricsPort: 0,
      ...(opts.retryPolicy ? { retryPolicy: opts.retryPolicy } : {}),
      ...(opts.cache ? { cache: opts.cache } : {}),
      ...(opts.batch ? { batch: { ...BATCH_DEFAULTS, ...opts.batch } } : {}),
      maxBodyBytes: 256 * 1024,
      ...(opts.connections ? { connections: opts.connections } : {}),
      ...(opts.bodyTimeoutMs ? { bodyTimeoutMs: opts.bodyTimeoutMs } : {}),
      ...(opts.largeBodies ? { largeBodies: opts.largeBodies } : {}),
      ...(opts.tiers ? { tiers: opts.tiers } : {}),
      submitRate: opts.submitRate ?? UNLIMITED_SUBMIT_RATE,
      logLevel: 'info',
    };
    const logger = createLogger('info', {
      write: (line: string) => void logs.push(line),
    } as pino.DestinationStream);
    const runtime = await createRuntime(config, { roles: opts.roles ?? ['api', 'dispatcher'], logger });
    // A dispatcher that has not joined its group yet would only delay the first request.
    await runtime.dispatcher?.ready();
    const newTenant = async (name: string) => {
      const r = await runtime.tenants.createTenant(name);
      return { id: r.tenant.id, apiKey: r.apiKey };
    };
    const tenant = await newTenant('acme');
    const adminKey = (await runtime.tenants.createAdminKey()).apiKey;
    return {
      url: runtime.url ?? '',
      runtime,
      simulator,
      simulators,
      config,
      tenant,
      newTenant,
      adminKey,
      logs,
      async close() {
        await runtime.close();
        await closeSimulators();
        await db?.drop();
      },
    };
  } catch (error) {
    await closeSimulators();
    await db?.drop();
    throw error;
  }
}

const unique = <T>(v: T, i: number, all: readonly T[]) => all.indexOf(v) === i;

export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
