import { z } from 'zod';
import { EndpointSchema, perEndpoint } from './endpoints';
import { PrioritySchema } from './priority';

/**
 * The facts every event about a request carries. `eventId` is deterministic
 * (`eventIdFor`), so appending the same fact twice is refused, not stored twice:
 * an at-least-once log yields exactly-once projections and billing.
 */
const envelope = {
  eventId: z.string().min(1).max(300),
  requestId: z.string().min(1).max(128),
  tenantId: z.string().min(1).max(128),
  pool: z.string().min(1).max(128),
  model: z.string().min(1).max(256),
  priority: PrioritySchema,
  /** 0 for submission and cancellation before dispatch; 1.. for upstream attempts. */
  attempt: z.number().int().min(0).max(1_000),
  occurredAt: z.iso.datetime({ offset: true }),
};

/** Since v3 (v2 for some types) every event also names the endpoint of its request. */
const envelopeWithEndpoint = { ...envelope, endpoint: EndpointSchema };

const count = z.number().int().min(0);

/** The chat completion body as the tenant sent it (validated in detail at the API edge). */
export const ChatCompletionBodySchema = z
  .object({
    model: z.string().min(1),
    messages: z.array(z.unknown()).min(1),
  })
  .loose();

export const TokenEstimateSchema = z.object({
  promptTokens: count,
  maxOutputTokens: count,
  /** What the upstream is expected to charge against TPM at dispatch. */
  tpmCost: count,
});

/** v1 had no cache directive or route; kept so old events still decode (see `upcasters`). */
export const RequestSubmittedV1 = z.object({
  type: z.literal('request.submitted'),
  version: z.literal(1),
  ...envelope,
  body: ChatCompletionBodySchema,
  stream: z.boolean(),
  source: z.enum(['trpc', 'openai']),
  estimate: TokenEstimateSchema,
  idempotencyKey: z.string().max(256).nullable(),
  /** ISO time after which the result is no longer wanted. */
  deadline: z.iso.datetime({ offset: true }).nullable(),
});

/**
 * How a request may use the exact response cache, decided at admission. `use` reads a stored answer
 * and stores a fresh one; `refresh` never reads but stores. A request that bypasses the cache, or is
 * not eligible (not deterministic, tenant not opted in), carries `null`.
 */
export const CacheDirectiveSchema = z.object({
  mode: z.enum(['use', 'refresh']),
  /** Which cache: the tenant's own, or a cache an operator shares between tenants. */
  scope: z.string().min(1).max(128),
  /** sha256 (hex) of the normalised request: model, messages, tools and answer-changing parameters. */
  key: z.string().regex(/^[0-9a-f]{64}$/),
  ttlSeconds: z.number().int().min(1).max(31_536_000),
});

/**
 * Where the dispatcher sends a request: the synchronous Chat Completions API, paced by the limiter,
 * or the Batch API (half price, answered within 24 h) for `batch`-class work whose tenant allows it.
 */
export const UpstreamRouteSchema = z.enum(['sync', 'batch_api']);

/** v2 adds what admission decided about the cache and the upstream route. */
export const RequestSubmittedV2 = RequestSubmittedV1.extend({
  version: z.literal(2),
  cache: CacheDirectiveSchema.nullable(),
  route: UpstreamRouteSchema,
});

export const RequestDispatchedV1 = z.object({
  type: z.literal('request.dispatched'),
  version: z.literal(1),
  ...envelope,
  dispatcherId: z.string().min(1).max(128),
  queueWaitMs: count,
  reservedTokens: count,
});

/**
 * Which upstream batch carries an attempt sent through the Batch API. `localId` is Sluice's own id
 * (also the batch's `metadata.sluice_batch` upstream, so a batch created by a dispatcher that died
 * before storing the upstream id is found again); the upstream ids are known later and kept with
 * the batch (`upstream_batches`), not repeated on every request.
 */
export const BatchRefSchema = z.object({ localId: z.string().min(1).max(128) });

export const RequestDispatchedV2 = RequestDispatchedV1.extend({
  version: z.literal(2),
  /** Null for a synchronous call; the batch for an attempt sent through the Batch API. */
  batch: BatchRefSchema.nullable(),
});

export const RequestRetryScheduledV1 = z.object({
  type: z.literal('request.retry_scheduled'),
  version: z.literal(1),
  ...envelope,
  /** Why attempt `attempt` failed, e.g. `rate_limited`, `server_error`, `timeout`, `dispatcher_lost`. */
  reason: z.string().min(1).max(64),
  status: z.number().int().nullable(),
  message: z.string().max(2_000),
  delayMs: count,
  retryAt: z.iso.datetime({ offset: true }),
});

