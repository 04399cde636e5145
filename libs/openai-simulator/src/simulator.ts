import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createFilesAndBatchesRoutes, isFilesOrBatchesPath } from './batch-api-routes';
import { type BatchOptions, type BatchStats, createBatchEngine, emptyBatchStats } from './batches';
import type {
  EndpointSession,
  RequestBody,
  SimulatedEndpoint,
  SimulatedRoute,
  StreamChunk,
} from './endpoint';
import { SIMULATED_ENDPOINTS } from './endpoints';
import { answeredServiceTier } from './endpoints/chat-completions';
import { createFileStore } from './files';
import { readBody, readJsonObject, sendError, sendJson } from './internal/http';
import { seededRandom } from './internal/seeded-random';
import { SIMULATED_MODELS } from './models';
import {
  createRateLimitEngine,
  type Enforcement,
  formatGoDuration,
  type LimitVerdict,
  limitDimension,
  type ModelLimits,
  type RateLimitHeaderValues,
} from './rate-limits';

export interface LatencyOptions {
  /** Fixed latency of every answer; also the time to first token unless `firstTokenMs` is given. */
  baseMs?: number;
  /** Time to the first streamed chunk (default `baseMs`); a non-streamed answer waits it too. */
  firstTokenMs?: number;
  /**
   * A model "generating": the gap before each further output token's chunk when streaming, and
   * added per output token (of all choices) to a non-streamed answer.
   */
  perTokenMs?: number;
  /** Uniform random extra in [0, jitterMs), added to the time to first token. */
  jitterMs?: number;
}

/**
 * How the service tiers answer (`service_tier` in the request): flex is slower and sometimes has
 * no capacity (429 "resource unavailable", not a rate limit, no quota charged); priority is faster.
 */
export interface TierOptions {
  flex?: {
    /** Multiplies the latency of a flex answer (default 3). */
    slowdown?: number;
    /** Probability that a flex request is refused with 429 `resource_unavailable` (default 0). */
    unavailableRate?: number;
  };
  priority?: {
    /** Multiplies the latency of a priority answer (default 0.5). */
    speedup?: number;
  };
}

/** OpenAI's flex refusal when it lacks capacity: retry later, it is not a rate limit. */
export const FLEX_UNAVAILABLE_MESSAGE =
  'Resource unavailable: flex processing has no capacity for this request right now. Please retry later, or send it with the default service tier.';

export interface FaultOptions {
  /** Probability of a 5xx answer. */
  serverErrorRate?: number;
  serverErrorStatus?: 500 | 502 | 503;
  /** Probability of holding the request without answering for `timeoutMs` (then dropping it). */
  timeoutRate?: number;
  timeoutMs?: number;
  /** Probability of destroying the connection (mid-stream for streaming requests: after half the chunks). */
  dropRate?: number;
  /** Every stream is cut (connection destroyed, no `[DONE]`) after this many chunks; streams with fewer end normally. */
  dropAfterChunks?: number;
  /** Probability of a 200 with a body that is not JSON. */
  malformedRate?: number;
  /** Until this epoch ms, every request gets 429 with `retry-after` = stormRetryAfterMs. */
  rateLimitStormUntil?: number;
  stormRetryAfterMs?: number;
  /** Every request gets 429 insufficient_quota. */
  insufficientQuota?: boolean;
  /** Every request gets this terminal status (400, 401, 404). */
  forceStatus?: 400 | 401 | 404 | null;
  /**
   * Probability that an answer fails after it started, where the endpoint reports that inside its
   * answer: a Responses API response ends `failed` (`response.failed` when streamed).
   */
  answerFailureRate?: number;
}

