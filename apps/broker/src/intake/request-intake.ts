import { createHash, randomBytes } from 'node:crypto';
import {
  type EventLog,
  eventIdFor,
  type RequestSubmitted,
  requestKey,
  requestTopic,
  SluiceError,
  validateEvent,
} from '@sluice/events';
import { estimateChatTokens, modelInfo } from '@sluice/limiter';
import type { RouteRequest } from '../batch/route-policy';
import type { CacheAdmission } from '../cache/cache-admission';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { ModelCatalog } from '../upstream/model-catalog';
import { type PoolConfig, poolForModel } from '../upstream/pools';
import type { ChatCompletionRequest, SubmitOptions } from './chat-request';

export interface IntakeStore {
  append(events: RequestSubmitted[]): Promise<unknown>;
  findByIdempotencyKey(tenantId: string, key: string): Promise<{ requestId: string } | undefined>;
}

export interface IntakeDeps {
  log: EventLog;
  store: IntakeStore;
  catalog: ModelCatalog;
  pools: readonly PoolConfig[];
  logger: Logger;
  metrics?: Metrics;
  clock?: () => number;
  /** The exact response cache at admission; absent = no request is cached. */
  cache?: CacheAdmission;
  /** Sync or Batch API (see `batch/route-policy`); absent = always synchronous. */
  route?: RouteRequest;
}

export interface SubmitResult {
  requestId: string;
  /** True when an earlier submission with the same idempotency key is returned instead. */
  duplicate: boolean;
  priority: RequestSubmitted['priority'];
  /** `hit` = answered from the response cache (already completed), `miss` = eligible, goes upstream, null = not eligible. */
  cache: 'hit' | 'miss' | null;
  /** The event this call appended to the log (absent for a duplicate or a cache hit): a waiter starts from it. */
  submitted?: RequestSubmitted;
}

/**
 * Admission: validate what the schema cannot (model, context window, the pool's known limits),
 * estimate tokens, and append `request.submitted` to its priority topic. Returns only once the
 * log holds the request durably.
 */
export function createRequestIntake(deps: IntakeDeps) {
  const clock = deps.clock ?? Date.now;
  const recent = new Map<string, RequestSubmitted>();
  const RECENT_LIMIT = 50_000;
  function rememberSubmitted(event: RequestSubmitted): void {
    recent.set(event.requestId, event);
    if (recent.size > RECENT_LIMIT) recent.delete(recent.keys().next().value as string);
  }

  return {
    async submit(
      tenantId: string,
      body: ChatCompletionRequest,
      options: SubmitOptions,
      source: RequestSubmitted['source'],
      /** For a caller that will wait: told the request id just before the append (`OutcomeHub.expect`). */
      onAppending?: (requestId: string) => void,
    ): Promise<SubmitResult> {
      const priority = options.priority ?? 'standard';
      const model = deps.catalog.get(body.model);
      if (!model) {
        throw new SluiceError(
          'not_found',
          `The model \`${body.model}\` does not exist or you do not have access to it.`,
          {
            details: { param: 'model', openaiCode: 'model_not_found' },
          },
        );
      }

      if (options.idempotencyKey) {
        const id = idempotentRequestId(tenantId, options.idempotencyKey);
        const existing = recent.has(id)
          ? { requestId: id }
          : await deps.store.findByIdempotencyKey(tenantId, options.idempotencyKey);
        if (existing) return { requestId: existing.requestId, duplicate: true, priority, cache: null };
      }

      const estimate = estimateChatTokens(body);
      const info = modelInfo(body.model);
      if (estimate.promptTokens > info.contextWindow) {
        throw new SluiceError(
          'request_too_large',
          `This model's maximum context length is ${info.contextWindow} tokens. However, your messages resulted in about ${estimate.promptTokens} tokens. Please reduce the length of the messages.`,
          { details: { param: 'messages', openaiCode: 'context_length_exceeded' } },
        );
      }
      const requestedOutput = body.max_completion_tokens ?? body.max_tokens;
      if (requestedOutput != null && requestedOutput > info.maxOutputTokens) {
        const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
        throw new SluiceError(
          'invalid_request',
          `${param} is too large: ${requestedOutput}. This model supports at most ${info.maxOutputTokens} completion tokens.`,
          { details: { param } },
        );
      }
      const pool = poolForModel(deps.pools, body.model);
      const tpmLimit = pool.limits?.[body.model]?.tpm ?? pool.limits?.['*']?.tpm;
      if (tpmLimit !== undefined && estimate.tpmCost > tpmLimit) {
        throw new SluiceError(
          'request_too_large',
          `Request too large for ${body.model}: it needs about ${estimate.tpmCost} tokens per minute (prompt + max_tokens) but the pool's limit is ${tpmLimit}. Lower max_tokens or shorten the messages.`,
          { details: { param: 'max_tokens', openaiCode: 'request_too_large' } },
        );
      }

      const now = clock();
      const requestId = options.idempotencyKey
        ? idempotentRequestId(tenantId, options.idempotencyKey)
        : `req_${randomBytes(12).toString('base64url')}`;
      const event = validateEvent({
        type: 'request.submitted',
        version: 2,
        eventId: eventIdFor('request.submitted', requestId, 0),
        requestId,
        tenantId,
        pool: pool.name,
        model: body.model,
        priority,
        attempt: 0,
        occurredAt: new Date(now).toISOString(),
        body,
        stream: body.stream === true,
        source,
        estimate,
        idempotencyKey: options.idempotencyKey ?? null,
        deadline: options.timeoutMs ? new Date(now + options.timeoutMs).toISOString() : null,
        cache: (await deps.cache?.directive(tenantId, body, options.cache)) ?? null,
        route: deps.route
          ? await deps.route({
              tenantId,
              priority,
              deadline: options.timeoutMs ? now + options.timeoutMs : null,
              stream: body.stream === true,
            })
          : 'sync',
      }) as RequestSubmitted;

      // A stored answer completes the request here: no log, no quota, no upstream.
      if (await deps.cache?.serve(event)) return { requestId, duplicate: false, priority, cache: 'hit' };

      const started = clock();
      onAppending?.(requestId);
      try {
        await deps.log.append([{ topic: requestTopic(priority), key: requestKey(pool.name), event }]);
      } catch (cause) {
        if (cause instanceof SluiceError && cause.code === 'invalid_event') throw cause;
        throw new SluiceError(
          'log_unavailable',
          'The request log is unavailable; nothing was accepted. Retry shortly.',
          {
            cause,
            details: { retryAfterMs: 1_000 },
          },
        );
      }
      deps.metrics?.logAppendSeconds.observe((clock() - started) / 1000);
      deps.metrics?.submitted.inc({ priority, tenant: tenantId, source });
      // The log append made the request durable; the dispatcher records it in the store. Until
      // then this process answers for it from memory, so `get`/`wait` right after submit work.
      rememberSubmitted(event);
      return { requestId, duplicate: false, priority, cache: event.cache ? 'miss' : null, submitted: event };
    },
    /** A request this process accepted recently (the store may not have it yet). */
    recentlySubmitted(tenantId: string | null, requestId: string): RequestSubmitted | undefined {
      const e = recent.get(requestId);
      return e && (tenantId === null || e.tenantId === tenantId) ? e : undefined;
    },
  };
}

export type RequestIntake = ReturnType<typeof createRequestIntake>;

/** The same tenant and idempotency key always name the same request, even across API processes. */
export function idempotentRequestId(tenantId: string, key: string): string {
  const digest = createHash('sha256').update(tenantId).update('\0').update(key).digest('base64url');
  return `req_${digest.slice(0, 24)}`;
}