export const RequestCompletedV1 = z.object({
  type: z.literal('request.completed'),
  version: z.literal(1),
  ...envelope,
  /** The upstream ChatCompletion, as the caller receives it. */
  response: z.object({ id: z.string(), choices: z.array(z.unknown()) }).loose(),
  upstreamLatencyMs: count,
  queueWaitMs: count,
  upstreamRequestId: z.string().max(256).nullable(),
});

/**
 * What the exact response cache had to do with a completion: `hit: true` = answered from the cache
 * (no upstream call; `sourceRequestId` is the request whose answer was stored), `hit: false` = the
 * request was eligible (its submission carried a cache directive) and went upstream; its answer is
 * stored under `scope`/`key` for `ttlSeconds`.
 */
export const CompletionCacheSchema = z.object({
  hit: z.boolean(),
  scope: CacheDirectiveSchema.shape.scope,
  key: CacheDirectiveSchema.shape.key,
  ttlSeconds: CacheDirectiveSchema.shape.ttlSeconds,
  sourceRequestId: z.string().min(1).max(128).nullable(),
});

/** v2 records whether the answer came from the exact response cache (v1 upcasts to `cache: null`). */
export const RequestCompletedV2 = RequestCompletedV1.extend({
  version: z.literal(2),
  cache: CompletionCacheSchema.nullable(),
});

export const RequestFailedV1 = z.object({
  type: z.literal('request.failed'),
  version: z.literal(1),
  ...envelope,
  reason: z.string().min(1).max(64),
  status: z.number().int().nullable(),
  message: z.string().max(2_000),
  /** True when retries were exhausted and the request was sent to the dead-letter topic. */
  deadLettered: z.boolean(),
});

export const RequestCancelledV1 = z.object({
  type: z.literal('request.cancelled'),
  version: z.literal(1),
  ...envelope,
  reason: z.string().max(500),
  cancelledBy: z.enum(['tenant', 'operator', 'deadline']),
});

/** v1 knew prompt and completion tokens only; kept so old events still decode (see `upcasters`). */
export const UsageRecordedV1 = z.object({
  type: z.literal('usage.recorded'),
  version: z.literal(1),
  ...envelope,
  promptTokens: count,
  completionTokens: count,
  totalTokens: count,
});

export const UsageRecordedV2 = z.object({
  type: z.literal('usage.recorded'),
  version: z.literal(2),
  ...envelope,
  promptTokens: count,
  /** Part of promptTokens served from OpenAI's prompt cache (billed at the cached-input price). */
  cachedTokens: count,
  completionTokens: count,
  /** Part of completionTokens spent on reasoning (billed as output). */
  reasoningTokens: count,
  totalTokens: count,
  /** True when the upstream never reported usage (e.g. an interrupted stream) and this is the estimate. */
  estimated: z.boolean(),
  /** How the tokens were bought: synchronous API, Batch API (discounted), or answered from cache. */
  channel: z.enum(['sync', 'batch', 'cache']),
});

// ---- current versions: every event names its endpoint; bodies and results are per endpoint ----

/**
 * The service tier admission settled on, when it settled one: chosen by Sluice from the tenant's
 * policy and the deadline (`sluice`, written into the body's `service_tier`), or named by the
 * client and allowed (`client`). `fallback`: the tenant allows a flex request that can no longer
 * meet its deadline to go at the default tier instead (recorded on `request.dispatched`).
 */
export const TierChoiceSchema = z.object({
  tier: z.enum(['flex', 'priority']),
  chosenBy: z.enum(['sluice', 'client']),
  fallback: z.boolean(),
});

/** v3 names the endpoint; the body is that endpoint's (a union discriminated by `endpoint`). */
export const RequestSubmittedV3 = perEndpoint(
  {
    type: z.literal('request.submitted'),
    version: z.literal(3),
    ...envelope,
    stream: z.boolean(),
    source: z.enum(['trpc', 'openai']),
    estimate: TokenEstimateSchema,
    idempotencyKey: z.string().max(256).nullable(),
    deadline: z.iso.datetime({ offset: true }).nullable(),
    cache: CacheDirectiveSchema.nullable(),
    route: UpstreamRouteSchema,
    /**
     * A streamed request's caller: the API process holding its connection, to which the dispatcher
     * pushes the chunks as they come. Null when no process waits for a stream (not streamed, or
     * submitted before streams were pushed).
     */
    replyTo: z
      .object({ url: z.url({ protocol: /^https?$/ }).max(2_048) })
      .nullable()
      .default(null),
    /** The service tier admission settled on; null: none (submitted before tiers were chosen, or none applies). */
    tier: TierChoiceSchema.nullable().default(null),
  },
  'body',
  'body',
);

export const RequestDispatchedV3 = RequestDispatchedV2.extend({
  version: z.literal(3),
  ...envelopeWithEndpoint,
  /** The `service_tier` this attempt was sent with; null: none named (or recorded before tiers). */
  serviceTier: z.string().max(32).nullable().default(null),
  /**
   * Why a flex request went at the default tier instead: its deadline was too near for flex
   * (`deadline`), or flex stayed unavailable until its last attempt (`unavailable`). Null: no fallback.
   */
  tierFallback: z.enum(['deadline', 'unavailable']).nullable().default(null),
});

