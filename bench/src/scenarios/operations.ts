import type { RunningSimulator } from '@sluice/openai-simulator';
import { startOpenAISimulator } from '@sluice/openai-simulator';
import OpenAI from 'openai';
import { closeLater, exhaustQuota, ORG_KEY, type SluiceUnderTest, startSluice } from '../contenders';
import type { Profile } from '../profile';
import { CHARGE, chatBody, type Limits, MODEL, type Second, steadyUtilisation } from '../workload';

/** Every brokered endpoint draws on its own model's limits: the scenarios of the operation seam. */
export const EMBEDDING_MODEL = 'text-embedding-3-small';
/** A backlog of requests of this many inputs, each of `TOKENS_PER_INPUT` tokens (cl100k_base). */
export const INPUTS_PER_REQUEST = 8;
const TOKENS_PER_INPUT = 50;
/** One embedding request's TPM charge: its input tokens. */
export const EMBEDDING_CHARGE = INPUTS_PER_REQUEST * TOKENS_PER_INPUT;

/** Eight inputs of exactly 50 tokens each ("token token …": one token per word in cl100k_base). */
export function embeddingBody() {
  const text = Array.from({ length: TOKENS_PER_INPUT }, () => 'token').join(' ');
  return { model: EMBEDDING_MODEL, input: Array.from({ length: INPUTS_PER_REQUEST }, () => text) };
}

/** Empties the embedding model's TPM bucket of `apiKey` with token-id inputs (cheap to count). */
async function exhaustEmbeddings(baseURL: string, apiKey: string, limits: Limits): Promise<void> {
  const client = new OpenAI({ apiKey, baseURL, maxRetries: 0 });
  let left = limits.tpm - EMBEDDING_CHARGE;
  while (left > 0) {
    const tokens = Math.min(left, 300_000);
    const inputs = Array.from({ length: Math.ceil(tokens / 8_000) }, (_, i) =>
      Array.from({ length: Math.min(8_000, tokens - i * 8_000) }, () => 42),
    );
    await client.embeddings.create({ model: EMBEDDING_MODEL, input: inputs });
    left -= tokens;
  }
}

/** One kind of traffic: which model, its limits, what one request costs and how it is sent. */
interface Traffic {
  label: 'chat' | 'embeddings' | 'responses';
  model: string;
  limits: Limits;
  charge: number;
  send(client: OpenAI, tenant: string, i: number, headers?: Record<string, string>): Promise<unknown>;
}

const EMBEDDINGS = (limits: Limits): Traffic => ({
  label: 'embeddings',
  model: EMBEDDING_MODEL,
  limits,
  charge: EMBEDDING_CHARGE,
  send: (client, _tenant, _i, headers) =>
    client.embeddings.create(embeddingBody(), headers ? { headers } : {}),
});

const CHAT = (limits: Limits): Traffic => ({
  label: 'chat',
  model: MODEL,
  limits,
  charge: CHARGE,
  send: (client, tenant, i, headers) =>
    client.chat.completions.create(chatBody(tenant, i), headers ? { headers } : {}),
});

/** The same work as `chatBody`, as a Responses API request on the same model. */
function responsesBody(tenant: string, i: number) {
  const chat = chatBody(tenant, i);
  return { model: chat.model, input: chat.messages[0]!.content, max_output_tokens: chat.max_tokens };
}

const RESPONSES = (limits: Limits): Traffic => ({
  label: 'responses',
  model: MODEL,
  limits,
  charge: CHARGE,
  send: (client, tenant, i, headers) =>
    client.responses.create(responsesBody(tenant, i), headers ? { headers } : {}),
});

/** The simulator's endpoint name of each traffic, in `stats().byEndpoint`. */
const ENDPOINT_OF: Record<Traffic['label'], string> = {
  chat: 'chat.completions',
  embeddings: 'embeddings',
  responses: 'responses',
};

export interface OperationsRow {
  scenario: 'embeddings saturation' | 'mixed' | 'shared quota';
  traffic: Traffic['label'];
  contender: string;
  requests: number;
  completed: number;
  upstreamAttempts: number;
  upstream429s: number;
  share429: number;
  steadyUtilisation: number;
  steadySeconds: number;
  goals?: { steady: boolean; rateLimits: boolean };
  timeline: Second[];
}

