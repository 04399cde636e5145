import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeZodError } from '@sluice/events';
import { z } from 'zod';
import { BATCH_ENV, type BatchSettings, batchSettingsFromEnv } from './batch/batch-settings';
import { DEFAULT_RESPONSE_CACHE, type ResponseCacheConfig } from './cache/response-cache';
import { ESTIMATOR_DEFAULTS, type EstimatorSettings } from './estimation/estimator';
import { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS } from './http/connection-limits';
import { DEFAULT_LARGE_BODY_LIMITS, type LargeBodyLimits } from './http/large-bodies';
import { DEFAULT_SUBMIT_RATE, type SubmitRateLimit } from './intake/submit-rate';
import type { TierSettings } from './tiers/tier-policy';
import { DEFAULT_UPSTREAM_TIMEOUT_MS, type PoolConfig, PoolsFileSchema } from './upstream/pools';

/**
 * The one place that reads `process.env`. Everything else receives a `SluiceConfig`.
 * Names follow the openai SDK (`OPENAI_API_KEY`, `OPENAI_BASE_URL`) so existing setups carry over.
 */
const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  HOST: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection string')
    .optional(),
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^,\s]+(,[^,\s]+)*$/, 'must be a comma-separated list of host:port')
    .optional(),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.url({ message: 'must be a URL such as https://api.openai.com/v1' }).optional(),
  SLUICE_DATA_DIR: z.string().min(1).default('.sluice-data'),
  SLUICE_POOLS_FILE: z.string().min(1).optional(),
  /** The price table (USD per 1M tokens, versioned); absent = apps/broker/prices.json. */
  SLUICE_PRICES_FILE: z.string().min(1).optional(),
  SLUICE_ADMIN_KEY: z
    .string()
    .regex(/^sk-sluice-[A-Za-z0-9_-]{43}$/, 'must be a key made by `sluice keys create --admin`')
    .optional(),
  SLUICE_KAFKA_PARTITIONS: z.coerce.number().int().min(1).max(1_000).default(6),
  /** Prefix of topics and consumer groups: several environments on one Kafka cluster. */
  SLUICE_KAFKA_NAMESPACE: z
    .string()
    .regex(/^[a-zA-Z0-9._-]{1,100}$/, 'letters, digits, . _ -')
    .optional(),
  SLUICE_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1_024)
    .default(2 * 1024 * 1024),
  SLUICE_BODY_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  SLUICE_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(DEFAULT_CONNECTION_LIMITS.total),
  SLUICE_MAX_CONNECTIONS_PER_CLIENT: z.coerce
    .number()
    .int()
    .min(1)
    .default(DEFAULT_CONNECTION_LIMITS.perClient),
  /** Bodies of 256 KiB or more one tenant has read at once (each API process); more wait their turn. */
  SLUICE_LARGE_BODIES_PER_TENANT: z.coerce.number().int().min(1).default(DEFAULT_LARGE_BODY_LIMITS.perTenant),
  /** MiB of large bodies one tenant may send per second (each API process); faster ones wait their turn. */
  SLUICE_LARGE_BODY_MIB_PER_S: z.coerce
    .number()
    .positive()
    .default(DEFAULT_LARGE_BODY_LIMITS.bytesPerSecond / 1024 / 1024),
  /** Threads that measure large requests off the serving thread (0 = measure inline). */
  SLUICE_ESTIMATE_THREADS: z.coerce.number().int().min(0).max(64).default(ESTIMATOR_DEFAULTS.threads),
  SLUICE_ESTIMATE_QUEUE: z.coerce.number().int().min(1).default(ESTIMATOR_DEFAULTS.maxQueue),
  SLUICE_ESTIMATE_QUEUE_PER_TENANT: z.coerce.number().int().min(1).default(ESTIMATOR_DEFAULTS.maxPerTenant),
  SLUICE_DISPATCHER_ID: z.string().min(1).max(100).optional(),
  /** Where dispatchers reach this API process to push streamed answers (default: its own address, right on one host). */
  SLUICE_ADVERTISE_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Per-tenant submits per second each API process accepts (token bucket); burst defaults to twice it. */
  SLUICE_TENANT_SUBMIT_RPS: z.coerce
    .number()
    .positive()
    .max(1_000_000)
    .default(DEFAULT_SUBMIT_RATE.ratePerSecond),
  SLUICE_TENANT_SUBMIT_BURST: z.coerce.number().int().min(1).max(10_000_000).optional(),
  /** `sluice dispatch` serves /metrics, /healthz and /readyz here (the API serves them on PORT). */
  SLUICE_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).default(9464),
  /** Upstream attempts per request (429, 5xx, timeouts are retried) before it is dead-lettered. */
  SLUICE_RETRY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(6),
  /** Flex is used only while at least this long remains before a request's deadline (default 5 min). */
  SLUICE_FLEX_MIN_LEAD_MS: z.coerce.number().int().min(0).max(86_400_000).optional(),
  SLUICE_RETRY_BASE_DELAY_MS: z.coerce.number().int().min(1).default(500),
  SLUICE_RETRY_MAX_DELAY_MS: z.coerce.number().int().min(1).default(30_000),
  SLUICE_SIMULATOR_RPM: z.coerce.number().int().min(1).default(500),
  SLUICE_SIMULATOR_TPM: z.coerce.number().int().min(1).default(200_000),
  SLUICE_SIMULATOR_LATENCY_MS: z.coerce.number().int().min(0).default(200),
  /** Optional Redis front of the exact response cache (Postgres stays the store). */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  /** Size bound of the exact response cache: least recently used answers go beyond it. */
  SLUICE_CACHE_MAX_BYTES: z.coerce.number().int().min(1_024).default(DEFAULT_RESPONSE_CACHE.maxBytes),
  SLUICE_CACHE_MAX_ENTRIES: z.coerce.number().int().min(1).default(DEFAULT_RESPONSE_CACHE.maxEntries),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ...BATCH_ENV,
});

