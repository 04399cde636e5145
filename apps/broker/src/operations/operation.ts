import type { Endpoint, TokenEstimate, UpstreamError } from '@sluice/events';
import type { SimulatedEndpoint } from '@sluice/openai-simulator';
import type { z } from 'zod';

/** Tokens and units the upstream reported for one answer, in the kinds billing prices. */
export interface Usage {
  promptTokens: number;
  /** Part of promptTokens served from OpenAI's prompt cache (cached-input price). */
  cachedTokens: number;
  completionTokens: number;
  /** Part of completionTokens spent on reasoning (billed as output). */
  reasoningTokens: number;
  totalTokens: number;
  /** The tier the upstream says it served (`service_tier`), when it says. */
  serviceTier: string | null;
  /** Counted units that are not tokens (e.g. built-in tool calls), by kind. */
  units: Record<string, number>;
}

/** The exact response cache's view of an endpoint. */
export interface CachePolicy<Body, Result> {
  /** Deterministic enough that two equal requests may share one answer without asking for it. */
  deterministic(body: Body): boolean;
  /** A whole, normal answer (never an error, a filtered or a partial one). */
  storable(result: Result): boolean;
}

/**
 * How an endpoint streams. Once the limiter sent a streamed request, the upstream's chunks reach
 * the caller as they arrive (`streaming/`); the policy says what differs between endpoints: how
 * usage is asked for and recognised, how chunks are framed, and how they fold into the whole
 * answer that is recorded, cached and billed like an unstreamed one.
 */
export interface StreamPolicy<Body, Result> {
  /** The request asked for a stream. */
  requested(body: Body): boolean;
  /** The caller asked for the usage chunk (`stream_options.include_usage`). */
  includeUsage(body: Body): boolean;
  /** The body sent upstream: asks for usage even when the caller did not, so it is recorded once. */
  upstreamBody(body: Body): Record<string, unknown>;
  /** A chunk that carries only usage the caller did not ask for: recorded, never forwarded. */
  usageOnly(chunk: unknown, body: Body): boolean;
  /** One chunk as a server-sent event, as the upstream framed it. */
  frame(chunk: unknown): string;
  /** What ends a stream after its last chunk (`data: [DONE]` for chunk streams; nothing for typed events). */
  end: string;
  /** Folds streamed chunks into the whole answer. */
  assembler(): StreamAssembler<Result>;
  /** A whole answer as the chunks the upstream would have streamed (a cache hit, a duplicate). */
  chunks(result: Result, includeUsage: boolean): unknown[];
  /** The event that ends a stream broken after its first byte, naming the request. */
  errorEvent(message: string, requestId: string): string;
}

/** Streamed chunks folded into the answer the same call would have returned unstreamed. */
export interface StreamAssembler<Result> {
  add(chunk: unknown): void;
  /** The whole answer; undefined while (or when) the stream never reached its end. */
  result(): Result | undefined;
  /** The output text streamed so far: what an interrupted stream is billed from. */
  text(): string;
}