export const RequestRetryScheduledV2 = RequestRetryScheduledV1.extend({
  version: z.literal(2),
  ...envelopeWithEndpoint,
});

/**
 * v3 names the endpoint; `response` is that endpoint's result as the caller receives it, and the
 * upstream's `openai-processing-ms` is kept beside its request id (both are relayed to the caller).
 */
export const RequestCompletedV3 = perEndpoint(
  {
    type: z.literal('request.completed'),
    version: z.literal(3),
    ...envelope,
    upstreamLatencyMs: count,
    queueWaitMs: count,
    upstreamRequestId: z.string().max(256).nullable(),
    upstreamProcessingMs: count.nullable(),
    cache: CompletionCacheSchema.nullable(),
  },
  'response',
  'result',
);

/** The upstream's own error, as OpenAI sent it: relayed to the caller unchanged. */
export const UpstreamErrorSchema = z.object({
  message: z.string().max(4_000),
  type: z.string().max(128).nullable(),
  param: z.string().max(256).nullable(),
  code: z.string().max(128).nullable(),
});

/** v2 names the endpoint and keeps the upstream's error body and request id, for a faithful relay. */
export const RequestFailedV2 = RequestFailedV1.extend({
  version: z.literal(2),
  ...envelopeWithEndpoint,
  /** Null when the failure was not an upstream answer (admission, timeout, dropped connection). */
  upstreamError: UpstreamErrorSchema.nullable(),
  upstreamRequestId: z.string().max(256).nullable(),
});

export const RequestCancelledV2 = RequestCancelledV1.extend({
  version: z.literal(2),
  ...envelopeWithEndpoint,
});

/**
 * v3 names the endpoint (usage is reported per endpoint), the service tier the upstream says it
 * used (billing prices by tier), and counted units that are not tokens (e.g. built-in tool calls).
 */
export const UsageRecordedV3 = UsageRecordedV2.extend({
  version: z.literal(3),
  ...envelopeWithEndpoint,
  serviceTier: z.string().max(32).nullable(),
  units: z.record(z.string().min(1).max(64), count),
});

/** The current version of every event: what is written today. */
export const SluiceEventSchema = z.discriminatedUnion('type', [
  RequestSubmittedV3,
  RequestDispatchedV3,
  RequestRetryScheduledV2,
  RequestCompletedV3,
  RequestFailedV2,
  RequestCancelledV2,
  UsageRecordedV3,
]);

export type SluiceEvent = z.infer<typeof SluiceEventSchema>;
export type SluiceEventType = SluiceEvent['type'];
export type EventOfType<T extends SluiceEventType> = Extract<SluiceEvent, { type: T }>;

export type RequestSubmitted = EventOfType<'request.submitted'>;
export type RequestDispatched = EventOfType<'request.dispatched'>;
export type RequestRetryScheduled = EventOfType<'request.retry_scheduled'>;
export type RequestCompleted = EventOfType<'request.completed'>;
export type RequestFailed = EventOfType<'request.failed'>;
export type RequestCancelled = EventOfType<'request.cancelled'>;
export type UsageRecorded = EventOfType<'usage.recorded'>;
export type TokenEstimate = z.infer<typeof TokenEstimateSchema>;
export type CacheDirective = z.infer<typeof CacheDirectiveSchema>;
export type CompletionCache = z.infer<typeof CompletionCacheSchema>;
export type UpstreamRoute = z.infer<typeof UpstreamRouteSchema>;
export type TierChoice = z.infer<typeof TierChoiceSchema>;
export type BatchRef = z.infer<typeof BatchRefSchema>;
export type UpstreamError = z.infer<typeof UpstreamErrorSchema>;

export const SLUICE_EVENT_TYPES = [
  'request.submitted',
  'request.dispatched',
  'request.retry_scheduled',
  'request.completed',
  'request.failed',
  'request.cancelled',
  'usage.recorded',
] as const satisfies readonly SluiceEventType[];

/** Events that end a request: no further attempt follows. */
export const TERMINAL_EVENT_TYPES = ['request.completed', 'request.failed', 'request.cancelled'] as const;

/**
 * The deterministic id of a fact: one per request, attempt and type. Appending it twice is a no-op.
 */
export function eventIdFor(type: SluiceEventType, requestId: string, attempt: number): string {
  return `${requestId}/${attempt}/${type}`;
}

/** The envelope fields of an event, to build the next event about the same request. */
export type EventEnvelope = Pick<
  SluiceEvent,
  'requestId' | 'tenantId' | 'pool' | 'model' | 'priority' | 'attempt' | 'occurredAt' | 'endpoint'
>;