export interface SimulatorOptions {
  port?: number;
  host?: string;
  /** Per model (or `default`) RPM/TPM. */
  limits?: Record<string, ModelLimits>;
  enforcement?: Enforcement;
  /** How chat prompts are charged against TPM: `chars/4` (default, as OpenAI's guide says) or the exact `tokens`. */
  promptCharge?: 'chars/4' | 'tokens';
  /** Rate-limit headers' `remaining`/`reset` as they were this long ago (a lagging counter). */
  headerLagMs?: number;
  /** Probability that an answer carries no `x-ratelimit-*` headers. */
  headerDropRate?: number;
  /**
   * Limits that replace `limits` this long after start (a tier upgrade mid-run), in order. Given to
   * `configure`, they replace the changes still pending and count from that call.
   */
  limitChanges?: Array<{ afterMs: number; limits: Record<string, ModelLimits> }>;
  /**
   * Models that draw on one upstream limit ("some model families share one limit"): each inner list
   * is one set of buckets per API key, with the limits of its first model (that model's `limits`
   * entry, else `default`). A 429 still names the model called; every model of the list answers
   * with headers describing the shared buckets. A model may be in one list only.
   */
  sharedLimits?: string[][];
  /** What of the daily limits (RPD, TPD) each key × model has already spent at its first request: the day's earlier traffic. */
  dailySpentAtStart?: { requests?: number; tokens?: number };
  latency?: LatencyOptions;
  faults?: FaultOptions;
  /** Flex slowdown and unavailability, priority speed-up. */
  tiers?: TierOptions;
  /** Accepted API keys; absent = any non-empty key. */
  apiKeys?: string[];
  /** TPM charge when a request sets no max_tokens. */
  defaultMaxTokens?: number;
  /** Seed of the fault/jitter RNG (deterministic runs). */
  seed?: number;
  now?: () => number;
  /** Batch API behaviour: completion delay, expiry, line errors, enqueued-token limits, bounds. */
  batch?: BatchOptions;
  /** Files API: bytes of uploads kept in memory (default 1 GiB); batch results are always kept. */
  files?: { maxStoredBytes?: number };
  /**
   * API key → organisation id. Keys of one organisation share files, batches and enqueued-token
   * limits; a key not listed is its own owner (in organisation `org-sim` for messages).
   */
  organizations?: Record<string, string>;
  /** The endpoints served (default `SIMULATED_ENDPOINTS`, all); any other path is a 404 `unknown_url`. */
  endpoints?: readonly SimulatedEndpoint[];
}

/** Traffic of one endpoint, in `stats().byEndpoint[name]`. */
export interface EndpointStats {
  requests: number;
  ok: number;
  rateLimited: number;
  clientErrors: number;
  aborted: number;
}

export interface SimulatorStats {
  requests: number;
  ok: number;
  rateLimited: {
    requests: number;
    tokens: number;
    tooLarge: number;
    storm: number;
    insufficientQuota: number;
    /** Of `requests` and `tokens`: refused by a daily limit (RPD, TPD). */
    daily: number;
  };
  /** Flex requests refused for lack of capacity (429 `resource_unavailable`; no quota charged). */
  flexUnavailable: number;
  /** Requests answered, by the tier that answered them (`service_tier` of the answer). */
  byTier: Record<string, number>;
  serverErrors: number;
  timeouts: number;
  drops: number;
  malformed: number;
  clientErrors: number;
  tokensCharged: number;
  /** Output tokens of answers delivered whole. */
  completionTokens: number;
  /** `usage.prompt_tokens` of answers delivered whole (0 for moderations, which report no usage). */
  promptTokens: number;
  /** Admitted requests whose client closed the connection before the answer ended (mid-stream, or while waiting). */
  aborted: number;
  /** Output tokens already streamed to those clients when they closed. */
  abortedAfterTokens: number;
  /** Per second since start: ok answers, 429s and tokens charged. */
  timeline: Array<{ second: number; ok: number; rateLimited: number; tokens: number }>;
  /** The same per model (each model has its own limits): what a run mixing models is measured by. */
  timelineByModel: Record<string, Array<{ second: number; ok: number; rateLimited: number; tokens: number }>>;
  byKey: Record<string, { ok: number; rateLimited: number }>;
  /** Per endpoint name (`chat.completions`, `embeddings`, …). */
  byEndpoint: Record<string, EndpointStats>;
  /** The last JSON body each endpoint received, as it arrived (one per endpoint): what the upstream saw. */
  lastBodies: Record<string, RequestBody>;
  /** Calls of routes besides the endpoints' POSTs (`responses.retrieve`, `responses.cancel`, …), by name. */
  routes: Record<string, number>;
  /** Files and Batches API traffic; the fields above count only synchronous calls. */
  batch: BatchStats;
}

