import { type HarnessMode, startTestSluice, type TestSluice } from '@sluice/broker/testing';
import { deleteKafkaNamespace } from '@sluice/events/kafka';
import type {
  Enforcement,
  LatencyOptions,
  RunningSimulator,
  SimulatorOptions,
  TierOptions,
} from '@sluice/openai-simulator';
import { startOpenAISimulator } from '@sluice/openai-simulator';
import { kafkaBrokers } from '@sluice/test-support';
import OpenAI from 'openai';
import { chatBody, type Limits, MODEL } from './workload';

/** Who is measured in the saturation variants: the SDK called directly (two retry settings) and Sluice. */
export const CONTENDERS = [
  'openai SDK, maxRetries 2 (default)',
  'openai SDK, maxRetries 10',
  'Sluice',
] as const;

/** The organisation's upstream key that direct callers share (the quota is per key and model). */
export const ORG_KEY = 'sk-org-shared-quota';

export interface Outcome {
  tenant: string;
  priority: 'interactive' | 'standard' | 'batch';
  startedAt: number;
  endedAt: number;
  ok: boolean;
  /** Sluice's request id, when the request went through Sluice. */
  requestId?: string;
  error?: string;
}

/**
 * Empties the TPM minute bucket of `apiKey` with one request charging (almost) the whole limit, so
 * every contender starts in steady state instead of spending a full minute's burst first.
 */
/**
 * Spends the upstream's token budget with one large request. `capacity` is what the upstream's
 * bucket holds (a minute's worth unless it enforces a smaller bucket, which a minute-sized request
 * would overdraw for a minute).
 */
export async function exhaustQuota(
  baseURL: string,
  apiKey: string,
  limits: Limits,
  model = MODEL,
  capacity = limits.tpm,
) {
  const client = new OpenAI({ apiKey, baseURL, maxRetries: 0 });
  await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'drain' }],
    max_tokens: Math.max(1, Math.floor(capacity) - 50),
  });
}

const closing: Array<Promise<unknown>> = [];

/**
 * Shuts something down without waiting (stopping consumers and deleting topics is seconds of
 * waiting on Kafka); `closed()` waits for all of them before the benchmark exits.
 */
export function closeLater(close: () => Promise<unknown>): void {
  closing.push(close().catch(() => {}));
}

export async function closed(): Promise<void> {
  await Promise.all(closing);
}

/**
 * Simulator options a benchmark variant adds: how prompts are charged, lagging or missing headers,
 * limit changes, models sharing one limit, the day already spent; `limits` replaces the default ones.
 */
export type SimulatorVariant = Pick<
  SimulatorOptions,
  | 'promptCharge'
  | 'headerLagMs'
  | 'headerDropRate'
  | 'limitChanges'
  | 'sharedLimits'
  | 'dailySpentAtStart'
  | 'limits'
>;

export async function startSimulator(
  limits: Limits,
  enforcement: Enforcement,
  latency: LatencyOptions,
  variant: SimulatorVariant = {},
) {
  return startOpenAISimulator({ limits: { default: limits }, enforcement, latency, ...variant });
}

/**
 * What users do today: every tenant calls the upstream with the official SDK and a fixed number of
 * requests in flight, sharing the organisation's key, and relies on the SDK's retries.
 */
export async function runDirect(opts: {
  sim: RunningSimulator;
  tenants: ReadonlyArray<{
    name: string;
    requests: number;
    concurrency: number;
    ratePerSecond?: number;
    model?: string;
  }>;
  maxRetries: number;
  until?: () => boolean;
}): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  await Promise.all(
    opts.tenants.map(async (t) => {
      const client = new OpenAI({
        apiKey: ORG_KEY,
        baseURL: opts.sim.url,
        maxRetries: opts.maxRetries,
        timeout: 600_000,
      });
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: t.concurrency }, async () => {
          while (next < t.requests && !opts.until?.()) {
            const i = next++;
            if (t.ratePerSecond) await sleepUntil(t0 + (i * 1000) / t.ratePerSecond);
            const startedAt = Date.now();
            const ok = await client.chat.completions.create(chatBody(t.name, i, t.model)).then(
              () => true,
              () => false,
            );
            outcomes.push({ tenant: t.name, priority: 'standard', startedAt, endedAt: Date.now(), ok });
          }
        }),
      );
    }),
  );
  return outcomes;
}

/** Where Sluice answers, and the tenants created on it. */
export interface SluiceEndpoint {
  url: string;
  tenants: Map<string, { id: string; apiKey: string }>;
}

export interface SluiceUnderTest extends SluiceEndpoint {
  sluice: TestSluice;
  upstreamKey: string;
  close(): Promise<void>;
}

