import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFilesAndBatchesRoutes, isFilesOrBatchesPath } from './batch-api-routes';
import { type BatchOptions, type BatchStats, createBatchEngine, emptyBatchStats } from './batches';
import { answerChat, chatCompletionObject, chatRequestError, newCompletionId } from './chat-completion';
import { createFileStore } from './files';
import { readBody, readJsonObject, sendError, sendJson } from './internal/http';
import { seededRandom } from './internal/seeded-random';
import { SIMULATED_MODELS } from './models';
import {
  chargedTokens,
  createRateLimitEngine,
  type Enforcement,
  formatGoDuration,
  type LimitVerdict,
  type ModelLimits,
  type RateLimitHeaderValues,
} from './rate-limits';

export interface LatencyOptions {
  /** Fixed latency of every answer. */
  baseMs?: number;
  /** Added per completion token (a model "generating"). */
  perTokenMs?: number;
  /** Uniform random extra in [0, jitterMs). */
  jitterMs?: number;
}

export interface FaultOptions {
  /** Probability of a 5xx answer. */
  serverErrorRate?: number;
  serverErrorStatus?: 500 | 502 | 503;
  /** Probability of holding the request without answering for `timeoutMs` (then dropping it). */
  timeoutRate?: number;
  timeoutMs?: number;
  /** Probability of destroying the connection (mid-stream for streaming requests). */
  dropRate?: number;
  /** Probability of a 200 with a body that is not JSON. */
  malformedRate?: number;
  /** Until this epoch ms, every request gets 429 with `retry-after` = stormRetryAfterMs. */
  rateLimitStormUntil?: number;
  stormRetryAfterMs?: number;
  /** Every request gets 429 insufficient_quota. */
  insufficientQuota?: boolean;
  /** Every request gets this terminal status (400, 401, 404). */
  forceStatus?: 400 | 401 | 404 | null;
}

export interface SimulatorOptions {
  port?: number;
  host?: string;
  /** Per model (or `default`) RPM/TPM. */
  limits?: Record<string, ModelLimits>;
  enforcement?: Enforcement;
  latency?: LatencyOptions;
  faults?: FaultOptions;
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
  };
  serverErrors: number;
  timeouts: number;
  drops: number;
  malformed: number;
  clientErrors: number;
  tokensCharged: number;
  completionTokens: number;
  /** Per second since start: ok answers, 429s and tokens charged. */
  timeline: Array<{ second: number; ok: number; rateLimited: number; tokens: number }>;
  byKey: Record<string, { ok: number; rateLimited: number }>;
  /** Files and Batches API traffic; the fields above count only synchronous chat calls. */
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
  Pick<SimulatorOptions, 'limits' | 'enforcement' | 'latency' | 'faults' | 'batch'>
>;

const DEFAULT_LIMITS: ModelLimits = { rpm: 500, tpm: 200_000 };