export type SluiceEnv = z.infer<typeof EnvSchema>;

export interface SluiceConfig {
  port: number;
  host: string;
  /** `embedded`: PGlite + Postgres-backed log in one process. `production`: Postgres server (+ Kafka). */
  mode: 'embedded' | 'production';
  /** `memory` is for tests: PGlite without a directory. */
  database: { url: string } | { dataDir: string } | { memory: true };
  log:
    | { kind: 'kafka'; brokers: string[]; partitions: number; namespace?: string }
    | { kind: 'postgres'; partitions: number };
  /** Declared upstream pools (SLUICE_POOLS_FILE); absent = one default pool from OPENAI_* or the simulator. */
  pools?: PoolConfig[];
  /** Absent: the built-in OpenAI simulator is the upstream (announced loudly). */
  upstream:
    | { apiKey: string; baseURL?: string }
    | { simulator: { rpm: number; tpm: number; latencyMs: number } };
  poolsFile?: string;
  /** The prices file billing reads; absent = the one shipped with Sluice. */
  pricesFile?: string;
  adminKey?: string;
  dispatcherId?: string;
  /** This API process's address for dispatchers' stream pushes; absent = the address it listens on. */
  advertiseUrl?: string;
  /** Where a process without the API serves /metrics, /healthz and /readyz. */
  metricsPort: number;
  /** Upstream retries (backoff with full jitter); absent = the limiter's defaults. */
  retryPolicy?: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  maxBodyBytes: number;
  /** Connections the API holds at once, in all and per client address. */
  connections?: ConnectionLimits;
  /** How long a request's body may take to arrive (408 beyond); absent = 30 s. */
  bodyTimeoutMs?: number;
  /** How many large bodies a tenant has read at once; absent = `DEFAULT_LARGE_BODY_LIMITS`. */
  largeBodies?: LargeBodyLimits;
  /** Per-tenant submit rate (token bucket per API process); absent = `DEFAULT_SUBMIT_RATE`. */
  submitRate?: SubmitRateLimit;
  /** Where large requests are measured; absent = `ESTIMATOR_DEFAULTS`. */
  estimator?: EstimatorSettings;
  logLevel: SluiceEnv['LOG_LEVEL'];
  /** Exact response cache bounds and optional Redis front; absent = `DEFAULT_RESPONSE_CACHE`. */
  cache?: ResponseCacheConfig;
  /** Batch API routing; absent = `BATCH_DEFAULTS`. */
  batch?: BatchSettings;
  /** Service tiers (flex's deadline lead); absent = `TIER_DEFAULTS`. */
  tiers?: Partial<TierSettings>;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment; a bad value throws a ConfigError that names the variable and what to change. */
export function loadConfig(env: Record<string, string | undefined> = process.env): SluiceConfig {
  const parsed = EnvSchema.safeParse(stripEmpty(env));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid environment:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.KAFKA_BROKERS && !e.DATABASE_URL) {
    throw new ConfigError(
      'KAFKA_BROKERS is set but DATABASE_URL is not: with Kafka, processes share state through a Postgres server. ' +
        'Set DATABASE_URL, or unset KAFKA_BROKERS for the embedded mode.',
    );
  }
  const mode = e.DATABASE_URL ? 'production' : 'embedded';
  const pools = e.SLUICE_POOLS_FILE ? loadPoolsFile(e.SLUICE_POOLS_FILE, env) : undefined;
  return {
    port: e.PORT,
    host: e.HOST ?? (mode === 'embedded' ? '127.0.0.1' : '0.0.0.0'),
    mode,
    // npm runs workspace scripts in the package folder; INIT_CWD is where the user typed the command.
    database: e.DATABASE_URL
      ? { url: e.DATABASE_URL }
      : { dataDir: resolve(env.INIT_CWD ?? process.cwd(), e.SLUICE_DATA_DIR, 'pglite') },
    log: e.KAFKA_BROKERS
      ? {
          kind: 'kafka',
          brokers: e.KAFKA_BROKERS.split(','),
          partitions: e.SLUICE_KAFKA_PARTITIONS,
          ...(e.SLUICE_KAFKA_NAMESPACE ? { namespace: e.SLUICE_KAFKA_NAMESPACE } : {}),
        }
      : { kind: 'postgres', partitions: e.SLUICE_KAFKA_PARTITIONS },
    upstream: e.OPENAI_API_KEY
      ? { apiKey: e.OPENAI_API_KEY, ...(e.OPENAI_BASE_URL ? { baseURL: e.OPENAI_BASE_URL } : {}) }
      : {
          simulator: {
            rpm: e.SLUICE_SIMULATOR_RPM,
            tpm: e.SLUICE_SIMULATOR_TPM,
            latencyMs: e.SLUICE_SIMULATOR_LATENCY_MS,
          },
        },
    ...(e.SLUICE_POOLS_FILE ? { poolsFile: e.SLUICE_POOLS_FILE } : {}),
    ...(e.SLUICE_PRICES_FILE
      ? { pricesFile: resolve(env.INIT_CWD ?? process.cwd(), e.SLUICE_PRICES_FILE) }
      : {}),
    ...(pools ? { pools } : {}),
    ...(e.SLUICE_ADMIN_KEY ? { adminKey: e.SLUICE_ADMIN_KEY } : {}),
    ...(e.SLUICE_DISPATCHER_ID ? { dispatcherId: e.SLUICE_DISPATCHER_ID } : {}),
    ...(e.SLUICE_ADVERTISE_URL ? { advertiseUrl: e.SLUICE_ADVERTISE_URL } : {}),
    metricsPort: e.SLUICE_METRICS_PORT,
    retryPolicy: {
      maxAttempts: e.SLUICE_RETRY_MAX_ATTEMPTS,
      baseDelayMs: e.SLUICE_RETRY_BASE_DELAY_MS,
      maxDelayMs: e.SLUICE_RETRY_MAX_DELAY_MS,
    },
    maxBodyBytes: e.SLUICE_MAX_BODY_BYTES,
    connections: { total: e.SLUICE_MAX_CONNECTIONS, perClient: e.SLUICE_MAX_CONNECTIONS_PER_CLIENT },
    bodyTimeoutMs: e.SLUICE_BODY_TIMEOUT_MS,
    largeBodies: {
      ...DEFAULT_LARGE_BODY_LIMITS,
      perTenant: e.SLUICE_LARGE_BODIES_PER_TENANT,
      bytesPerSecond: e.SLUICE_LARGE_BODY_MIB_PER_S * 1024 * 1024,
    },
    estimator: {
      ...ESTIMATOR_DEFAULTS,
      warm: true,
      threads: e.SLUICE_ESTIMATE_THREADS,
      maxQueue: e.SLUICE_ESTIMATE_QUEUE,
      maxPerTenant: e.SLUICE_ESTIMATE_QUEUE_PER_TENANT,
    },
    submitRate: {
      ratePerSecond: e.SLUICE_TENANT_SUBMIT_RPS,
      burst: e.SLUICE_TENANT_SUBMIT_BURST ?? Math.max(1, Math.ceil(2 * e.SLUICE_TENANT_SUBMIT_RPS)),
    },
    logLevel: e.LOG_LEVEL,
    cache: {
      maxBytes: e.SLUICE_CACHE_MAX_BYTES,
      maxEntries: e.SLUICE_CACHE_MAX_ENTRIES,
      ...(e.REDIS_URL ? { redisUrl: e.REDIS_URL } : {}),
    },
    batch: batchSettingsFromEnv(e),
    ...(e.SLUICE_FLEX_MIN_LEAD_MS !== undefined
      ? { tiers: { flexMinLeadMs: e.SLUICE_FLEX_MIN_LEAD_MS } }
      : {}),
  };
}

function stripEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

/** Reads the pools file; each pool's key comes from the environment variable it names. */
function loadPoolsFile(path: string, env: Record<string, string | undefined>): PoolConfig[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`SLUICE_POOLS_FILE ${path}: cannot read it as JSON (${(error as Error).message})`);
  }
  const parsed = PoolsFileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`SLUICE_POOLS_FILE ${path}: ${describeZodError(parsed.error)}`);
  return parsed.data.pools.map((p) => {
    const apiKey = env[p.apiKeyEnv];
    if (!apiKey)
      throw new ConfigError(
        `SLUICE_POOLS_FILE: pool ${p.name} reads its key from ${p.apiKeyEnv}, which is not set`,
      );
    return {
      name: p.name,
      apiKey,
      ...(p.baseURL ? { baseURL: p.baseURL } : {}),
      ...(p.models ? { models: p.models } : {}),
      ...(p.limits ? { limits: p.limits } : {}),
      timeoutMs: p.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      ...(p.flexTimeoutMs ? { flexTimeoutMs: p.flexTimeoutMs } : {}),
      ...(p.tierLimits ? { tierLimits: p.tierLimits } : {}),
    };
  });
}
