import { type SimulatedModelKind, simulatedModelEndpoint, simulatedModelInfo } from './models';

/** A JSON request body, as parsed at the edge (an object; its fields unchecked). */
export type RequestBody = Record<string, unknown>;

/** A request OpenAI refuses before running it, as status + OpenAI error fields. */
export interface RequestError {
  status: 400 | 404;
  message: string;
  type: 'invalid_request_error';
  code: string | null;
  param: string | null;
}

/**
 * The simulator instance a call runs in, for endpoints that keep state between calls (the
 * Responses API stores responses): who calls, the clock, and per-instance state.
 */
export interface EndpointSession {
  /** What stored objects belong to: the caller's organisation, else its API key. */
  owner: string;
  /** The simulator's clock, epoch ms. */
  now(): number;
  /** This simulator instance's state under `key` (an endpoint passes itself), made on first use. */
  state<T>(key: object, make: () => T): T;
  /** The latency the server applies: background work runs on it (queued for `firstTokenMs`, then `perTokenMs` per output token). */
  latency: { firstTokenMs: number; perTokenMs: number };
}

/** What every endpoint is given besides the body. */
export interface EndpointContext {
  /** TPM charge for the output when a body sets no output limit. */
  defaultMaxTokens: number;
  /**
   * How the prompt is charged against TPM: `chars/4` (default, OpenAI's guide: ceil(chars / 4)) or
   * `tokens` (the tokenizer's exact count, as `usage.prompt_tokens` reports it).
   */
  promptCharge?: 'chars/4' | 'tokens';
  /** `created` of the answer, in epoch seconds (the simulator's clock). */
  createdSeconds: number;
  /** The instance and caller; absent where no state is kept (e.g. charging a batch file). */
  session?: EndpointSession;
  /** The server drew a failure the endpoint reports inside its answer (`faults.answerFailureRate`). */
  failMidway?: boolean;
}

/** One server-sent event of a streamed answer and the output tokens it carries (what `perTokenMs` paces). */
export interface StreamChunk {
  data: unknown;
  tokens: number;
  /** The event's type (`event:` line) in typed streams such as the Responses API's. */
  event?: string;
}

/** A produced answer: its size, its JSON form, and — when the body asked to stream — its chunks. */
export interface EndpointAnswer {
  promptTokens: number;
  /** Output tokens of all choices (0 for embeddings and moderations). */
  outputTokens: number;
  body(): Record<string, unknown>;
  /** Present when the body asked to stream and the endpoint streams; `[DONE]` is written by the server. */
  stream?: () => StreamChunk[];
  /**
   * `typed`: every chunk is written with its `event:` line and the stream ends without `[DONE]`
   * (the Responses API); `data` (default): `data:` lines, then `data: [DONE]`.
   */
  streamFormat?: 'data' | 'typed';
  /** Answered at once, without the generation latency: the work goes on in the background (`background: true`). */
  immediate?: boolean;
}

/** What a route besides an endpoint's POST answers: a status and a JSON body. */
export interface RouteAnswer {
  status: number;
  body: unknown;
}

/**
 * A route of an endpoint besides its POST (`GET /v1/responses/{id}`): not paced, not charged, not
 * counted as a model call (`stats().routes[name]` counts it).
 */
export interface SimulatedRoute {
  /** Names the route in stats, e.g. `responses.retrieve`. */
  name: string;
  method: 'GET' | 'POST' | 'DELETE';
  /** Matched against the whole path; its groups are the route's params, in order. */
  path: RegExp;
  handle(
    request: { params: string[]; query: URLSearchParams; body: RequestBody | null },
    session: EndpointSession,
  ): RouteAnswer;
}

/**
 * One OpenAI endpoint the simulator serves. The server does everything shared — auth, faults, the
 * rate limits and their headers, latency, stats, request ids — and asks the endpoint only what differs.
 */
export interface SimulatedEndpoint {
  /** Names the endpoint in stats (`chat.completions`, `embeddings`, `completions`, `moderations`). */
  name: string;
  method: 'POST';
  /** `/v1/embeddings`; also the Batch API `url` / `endpoint` of its lines. */
  path: string;
  /** The model whose limits the request draws on (a default where OpenAI has one). */
  model(body: RequestBody): string;
  /** Why OpenAI would refuse this body before running it, or null (`session`: what is stored, e.g. earlier responses). */
  refuse(body: RequestBody, session?: EndpointSession): RequestError | null;
  /** What the request is charged against TPM at admission (also a Batch API line's enqueued tokens). */
  charge(body: RequestBody, ctx: EndpointContext): number;
  /** The answer to a body `refuse` let through. */
  answer(body: RequestBody, ctx: EndpointContext): EndpointAnswer;
  /** Its other routes (retrieve, cancel, delete, …), if any. */
  routes?: readonly SimulatedRoute[];
}

export function badRequest(message: string, param: string | null, code: string | null = null): RequestError {
  return { status: 400, message, type: 'invalid_request_error', code, param };
}

/** The body of an OpenAI error answer: `{ error: { message, type, param, code } }`. */
export function errorBody(e: RequestError): RouteAnswer {
  return {
    status: e.status,
    body: { error: { message: e.message, type: e.type, param: e.param, code: e.code } },
  };
}