function emptyStats(): SimulatorStats {
  return {
    requests: 0,
    ok: 0,
    rateLimited: { requests: 0, tokens: 0, tooLarge: 0, storm: 0, insufficientQuota: 0 },
    serverErrors: 0,
    timeouts: 0,
    drops: 0,
    malformed: 0,
    clientErrors: 0,
    tokensCharged: 0,
    completionTokens: 0,
    timeline: [],
    byKey: {},
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
  const engine = createRateLimitEngine({ enforcement: options.enforcement ?? 'continuous' });
  const random = seededRandom(options.seed ?? 42);
  const defaultMaxTokens = options.defaultMaxTokens ?? 4096;
  let stats = emptyStats();
  const files = createFileStore({ maxStoredBytes: options.files?.maxStoredBytes ?? 1024 * 1024 * 1024 });
  const batches = createBatchEngine({
    files,
    now,
    seed: options.seed ?? 42,
    defaultMaxTokens,
    options: options.batch ?? {},
    stats: () => stats.batch,
  });
  const filesAndBatches = createFilesAndBatchesRoutes({ files, batches, now, stats: () => stats.batch });

  function limitsFor(model: string): ModelLimits {
    return limits[model] ?? limits.default ?? DEFAULT_LIMITS;
  }

  function tick(field: 'ok' | 'rateLimited', tokens = 0) {
    const second = Math.floor((now() - started) / 1000);
    let slot = stats.timeline[stats.timeline.length - 1];
    if (!slot || slot.second !== second) {
      slot = { second, ok: 0, rateLimited: 0, tokens: 0 };
      stats.timeline.push(slot);
    }
    slot[field]++;
    slot.tokens += tokens;
  }

  function configure(patch: SimulatorPatch) {
    if (patch.limits) limits = { ...patch.limits };
    if (patch.latency) latency = { ...patch.latency };
    if (patch.faults) faults = { ...patch.faults };
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
    if (req.method !== 'POST' || url !== '/v1/chat/completions') {
      return sendError(
        res,
        404,
        `Unknown endpoint ${req.method} ${url}`,
        'invalid_request_error',
        'unknown_url',
      );
    }
    return chat(req, res, key);
  }

  async function chat(req: IncomingMessage, res: ServerResponse, key: string) {
    stats.requests++;
    const body = await readJsonObject(req, res);
    if (!body) {
      stats.clientErrors++;
      return;
    }
    const model = String(body.model ?? '');
    const refusal = chatRequestError(body);
    if (refusal) {
      stats.clientErrors++;
      return sendError(res, refusal.status, refusal.message, refusal.type, refusal.code, refusal.param);
    }

    // Faults that happen before the limits are consulted, as a broken upstream would.
    if (faults.forceStatus) {
      stats.clientErrors++;
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
      await sleep(faults.timeoutMs ?? 600_000);
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

    const charge = chargedTokens(body, defaultMaxTokens);
    const lim = limitsFor(model);
    const verdict = engine.check(`${key}\u0000${model}`, lim, charge, now());
    setRateLimitHeaders(res, verdict.headers);
    const keyLabel = key.slice(0, 12);
    const perKey = stats.byKey[keyLabel] ?? { ok: 0, rateLimited: 0 };
    stats.byKey[keyLabel] = perKey;
    if (!verdict.ok) {
      perKey.rateLimited++;
      tick('rateLimited');
      return rateLimited(res, model, verdict);
    }
    stats.tokensCharged += charge;

    const { answer, usage } = answerChat(model, body);
    const wait =
      (latency.baseMs ?? 0) +
      (latency.perTokenMs ?? 0) * answer.tokens +
      (latency.jitterMs ? random() * latency.jitterMs : 0);
    if (wait > 0) await sleep(wait);

    if (faults.dropRate && random() < faults.dropRate) {
      stats.drops++;
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(
          `data: ${JSON.stringify(chunk(model, { role: 'assistant', content: answer.content.slice(0, 8) }, null))}\n\n`,
        );
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

    stats.ok++;
    perKey.ok++;
    stats.completionTokens += answer.tokens;
    tick('ok', charge);
    const id = newCompletionId();
    res.setHeader('x-request-id', `req_${randomBytes(8).toString('hex')}`);
    if (body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const words = answer.content.match(/\S+\s*/g) ?? [answer.content];
      res.write(`data: ${JSON.stringify(chunk(model, { role: 'assistant', content: '' }, null, id))}\n\n`);
      for (const w of words) res.write(`data: ${JSON.stringify(chunk(model, { content: w }, null, id))}\n\n`);
      res.write(`data: ${JSON.stringify(chunk(model, {}, answer.finish, id))}\n\n`);
      const so = body.stream_options as { include_usage?: boolean } | undefined;
      if (so?.include_usage)
        res.write(`data: ${JSON.stringify({ ...chunk(model, {}, null, id), choices: [], usage })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    return sendJson(
      res,
      200,
      chatCompletionObject({ id, model, createdSeconds: Math.floor(now() / 1000), answer, usage }),
    );
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
    res.setHeader('retry-after', String(Math.max(1, Math.ceil(v.retryAfterMs / 1000))));
    res.setHeader('retry-after-ms', String(v.retryAfterMs));
    const dim = v.reason === 'tokens' ? 'tokens per min (TPM)' : 'requests per min (RPM)';
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

function chunk(model: string, delta: Record<string, unknown>, finish: string | null, id = 'chatcmpl-sim') {
  return {
    id,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: 'fp_sluice_sim',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
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

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}