const CONTENDERS = ['openai SDK, maxRetries 2 (default)', 'openai SDK, maxRetries 10', 'Sluice'] as const;

/** Per-second answers of one model since a snapshot (the simulator keeps a timeline per model). */
function modelTimeline(sim: RunningSimulator, model: string, fromSecond: number): Second[] {
  const rows = (sim.stats().timelineByModel[model] ?? []).filter(
    (s) => s.second >= fromSecond && (s.ok || s.rateLimited),
  );
  const first = rows[0]?.second ?? fromSecond;
  const last = rows[rows.length - 1]?.second ?? first;
  const seconds: Second[] = Array.from({ length: last - first + 1 }, (_, t) => ({
    t,
    ok: 0,
    rateLimited: 0,
    tokens: 0,
  }));
  for (const r of rows)
    seconds[r.second - first] = {
      t: r.second - first,
      ok: r.ok,
      rateLimited: r.rateLimited,
      tokens: r.tokens,
    };
  return seconds;
}

function currentSecond(sim: RunningSimulator): number {
  const t = sim.stats().timeline;
  return (t[t.length - 1]?.second ?? 0) + 1;
}

/**
 * Runs each traffic's backlog at once (`tenants` tenants, `perTenant(traffic)` requests each), either
 * directly with the openai SDK (concurrency per tenant, the SDK's retries) or through Sluice.
 */
async function run(opts: {
  sim: RunningSimulator;
  baseURL: string;
  keyOf: (tenant: string) => string;
  traffics: readonly Traffic[];
  tenants: readonly string[];
  perTenant: (t: Traffic) => number;
  concurrency: number | 'all';
  maxRetries: number;
  headers?: Record<string, string>;
}): Promise<Map<Traffic['label'], { ok: number; failed: number; attempts: number; rateLimited: number }>> {
  const result = new Map<
    Traffic['label'],
    { ok: number; failed: number; attempts: number; rateLimited: number }
  >();
  const before = structuredClone(opts.sim.stats().byEndpoint);
  await Promise.all(
    opts.traffics.flatMap((traffic) =>
      opts.tenants.map(async (tenant) => {
        const client = new OpenAI({
          apiKey: opts.keyOf(tenant),
          baseURL: opts.baseURL,
          maxRetries: opts.maxRetries,
          timeout: 600_000,
        });
        const counts = result.get(traffic.label) ?? { ok: 0, failed: 0, attempts: 0, rateLimited: 0 };
        result.set(traffic.label, counts);
        let next = 0;
        const perTenant = opts.perTenant(traffic);
        const lanes = opts.concurrency === 'all' ? perTenant : opts.concurrency;
        await Promise.all(
          Array.from({ length: lanes }, async () => {
            while (next < perTenant) {
              const i = next++;
              const ok = await traffic.send(client, tenant, i, opts.headers).then(
                () => true,
                () => false,
              );
              if (ok) counts.ok++;
              else counts.failed++;
            }
          }),
        );
      }),
    ),
  );
  const after = opts.sim.stats().byEndpoint;
  for (const t of opts.traffics) {
    const name = ENDPOINT_OF[t.label];
    const c = result.get(t.label)!;
    c.attempts = (after[name]?.requests ?? 0) - (before[name]?.requests ?? 0);
    c.rateLimited = (after[name]?.rateLimited ?? 0) - (before[name]?.rateLimited ?? 0);
  }
  return result;
}