/** Sluice with its own simulator; the limits are configured only in the simulator, never in Sluice. */
export async function startSluice(opts: {
  mode: HarnessMode;
  limits: Limits;
  /** Limits of other models (each model has its own); `limits` is every other model's. */
  perModelLimits?: Record<string, Limits>;
  enforcement: Enforcement;
  /** More simulator options (a benchmark variant's). */
  simulator?: SimulatorVariant;
  latency: LatencyOptions;
  tenants: readonly string[];
  /** The simulator's Batch API completion delay, and Sluice's batch flush and poll intervals. */
  batch?: { completionDelayMs: number; flushMs: number; pollMs: number };
  /** The simulator's service tiers (flex slowdown and unavailability) and Sluice's flex deadline lead. */
  tiers?: { simulator: TierOptions; flexMinLeadMs: number };
}): Promise<SluiceUnderTest> {
  const sluice = await startTestSluice({
    mode: opts.mode,
    simulator: {
      limits: { default: opts.limits, ...opts.perModelLimits },
      enforcement: opts.enforcement,
      ...opts.simulator,
      latency: opts.latency,
      ...(opts.batch ? { batch: { completionDelayMs: opts.batch.completionDelayMs } } : {}),
      ...(opts.tiers ? { tiers: opts.tiers.simulator } : {}),
    },
    ...(opts.batch ? { batch: { flushMs: opts.batch.flushMs, pollMs: opts.batch.pollMs } } : {}),
    ...(opts.tiers ? { tiers: { flexMinLeadMs: opts.tiers.flexMinLeadMs } } : {}),
    // Every tenant's application runs on this one host here, thousands of requests in flight from
    // 127.0.0.1; deployed, each is its own client address under the per-client connection limit.
    connections: { total: 20_000, perClient: 20_000 },
  });
  const tenants = new Map<string, { id: string; apiKey: string }>();
  for (const name of opts.tenants) tenants.set(name, await sluice.newTenant(name));
  const upstream = sluice.config.upstream;
  const upstreamKey = 'apiKey' in upstream ? upstream.apiKey : '';
  return {
    url: sluice.url,
    sluice,
    tenants,
    upstreamKey,
    async close() {
      await sluice.close();
      if (sluice.config.log.kind === 'kafka' && sluice.config.log.namespace) {
        await deleteKafkaNamespace(kafkaBrokers(), sluice.config.log.namespace).catch(() => {});
      }
    },
  };
}

/** A tenant's requests through Sluice's OpenAI-compatible endpoint with the official SDK (no retries). */
export async function runViaSluice(opts: {
  sut: SluiceEndpoint;
  tenants: ReadonlyArray<{
    name: string;
    requests: number;
    priority?: Outcome['priority'];
    /** Absent: the whole backlog at once (Sluice queues it); else an open-loop steady rate. */
    ratePerSecond?: number;
    firstIndex?: number;
    model?: string;
  }>;
  until?: () => boolean;
  /** Per request; a hung broker fails the run instead of stalling it. */
  timeoutMs?: number;
  /** Abandons the requests still waiting (they count as not served). */
  signal?: AbortSignal;
}): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  await Promise.all(
    opts.tenants.map(async (t) => {
      const key = opts.sut.tenants.get(t.name);
      if (!key) throw new Error(`no tenant ${t.name}`);
      const client = new OpenAI({
        apiKey: key.apiKey,
        baseURL: `${opts.sut.url}/v1`,
        maxRetries: 0,
        timeout: opts.timeoutMs ?? 600_000,
      });
      const priority = t.priority ?? 'standard';
      const t0 = performance.now();
      const calls: Array<Promise<void>> = [];
      for (let i = 0; i < t.requests; i++) {
        if (t.ratePerSecond) await sleepUntil(t0 + (i * 1000) / t.ratePerSecond);
        if (opts.until?.()) break;
        const startedAt = Date.now();
        calls.push(
          client.chat.completions
            .create(chatBody(t.name, (t.firstIndex ?? 0) + i, t.model), {
              headers: { 'x-sluice-priority': priority },
              ...(opts.signal ? { signal: opts.signal } : {}),
            })
            .withResponse()
            .then(
              ({ response }) =>
                void outcomes.push({
                  tenant: t.name,
                  priority,
                  startedAt,
                  endedAt: Date.now(),
                  ok: true,
                  requestId: response.headers.get('x-sluice-request-id') ?? '',
                }),
              () =>
                void outcomes.push({ tenant: t.name, priority, startedAt, endedAt: Date.now(), ok: false }),
            ),
        );
      }
      await Promise.all(calls);
    }),
  );
  return outcomes;
}

/** Durable submits over tRPC (`requests.submit`): returns once the log holds every request. */
export async function submitBacklog(opts: {
  sut: SluiceEndpoint;
  tenant: string;
  requests: number;
  priority: Outcome['priority'];
  concurrency?: number;
  firstIndex?: number;
}): Promise<void> {
  const key = opts.sut.tenants.get(opts.tenant)?.apiKey;
  let next = 0;
  await Promise.all(
    Array.from({ length: opts.concurrency ?? 32 }, async () => {
      while (next < opts.requests) {
        const i = next++;
        const res = await fetch(`${opts.sut.url}/trpc/requests.submit`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            params: chatBody(opts.tenant, (opts.firstIndex ?? 0) + i),
            options: { priority: opts.priority },
          }),
        });
        if (!res.ok) throw new Error(`submit failed: ${res.status} ${await res.text()}`);
      }
    }),
  );
}

/** The broker's recorded queue wait of a request (tRPC `requests.get`). */
export async function queueWaitMs(sut: SluiceEndpoint, tenant: string, requestId: string) {
  const key = sut.tenants.get(tenant)?.apiKey;
  const input = encodeURIComponent(JSON.stringify({ id: requestId }));
  const res = await fetch(`${sut.url}/trpc/requests.get?input=${input}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  if (!res.ok) throw new Error(`requests.get failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { result: { data: { queueWaitMs: number | null } } };
  return body.result.data.queueWaitMs;
}

async function sleepUntil(at: number): Promise<void> {
  const ms = at - performance.now();
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}