export function notFound(
  message: string,
  param: string | null = null,
  code: string | null = null,
): RequestError {
  return { status: 404, message, type: 'invalid_request_error', code, param };
}

export function missingParameter(param: string): RequestError {
  return badRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
}

/** OpenAI's wording for an enumerated field given a value outside it. */
export function unsupportedValue(param: string, value: unknown, supported: readonly string[]): RequestError {
  const quoted = supported.map((v) => `'${v}'`);
  const list =
    quoted.length > 2 ? `${quoted.slice(0, -1).join(', ')}, and ${quoted.at(-1)}` : quoted.join(' and ');
  return badRequest(
    `Invalid value: '${String(value)}'. Supported values are: ${list}.`,
    param,
    'invalid_value',
  );
}

/** OpenAI's wording for an integer out of its range (`integer_above_max_value` / `integer_below_min_value`). */
export function integerOutOfRange(
  param: string,
  value: unknown,
  min: number,
  max: number,
): RequestError | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    return badRequest(
      `Invalid type for '${param}': expected an integer, but got ${typeof value} instead.`,
      param,
      'invalid_type',
    );
  }
  if (value > max) {
    return badRequest(
      `Invalid '${param}': integer above maximum value. Expected a value <= ${max}, but got ${value} instead.`,
      param,
      'integer_above_max_value',
    );
  }
  if (value < min) {
    return badRequest(
      `Invalid '${param}': integer below minimum value. Expected a value >= ${min}, but got ${value} instead.`,
      param,
      'integer_below_min_value',
    );
  }
  return null;
}

/**
 * The refusal for a model this endpoint does not serve: unknown (404 `model_not_found`) or of another
 * kind (`wrongKind`, naming the endpoint that serves it); null when the endpoint serves it.
 */
export function modelRefusal(
  model: string,
  serves: SimulatedModelKind,
  wrongKind: (rightEndpoint: string) => RequestError,
): RequestError | null {
  const info = simulatedModelInfo(model);
  if (!info) {
    return {
      status: 404,
      message: `The model \`${model}\` does not exist or you do not have access to it.`,
      type: 'invalid_request_error',
      code: 'model_not_found',
      param: null,
    };
  }
  if (info.kind === serves) return null;
  // OpenAI names endpoints without the leading slash: "Did you mean to use v1/embeddings?"
  return wrongKind((simulatedModelEndpoint(model) ?? '').replace(/^\//, ''));
}

/** `stop` as a list of sequences (OpenAI takes a string or up to 4 strings). */
export function stopSequences(stop: unknown): string[] {
  if (typeof stop === 'string') return stop ? [stop] : [];
  return Array.isArray(stop) ? stop.filter((s): s is string => typeof s === 'string' && s !== '') : [];
}

/** `text` up to the first stop sequence, and whether one was met. */
export function cutAtStop(text: string, stops: readonly string[]): { text: string; stopped: boolean } {
  let end = -1;
  for (const s of stops) {
    const at = text.indexOf(s);
    if (at >= 0 && (end < 0 || at < end)) end = at;
  }
  return end < 0 ? { text, stopped: false } : { text: text.slice(0, end), stopped: true };
}

/** The output-token limit a body sets, if any (`max_completion_tokens` wins, as OpenAI reads it). */
export function outputLimit(body: RequestBody): number | undefined {
  const v = body.max_completion_tokens ?? body.max_tokens;
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : undefined;
}

/** `n` choices (default 1). */
export function choiceCount(body: RequestBody): number {
  return typeof body.n === 'number' && Number.isInteger(body.n) && body.n > 0 ? body.n : 1;
}

/** Whether a streamed body asked for the final usage chunk. */
export function includeUsage(body: RequestBody): boolean {
  const so = body.stream_options as { include_usage?: unknown } | null | undefined;
  return so?.include_usage === true;
}

/** OpenAI refuses `stream_options` on a request that does not stream. */
export function streamOptionsRefusal(body: RequestBody): RequestError | null {
  if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true) {
    return badRequest(
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      'stream_options',
      'invalid_value',
    );
  }
  return null;
}

/** Streamed choices interleaved as a model emits them: each choice's k-th chunk, then the (k+1)-th. */
export function interleave(perChoice: StreamChunk[][]): StreamChunk[] {
  const out: StreamChunk[] = [];
  const longest = Math.max(0, ...perChoice.map((c) => c.length));
  for (let k = 0; k < longest; k++) for (const c of perChoice) if (k < c.length) out.push(c[k]!);
  return out;
}

/** The refusal of a body without `model`, where OpenAI requires one. */
export function missingModel(body: RequestBody): RequestError | null {
  return body.model === undefined || body.model === null
    ? badRequest('You must provide a model parameter.', 'model', 'missing_required_parameter')
    : null;
}

export const isJsonObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A non-empty array of token ids (non-negative integers), as prompts and embedding inputs may be given. */
export const isTokenArray = (v: unknown): v is number[] =>
  Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === 'number' && Number.isInteger(t) && t >= 0);