export interface RunningSimulator {
  /** Base URL for an OpenAI SDK, e.g. `http://127.0.0.1:PORT/v1`. */
  url: string;
  port: number;
  configure(patch: SimulatorPatch): void;
  stats(): SimulatorStats;
  reset(): void;
  close(): Promise<void>;
}

/** What `configure` (and `POST /_sim/config`) may change at runtime; each given field replaces the old one. */
export type SimulatorPatch = Partial<
  Pick<SimulatorOptions, 'limits' | 'limitChanges' | 'enforcement' | 'latency' | 'faults' | 'batch' | 'tiers'>
>;

const DEFAULT_LIMITS: ModelLimits = { rpm: 500, tpm: 200_000 };

function emptyStats(): SimulatorStats {
  return {
    requests: 0,
    ok: 0,
    rateLimited: { requests: 0, tokens: 0, tooLarge: 0, storm: 0, insufficientQuota: 0, daily: 0 },
    flexUnavailable: 0,
    byTier: {},
    serverErrors: 0,
    timeouts: 0,
    drops: 0,
    malformed: 0,
    clientErrors: 0,
    tokensCharged: 0,
    completionTokens: 0,
    promptTokens: 0,
    aborted: 0,
    abortedAfterTokens: 0,
    timeline: [],
    timelineByModel: {},
    byKey: {},
    byEndpoint: {},
    lastBodies: {},
    routes: {},
    batch: emptyBatchStats(),
  };
}

/**
 * An OpenAI-compatible server that enforces per-key, per-model RPM and TPM the way OpenAI does,
 * answers with OpenAI's headers and error bodies, and injects faults on demand.
 */