async function scenario(
  name: OperationsRow['scenario'],
  traffics: readonly Traffic[],
  profile: Profile,
  log: (line: string) => void,
): Promise<OperationsRow[]> {
  const { tenants: tenantCount, requestsPerTraffic, directConcurrencyPerTenant } = profile.operations;
  const tenants = Array.from({ length: tenantCount }, (_, i) => `tenant-${i + 1}`);
  // Each model's backlog is `requestsPerTraffic`, split among the traffics that share the model:
  // a backlog the quota clears in minutes, so no synchronous caller outwaits its HTTP client
  // (undici gives up on response headers after 300 s).
  const trafficsOnModel = (model: string) => traffics.filter((t) => t.model === model).length;
  const perTenantOf = (t: Traffic) => Math.ceil(requestsPerTraffic / trafficsOnModel(t.model) / tenantCount);
  const limits = Object.fromEntries(traffics.map((t) => [t.model, t.limits]));
  const drain = async (baseURL: string, key: string) => {
    // Each model's quota once: traffics of one model share it.
    for (const t of new Map(traffics.map((x) => [x.model, x])).values())
      if (t.label === 'embeddings') await exhaustEmbeddings(baseURL, key, t.limits);
      else await exhaustQuota(baseURL, key, t.limits, t.model);
  };
  const rows: OperationsRow[] = [];
  // Sluice starts (Kafka topics, consumer group joins) while the direct contenders run.
  const sluiceStarting = startSluice({
    mode: 'kafka',
    limits: traffics[0]!.limits,
    perModelLimits: limits,
    enforcement: 'continuous',
    latency: profile.latency,
    tenants,
  });
  sluiceStarting.catch(() => {});
  for (const contender of CONTENDERS) {
    let sut: SluiceUnderTest | undefined;
    let sim: RunningSimulator;
    if (contender === 'Sluice') {
      sut = await sluiceStarting;
      sim = sut.sluice.simulator;
    } else {
      sim = await startOpenAISimulator({ limits, enforcement: 'continuous', latency: profile.latency });
    }
    try {
      const upstreamKey = sut ? sut.upstreamKey : ORG_KEY;
      await drain(sim.url, upstreamKey);
      const from = currentSecond(sim);
      const counts = await run({
        sim,
        baseURL: sut ? `${sut.url}/v1` : sim.url,
        keyOf: (tenant) => (sut ? sut.tenants.get(tenant)!.apiKey : ORG_KEY),
        traffics,
        tenants,
        perTenant: perTenantOf,
        concurrency: sut ? 'all' : directConcurrencyPerTenant,
        maxRetries: sut ? 0 : contender.includes('10') ? 10 : 2,
        ...(sut ? { headers: { 'x-sluice-priority': 'batch' } } : {}),
      });
      for (const t of traffics) {
        const c = counts.get(t.label)!;
        const timeline = modelTimeline(sim, t.model, from);
        const steady = steadyUtilisation(timeline, t.limits, profile.skipFirst, profile.skipLast);
        const share429 = c.rateLimited / Math.max(1, c.attempts);
        rows.push({
          scenario: name,
          traffic: t.label,
          contender,
          requests: c.ok + c.failed,
          completed: c.ok,
          upstreamAttempts: c.attempts,
          upstream429s: c.rateLimited,
          share429,
          steadyUtilisation: steady.utilisation,
          steadySeconds: steady.seconds,
          timeline,
          ...(sut ? { goals: { steady: steady.utilisation >= 0.99, rateLimits: share429 <= 0.001 } } : {}),
        });
        log(
          `${name} ${t.label} ${contender}: ${c.ok}/${c.ok + c.failed} completed, ${c.rateLimited} 429s of ${c.attempts} attempts, steady ${steady.utilisation.toFixed(3)} of the limit`,
        );
      }
    } finally {
      if (sut) closeLater(() => sut.close());
      else await sim.close();
    }
  }
  return rows;
}

/** A backlog of 8-input embedding requests against a TPM-bound embedding limit. */
export function embeddingsSaturation(
  profile: Profile,
  log: (line: string) => void,
): Promise<OperationsRow[]> {
  return scenario('embeddings saturation', [EMBEDDINGS(profile.operations.embeddingLimits)], profile, log);
}

/**
 * Chat Completions and Responses traffic for one model at once: one quota, shared. Each row's
 * utilisation is the model's, both traffics together.
 */
export function sharedQuota(profile: Profile, log: (line: string) => void): Promise<OperationsRow[]> {
  return scenario('shared quota', [CHAT(profile.limits), RESPONSES(profile.limits)], profile, log);
}

/** Chat and embeddings traffic at once, each against its own model's limits. */
export function mixed(profile: Profile, log: (line: string) => void): Promise<OperationsRow[]> {
  return scenario(
    'mixed',
    [CHAT(profile.limits), EMBEDDINGS(profile.operations.embeddingLimits)],
    profile,
    log,
  );
}