/** A chunk as one `data:` server-sent event. */
export function sseData(chunk: unknown): string {
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

/** OpenAI's error body as the one event that ends a broken stream. */
export function sseError(message: string, requestId: string, type = 'server_error'): string {
  return sseData({
    error: { message: `${message} (request ${requestId})`, type, param: null, code: 'stream_interrupted' },
  });
}

/** Upstream state a request continues (a response chain, a conversation, stored items), by its id. */
export interface StateRef {
  kind: 'response' | 'conversation' | 'item';
  id: string;
  /** The request field naming it, for refusals (`previous_response_id`, `input[2]`). */
  param: string;
}

/**
 * Requests answered at once with a placeholder naming them (`background: true` responses): the
 * caller polls for the real answer. The placeholder's id stays the answer's id for that caller.
 */
export interface DeferredPolicy<Body, Result> {
  requested(body: Body): boolean;
  /** What the caller gets at once for request `requestId`, submitted at `at` (epoch ms). */
  placeholder(body: Body, requestId: string, at: number): Result;
  /** The answer of request `requestId` as its caller sees it (a deferred one keeps the placeholder's id). */
  present(result: Result, requestId: string): Result;
}

/** Answers the upstream finishes later, or that report a failure inside a 200 (background responses). */
export interface SettlePolicy<Result> {
  /** Work the upstream still does: where to poll it and how to cancel it (paths under `/v1`); null: final. */
  pending(result: Result): { poll: string; cancel: string } | null;
  /** A final answer that reports a failure (a `failed` response), as the upstream's error; null: a success. */
  failure(result: Result): { status: number; error: UpstreamError } | null;
}

/**
 * One OpenAI endpoint as Sluice brokers it: everything that differs between endpoints. Intake,
 * the dispatcher, the Batch API path, the cache, billing, reports and the SDK are generic over
 * operations; adding an endpoint is a folder with its descriptor and one line in `registry.ts`.
 */
export interface Operation<
  E extends Endpoint = Endpoint,
  Body extends Record<string, unknown> = Record<string, unknown>,
  Result = unknown,
> {
  endpoint: E;
  /** What Sluice reads from a request, validated at the edge; every other field passes through unchanged. */
  request: z.ZodType<Body>;
  models: {
    /** Model ids known to be served by this endpoint (a known id on the wrong endpoint is refused). */
    known: RegExp;
    /** The model used when the request names none (moderations). */
    default?: string;
    /** OpenAI's refusal of a model that another endpoint serves, naming that endpoint. */
    refuse(model: string, rightEndpoint: Endpoint): { status: 400 | 404; message: string };
  };
  /** Prompt tokens, output allowance and the TPM charge the upstream will make at dispatch. */
  estimate(body: Body, model: string): TokenEstimate;
  /** Refusals past the schema that need the estimate (context window, per-request limits); throws. */
  fit(body: Body, model: string, estimate: TokenEstimate): void;
  /** Billable usage of an answer; undefined when the upstream reported none (the estimate is billed). */
  usage(result: Result): Usage | undefined;
  /** Null: never cached. */
  cache: CachePolicy<Body, Result> | null;
  /** The Batch API's `url` for this endpoint; null: always synchronous. */
  batch: { url: E } | null;
  /** Null: the endpoint does not stream. */
  stream: StreamPolicy<Body, Result> | null;
  /** Which price table bills it: per-token prices, or nothing (moderations are free). */
  priceTable: 'tokens' | 'free';
  /** How the project's OpenAI simulator answers it (the embedded demo serves exactly what Sluice brokers). */
  simulator: SimulatedEndpoint;
  /** Upstream state the request continues: it goes to the pool that holds it (absent: none). */
  upstreamState?(body: Body): StateRef[];
  /** Requests answered at once and polled (absent: every caller waits for the answer). */
  deferred?: DeferredPolicy<Body, Result>;
  /** Answers finished by polling the upstream (absent: the first answer is final). */
  settle?: SettlePolicy<Result>;
}

/** Any operation, whatever its body and result types (the registry's element type). */
// biome-ignore lint/suspicious/noExplicitAny: the registry holds operations of every body and result type
export type AnyOperation = Operation<Endpoint, any, any>;

export type BodyOf<O> = O extends Operation<Endpoint, infer B, unknown> ? B : never;
export type ResultOf<O> = O extends Operation<Endpoint, Record<string, unknown>, infer R> ? R : never;

/** The usage of an answer that reported none: what was estimated, marked so by the caller. */
export function estimatedUsage(estimate: TokenEstimate): Usage {
  return {
    promptTokens: estimate.promptTokens,
    cachedTokens: 0,
    completionTokens: estimate.maxOutputTokens,
    reasoningTokens: 0,
    totalTokens: estimate.promptTokens + estimate.maxOutputTokens,
    serviceTier: null,
    units: {},
  };
}

/** `service_tier` of an answer, when it names one. */
export function serviceTierOf(result: unknown): string | null {
  const tier = (result as { service_tier?: unknown } | null)?.service_tier;
  return typeof tier === 'string' && tier.length > 0 && tier.length <= 32 ? tier : null;
}