export function createSimulatorHandler(options: SimulatorOptions = {}) {
  const now = options.now ?? Date.now;
  const started = now();
  let limits: Record<string, ModelLimits> = { ...options.limits };
  let latency: LatencyOptions = { ...options.latency };
  let faults: FaultOptions = { ...options.faults };
  let tiers: TierOptions = { ...options.tiers };
  const random = seededRandom(options.seed ?? 42);
  const engine = createRateLimitEngine({
    enforcement: options.enforcement ?? 'continuous',
    ...(options.headerLagMs ? { headerLagMs: options.headerLagMs } : {}),
    ...(options.headerDropRate ? { headerDropRate: options.headerDropRate } : {}),
    random: seededRandom((options.seed ?? 42) + 1),
    ...(options.dailySpentAtStart ? { dailySpentAtStart: options.dailySpentAtStart } : {}),
  });
  /** Pending limit changes, each at an absolute time on the simulator's clock. */
  let limitChanges = scheduledChanges(options.limitChanges, started);
  const limitOwner = sharedLimitOwners(options.sharedLimits ?? []);
  const defaultMaxTokens = options.defaultMaxTokens ?? 4096;
  let stats = emptyStats();
  const files = createFileStore({ maxStoredBytes: options.files?.maxStoredBytes ?? 1024 * 1024 * 1024 });
  const endpoints = options.endpoints ?? SIMULATED_ENDPOINTS;
  const routes = new Map(endpoints.map((e) => [`${e.method} ${e.path}`, e]));
  const otherRoutes: SimulatedRoute[] = endpoints.flatMap((e) => e.routes ?? []);
  // Endpoints' own state (stored responses, …): one map per simulator instance.
  const endpointState = new Map<object, unknown>();
  function sessionOf(key: string): EndpointSession {
    return {
      owner: options.organizations?.[key] ?? key,
      now,
      state<T>(stateKey: object, make: () => T): T {
        if (!endpointState.has(stateKey)) endpointState.set(stateKey, make());
        return endpointState.get(stateKey) as T;
      },
      latency: {
        firstTokenMs: latency.firstTokenMs ?? latency.baseMs ?? 0,
        perTokenMs: latency.perTokenMs ?? 0,
      },
    };
  }
  const batches = createBatchEngine({
    endpoints,
    files,
    now,
    seed: options.seed ?? 42,
    defaultMaxTokens,
    options: options.batch ?? {},
    stats: () => stats.batch,
    session: sessionOf,
  });
  const filesAndBatches = createFilesAndBatchesRoutes({ files, batches, now, stats: () => stats.batch });

  function limitsFor(model: string): ModelLimits {
    while (limitChanges.length && now() >= limitChanges[0]!.at) limits = { ...limitChanges.shift()!.limits };
    return limits[model] ?? limits.default ?? DEFAULT_LIMITS;
  }

  function tick(field: 'ok' | 'rateLimited', tokens = 0, model?: string) {
    const second = Math.floor((now() - started) / 1000);
    const count = (timeline: SimulatorStats['timeline']) => {
      let slot = timeline[timeline.length - 1];
      if (!slot || slot.second !== second) {
        slot = { second, ok: 0, rateLimited: 0, tokens: 0 };
        timeline.push(slot);
      }
      slot[field]++;
      slot.tokens += tokens;
    };
    count(stats.timeline);
    if (model === undefined) return;
    const perModel = stats.timelineByModel[model] ?? [];
    stats.timelineByModel[model] = perModel;
    count(perModel);
  }

  function configure(patch: SimulatorPatch) {
    if (patch.limits) limits = { ...patch.limits };
    if (patch.limitChanges) limitChanges = scheduledChanges(patch.limitChanges, now());
    if (patch.latency) latency = { ...patch.latency };
    if (patch.faults) faults = { ...patch.faults };
    if (patch.tiers) tiers = { ...patch.tiers };
    if (patch.enforcement) engine.setEnforcement(patch.enforcement);
    if (patch.batch) {
      batches.advanceAll(); // what happened under the old options stays as it was
      batches.configure(patch.batch);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0] ?? '/';
    if (url.startsWith('/_sim/')) return control(url, req, res);
    if (!url.startsWith('/v1/'))
      return sendError(res, 404, `Unknown endpoint ${url}`, 'invalid_request_error', 'unknown_url');
    res.setHeader('x-request-id', `req_${randomBytes(16).toString('hex')}`);

    const key = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
    if (!key || (options.apiKeys && !options.apiKeys.includes(key))) {
      stats.clientErrors++;
      return sendError(res, 401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
    }
    if (isFilesOrBatchesPath(url)) {
      const organization = options.organizations?.[key];
      return filesAndBatches.handle(req, res, {
        owner: organization ?? key,
        organization: organization ?? 'org-sim',
      });
    }
    if (req.method === 'GET' && url === '/v1/models') {
      const created = Math.floor(started / 1000);
      return sendJson(res, 200, {
        object: 'list',
        data: SIMULATED_MODELS.map((id) => ({ id, object: 'model', created, owned_by: 'openai-simulator' })),
      });
    }
    const modelMatch = /^\/v1\/models\/([^/]+)$/.exec(url);
    if (req.method === 'GET' && modelMatch) {
      const id = decodeURIComponent(modelMatch[1] ?? '');
      if (!(SIMULATED_MODELS as readonly string[]).includes(id)) {
        return sendError(
          res,
          404,
          `The model '${id}' does not exist`,
          'invalid_request_error',
          'model_not_found',
        );
      }
      return sendJson(res, 200, {
        id,
        object: 'model',
        created: Math.floor(started / 1000),
        owned_by: 'openai-simulator',
      });
    }
    const endpoint = routes.get(`${req.method} ${url}`);
    if (!endpoint) {
      for (const route of otherRoutes) {
        const match = route.method === req.method ? route.path.exec(url) : null;
        if (match) return serveRoute(route, match.slice(1), req, res, key);
      }
      return sendError(
        res,
        404,
        `Unknown endpoint ${req.method} ${url}`,
        'invalid_request_error',
        'unknown_url',
      );
    }
    return serve(endpoint, req, res, key);
  }

  /** A route besides an endpoint's POST: its JSON answer, no limits, no latency. */
  async function serveRoute(
    route: SimulatedRoute,
    params: string[],
    req: IncomingMessage,
    res: ServerResponse,
    key: string,
  ) {
    stats.routes[route.name] = (stats.routes[route.name] ?? 0) + 1;
    const text = req.method === 'GET' || req.method === 'DELETE' ? '' : await readBody(req);
    let body: RequestBody | null = null;
    if (text.trim()) {
      try {
        const parsed = JSON.parse(text) as unknown;
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as RequestBody;
      } catch {}
      if (!body)
        return sendError(
          res,
          400,
          'We could not parse the JSON body of your request.',
          'invalid_request_error',
          null,
        );
    }
    const query = new URL(req.url ?? '/', 'http://simulator').searchParams;
    const answer = route.handle({ params: params.map(decodeURIComponent), query, body }, sessionOf(key));
    if (answer.status >= 400) stats.clientErrors++;
    return sendJson(res, answer.status, answer.body);
  }

  function endpointStats(name: string): EndpointStats {
    let counts = stats.byEndpoint[name];
    if (!counts) {
      counts = { requests: 0, ok: 0, rateLimited: 0, clientErrors: 0, aborted: 0 };
      stats.byEndpoint[name] = counts;
    }
    return counts;
  }

  /** The shared path of every endpoint: body, refusal, faults, limits and headers, latency, answer, stats. */
  async function serve(endpoint: SimulatedEndpoint, req: IncomingMessage, res: ServerResponse, key: string) {
    const startedAt = performance.now();
    const stamp = () =>
      res.setHeader('openai-processing-ms', String(Math.round(performance.now() - startedAt)));
    const counts = endpointStats(endpoint.name);
    const clientError = () => {
      stats.clientErrors++;
      counts.clientErrors++;
    };
    stats.requests++;
    counts.requests++;
    const body = await readJsonObject(req, res);
    if (!body) return clientError();
    stats.lastBodies[endpoint.name] = body;
    stamp();
    const connection = watchConnection(res);
    const session = sessionOf(key);
    const refusal = endpoint.refuse(body, session);
    if (refusal) {
      clientError();
      stamp();
      return sendError(res, refusal.status, refusal.message, refusal.type, refusal.code, refusal.param);
    }

    // Faults that happen before the limits are consulted, as a broken upstream would.
    if (faults.forceStatus) {
      clientError();
      const code =
        faults.forceStatus === 401
          ? 'invalid_api_key'
          : faults.forceStatus === 404
            ? 'model_not_found'
            : null;
      return sendError(
        res,
        faults.forceStatus,
        `Simulated ${faults.forceStatus}.`,
        'invalid_request_error',
        code,
      );
    }
    if (faults.insufficientQuota) {
      stats.rateLimited.insufficientQuota++;
      counts.rateLimited++;
      return sendError(
        res,
        429,
        'You exceeded your current quota, please check your plan and billing details.',
        'insufficient_quota',
        'insufficient_quota',
      );
    }
    if (faults.rateLimitStormUntil && now() < faults.rateLimitStormUntil) {
      stats.rateLimited.storm++;
      counts.rateLimited++;
      tick('rateLimited');
      const wait = faults.stormRetryAfterMs ?? 1000;
      res.setHeader('retry-after', String(Math.ceil(wait / 1000)));
      res.setHeader('retry-after-ms', String(wait));
      return sendError(
        res,
        429,
        `Rate limit reached (simulated storm). Please try again in ${wait}ms.`,
        'requests',
        'rate_limit_exceeded',
      );
    }
    if (faults.timeoutRate && random() < faults.timeoutRate) {
      stats.timeouts++;
      await connection.pause(faults.timeoutMs ?? 600_000);
      req.socket.destroy();
      return;
    }
    if (faults.serverErrorRate && random() < faults.serverErrorRate) {
      stats.serverErrors++;
      return sendError(
        res,
        faults.serverErrorStatus ?? 500,
        'The server had an error while processing your request. Sorry about that!',
        'server_error',
        null,
      );
    }

    const tier = answeredServiceTier(body.service_tier);
    if (tier === 'flex' && tiers.flex?.unavailableRate && random() < tiers.flex.unavailableRate) {
      stats.flexUnavailable++;
      counts.rateLimited++;
      return sendError(res, 429, FLEX_UNAVAILABLE_MESSAGE, 'resource_unavailable', 'resource_unavailable');
    }

    const model = endpoint.model(body);
    const ctx = {
      defaultMaxTokens,
      ...(options.promptCharge ? { promptCharge: options.promptCharge } : {}),
      createdSeconds: Math.floor(now() / 1000),
      session,
      failMidway: faults.answerFailureRate ? random() < faults.answerFailureRate : false,
    };
    const charge = endpoint.charge(body, ctx);
    // Models sharing one limit draw on the buckets of their list's first model.
    const owner = limitOwner.get(model) ?? model;
    const verdict = engine.check(`${key}\u0000${owner}`, limitsFor(owner), charge, now());
    if (verdict.headers) setRateLimitHeaders(res, verdict.headers);
    const keyLabel = key.slice(0, 12);
    const perKey = stats.byKey[keyLabel] ?? { ok: 0, rateLimited: 0 };
    stats.byKey[keyLabel] = perKey;
    if (!verdict.ok) {
      perKey.rateLimited++;
      counts.rateLimited++;
      tick('rateLimited', 0, model);
      return rateLimited(res, model, verdict);
    }
    stats.tokensCharged += charge;

    const answer = endpoint.answer(body, ctx);
    const chunks = answer.stream?.();
    const tierFactor =
      tier === 'flex'
        ? (tiers.flex?.slowdown ?? 3)
        : tier === 'priority'
          ? (tiers.priority?.speedup ?? 0.5)
          : 1;
    const firstTokenMs =
      ((latency.firstTokenMs ?? latency.baseMs ?? 0) + (latency.jitterMs ? random() * latency.jitterMs : 0)) *
      tierFactor;
    const perTokenMs = (latency.perTokenMs ?? 0) * tierFactor;
    // A background answer is given at once; the work runs on the simulator's clock.
    const wait = chunks
      ? firstTokenMs
      : answer.immediate
        ? 0
        : firstTokenMs + perTokenMs * answer.outputTokens;
    if (wait > 0) await connection.pause(wait);
    if (connection.closed) return aborted(counts, 0);

    const delivered = () => {
      stats.ok++;
      stats.byTier[tier] = (stats.byTier[tier] ?? 0) + 1;
      perKey.ok++;
      counts.ok++;
      stats.completionTokens += answer.outputTokens;
      stats.promptTokens += answer.promptTokens;
      tick('ok', charge, model);
    };
    if (faults.dropRate && random() < faults.dropRate) {
      stats.drops++;
      if (chunks) {
        stamp();
        await streamChunks(res, chunks, {
          perTokenMs,
          connection,
          cutAfter: Math.max(1, Math.floor(chunks.length / 2)),
          typed: answer.streamFormat === 'typed',
        });
        return;
      }
      req.socket.destroy();
      return;
    }
    if (faults.malformedRate && random() < faults.malformedRate) {
      stats.malformed++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id": "chatcmpl-broken", "choices": [ {"message": ');
      return;
    }
    stamp();
    if (!chunks) {
      delivered();
      return sendJson(res, 200, answer.body());
    }
    const cutAfter = faults.dropAfterChunks;
    const cut = cutAfter !== undefined && cutAfter <= chunks.length;
    if (cut) stats.drops++;
    const outcome = await streamChunks(res, chunks, {
      perTokenMs,
      connection,
      cutAfter: cut ? cutAfter : undefined,
      typed: answer.streamFormat === 'typed',
    });
    if (outcome.ended === 'aborted') return aborted(counts, outcome.tokens);
    if (outcome.ended === 'done') delivered();
  }

  function aborted(counts: EndpointStats, tokens: number) {
    stats.aborted++;
    stats.abortedAfterTokens += tokens;
    counts.aborted++;
  }

  function rateLimited(res: ServerResponse, model: string, v: Extract<LimitVerdict, { ok: false }>) {
    if (v.reason === 'too_large') {
      stats.rateLimited.tooLarge++;
      return sendError(
        res,
        429,
        `Request too large for ${model} in organization org-sim on tokens per min (TPM): Limit ${v.limit}, Requested ${v.requested}. The input or output tokens must be reduced in order to run successfully.`,
        'tokens',
        'rate_limit_exceeded',
      );
    }
    stats.rateLimited[v.reason]++;
    if (v.period === 'day') stats.rateLimited.daily++;
    res.setHeader('retry-after', String(Math.max(1, Math.ceil(v.retryAfterMs / 1000))));
    res.setHeader('retry-after-ms', String(v.retryAfterMs));
    const dim = limitDimension(v.reason, v.period);
    return sendError(
      res,
      429,
      `Rate limit reached for ${model} in organization org-sim on ${dim}: Limit ${v.limit}, Used ${v.used}, Requested ${v.requested}. Please try again in ${formatGoDuration(v.retryAfterMs)}. Visit https://platform.openai.com/account/rate-limits to learn more.`,
      v.reason,
      'rate_limit_exceeded',
    );
  }

  async function control(url: string, req: IncomingMessage, res: ServerResponse) {
    if (url === '/_sim/stats' && req.method === 'GET') return sendJson(res, 200, currentStats());
    if (url === '/_sim/reset' && req.method === 'POST') {
      reset();
      return sendJson(res, 200, { ok: true });
    }
    if (url === '/_sim/config' && req.method === 'POST') {
      try {
        configure(JSON.parse(await readBody(req)));
        return sendJson(res, 200, { ok: true });
      } catch (error) {
        return sendError(res, 400, `bad config: ${(error as Error).message}`, 'invalid_request_error', null);
      }
    }
    return sendError(res, 404, `Unknown control endpoint ${url}`, 'invalid_request_error', null);
  }

  /** Stats with batches brought up to now, so lines finished since the last call are counted. */
  function currentStats(): SimulatorStats {
    batches.advanceAll();
    return stats;
  }

  /** Clears counters and rate-limit state; stored files and batches stay (clients may still poll them). */
  function reset() {
    stats = emptyStats();
    engine.reset();
  }

  return {
    handle: (req: IncomingMessage, res: ServerResponse) => {
      handle(req, res).catch(() => {
        if (!res.headersSent) sendError(res, 500, 'simulator error', 'server_error', null);
        else res.destroy();
      });
    },
    configure,
    stats: currentStats,
    reset,
    /** Stops background work (the batch pump); call when the server closes. */
    close: () => batches.stop(),
  };
}

function scheduledChanges(
  changes: SimulatorOptions['limitChanges'],
  from: number,
): Array<{ at: number; limits: Record<string, ModelLimits> }> {
  return (changes ?? []).map((c) => ({ at: from + c.afterMs, limits: c.limits })).sort((a, b) => a.at - b.at);
}

/** Model → the first model of its `sharedLimits` list (whose buckets and limits it uses). */
function sharedLimitOwners(groups: readonly string[][]): Map<string, string> {
  const owners = new Map<string, string>();
  for (const group of groups) {
    if (group.length === 0) throw new Error('sharedLimits: an empty list of models');
    for (const model of group) {
      if (owners.has(model)) throw new Error(`sharedLimits: ${model} is in more than one list`);
      owners.set(model, group[0]!);
    }
  }
  return owners;
}

export async function startOpenAISimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const sim = createSimulatorHandler(options);
  const server: Server = createServer(sim.handle);
  server.keepAliveTimeout = 30_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}/v1`,
    port,
    configure: sim.configure,
    stats: sim.stats,
    reset: sim.reset,
    close: () =>
      new Promise<void>((resolve) => {
        sim.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function setRateLimitHeaders(res: ServerResponse, h: RateLimitHeaderValues) {
  res.setHeader('x-ratelimit-limit-requests', String(h.limitRequests));
  res.setHeader('x-ratelimit-limit-tokens', String(h.limitTokens));
  res.setHeader('x-ratelimit-remaining-requests', String(h.remainingRequests));
  res.setHeader('x-ratelimit-remaining-tokens', String(h.remainingTokens));
  res.setHeader('x-ratelimit-reset-requests', formatGoDuration(h.resetRequestsMs));
  res.setHeader('x-ratelimit-reset-tokens', formatGoDuration(h.resetTokensMs));
}

/** A response's connection: whether the client has gone, and waits that end early (timers cleared) when it goes. */
interface WatchedConnection {
  readonly closed: boolean;
  pause(ms: number): Promise<void>;
  /** Resolves when the socket can take more (or the client is gone). */
  drained(): Promise<void>;
}

function watchConnection(res: ServerResponse): WatchedConnection {
  let closed = false;
  const waking = new Set<() => void>();
  res.once('close', () => {
    closed = true;
    for (const wake of [...waking]) wake();
  });
  const until = (arm: (done: () => void) => () => void) =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      let disarm = () => {};
      const done = () => {
        disarm();
        waking.delete(done);
        resolve();
      };
      waking.add(done);
      disarm = arm(done);
    });
  return {
    get closed() {
      return closed;
    },
    pause: (ms) =>
      until((done) => {
        const timer = setTimeout(done, ms);
        return () => clearTimeout(timer);
      }),
    drained: () =>
      until((done) => {
        res.once('drain', done);
        return () => res.off('drain', done);
      }),
  };
}

/**
 * Writes a stream as OpenAI paces it: the first chunks at once (the caller waited the time to first
 * token), then `perTokenMs` per output token before each chunk that carries tokens; `[DONE]` last
 * (`typed`: each chunk with its `event:` line and no `[DONE]`, as the Responses API streams).
 * Stops writing the moment the client goes (`aborted`), or destroys the connection after `cutAfter`
 * chunks (`cut`: a drop mid-stream).
 */
async function streamChunks(
  res: ServerResponse,
  chunks: readonly StreamChunk[],
  opts: { perTokenMs: number; connection: WatchedConnection; cutAfter: number | undefined; typed?: boolean },
): Promise<{ ended: 'done' | 'aborted' | 'cut'; tokens: number }> {
  const { connection } = opts;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let tokens = 0;
  let flushed: Promise<void> = Promise.resolve();
  for (let i = 0; i < chunks.length; i++) {
    if (i === opts.cutAfter) break;
    const chunk = chunks[i]!;
    if (chunk.tokens > 0 && tokens > 0 && opts.perTokenMs > 0)
      await connection.pause(opts.perTokenMs * chunk.tokens);
    if (connection.closed) return { ended: 'aborted', tokens };
    let fits = true;
    flushed = new Promise((resolve) => {
      const event = opts.typed && chunk.event ? `event: ${chunk.event}\n` : '';
      fits = res.write(`${event}data: ${JSON.stringify(chunk.data)}\n\n`, () => resolve());
    });
    if (!fits) await connection.drained();
    if (connection.closed) return { ended: 'aborted', tokens };
    tokens += chunk.tokens;
  }
  if (opts.cutAfter !== undefined) {
    // The chunks written reach the client; then the connection dies without the stream's end.
    await Promise.race([flushed, connection.pause(1_000)]);
    res.destroy();
    return { ended: 'cut', tokens };
  }
  res.end(opts.typed ? undefined : 'data: [DONE]\n\n');
  return { ended: 'done', tokens };
}
