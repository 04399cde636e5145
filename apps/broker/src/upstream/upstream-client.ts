import type { Endpoint, UpstreamError } from '@sluice/events';
import OpenAI from 'openai';
import type { Stream } from 'openai/core/streaming';
import { scrubSecrets } from '../logger';
import { DEFAULT_FLEX_TIMEOUT_MS, type PoolConfig } from './pools';

export interface UpstreamSuccess {
  /** The answer as the upstream sent it (validated against the endpoint's result shape by the caller). */
  result: unknown;
  status: number;
  headers: Headers;
  upstreamRequestId: string | null;
  /** `openai-processing-ms`, when the upstream sent it. */
  processingMs: number | null;
}

/** A failed upstream call, with what the limiter needs to classify it and learn from it. */
export class UpstreamFailure extends Error {
  override readonly name = 'UpstreamFailure';
  constructor(
    message: string,
    readonly facts: {
      status?: number;
      headers?: Headers;
      body?: unknown;
      errorCode?: string;
      timedOut?: boolean;
      connectionError?: boolean;
      malformed?: boolean;
      /** The upstream's error body, as sent, when it answered one. */
      upstreamError?: UpstreamError;
      upstreamRequestId?: string | null;
    },
  ) {
    super(message);
  }
}

/** A streamed answer once the upstream sent its headers: its chunks come as they are generated. */
export interface UpstreamStream extends Omit<UpstreamSuccess, 'result'> {
  /** Parsed server-sent events' data; throws `UpstreamFailure` if the stream breaks or reports an error. */
  chunks: AsyncIterable<unknown>;
}

export interface UpstreamClient {
  /** One attempt at `endpoint` with the body as the tenant sent it. */
  call(
    pool: string,
    endpoint: Endpoint,
    body: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<UpstreamSuccess>;
  /** One streamed attempt (`body` asks for the stream): resolves at the headers, throws before them. */
  stream(
    pool: string,
    endpoint: Endpoint,
    body: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<UpstreamStream>;
  /**
   * Any other call on the pool, by method and path under `/v1` (a stored response's retrieve,
   * cancel, delete, input items): not paced, since it spends no model quota.
   */
  request(
    pool: string,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    opts?: {
      query?: Record<string, string | string[]>;
      body?: Record<string, unknown>;
      signal?: AbortSignal;
    },
  ): Promise<UpstreamSuccess>;
}

/**
 * Calls any endpoint with the official openai SDK's generic `post`, one client per pool: the body
 * goes as the tenant sent it and the answer comes back as the upstream sent it (the SDK's typed
 * methods would rewrite both, e.g. embeddings' `encoding_format`). The SDK's own retries are off
 * (`maxRetries: 0`): the limiter owns retries, so a 429 is never retried blindly.
 */
export function createUpstreamClient(pools: readonly PoolConfig[]): UpstreamClient {
  const clients = openaiClientsByPool(pools);
  const flexTimeouts = new Map(pools.map((p) => [p.name, p.flexTimeoutMs ?? DEFAULT_FLEX_TIMEOUT_MS]));
  const request: UpstreamClient['request'] = async (pool, method, path, opts = {}) => {
    const client = clients.get(pool);
    if (!client) throw new UpstreamFailure(`no upstream pool named ${pool}`, { status: 404 });
    // Flex answers slowly: its calls wait longer than the pool's ordinary timeout.
    const flex = opts.body?.service_tier === 'flex';
    const options = {
      ...(flex ? { timeout: flexTimeouts.get(pool) ?? DEFAULT_FLEX_TIMEOUT_MS } : {}),
      ...(opts.body ? { body: opts.body } : {}),
      ...(opts.query ? { query: opts.query } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
    const relative = path.replace(/^\/v1/, '');
    try {
      const { data, response } = await (method === 'GET'
        ? client.get<unknown>(relative, options)
        : method === 'DELETE'
          ? client.delete<unknown>(relative, options)
          : client.post<unknown>(relative, options)
      ).withResponse();
      return { result: data, ...answerFacts(response) };
    } catch (error) {
      throw toUpstreamFailure(error);
    }
  };
  const stream: UpstreamClient['stream'] = async (pool, endpoint, body, signal) => {
    const client = clients.get(pool);
    if (!client) throw new UpstreamFailure(`no upstream pool named ${pool}`, { status: 404 });
    try {
      const { data, response } = await client
        .post<Stream<unknown>>(endpoint.replace(/^\/v1/, ''), {
          body,
          stream: true,
          signal,
          ...(body.service_tier === 'flex'
            ? { timeout: flexTimeouts.get(pool) ?? DEFAULT_FLEX_TIMEOUT_MS }
            : {}),
        })
        .withResponse();
      return { ...answerFacts(response), chunks: failuresOf(data) };
    } catch (error) {
      throw toUpstreamFailure(error);
    }
  };
  return {
    call: (pool, endpoint, body, signal) =>
      request(pool, 'POST', endpoint, { body, ...(signal ? { signal } : {}) }),
    stream,
    request,
  };
}

/** What the answer's status and headers say, beside its body. */
function answerFacts(response: Response): Omit<UpstreamSuccess, 'result'> {
  const processing = Number(response.headers.get('openai-processing-ms'));
  return {
    status: response.status,
    headers: response.headers,
    upstreamRequestId: response.headers.get('x-request-id'),
    processingMs: Number.isFinite(processing) && processing >= 0 ? Math.round(processing) : null,
  };
}

/** A stream whose breaks (a dropped connection, an error event) are thrown as `UpstreamFailure`s. */
async function* failuresOf(chunks: AsyncIterable<unknown>): AsyncGenerator<unknown> {
  try {
    yield* chunks;
  } catch (error) {
    throw toUpstreamFailure(error);
  }
}

/** The `{ error: { message, type, param, code } }` an upstream answered, read defensively. */
export function upstreamErrorOf(body: unknown, fallbackMessage: string): UpstreamError {
  const e = (
    body && typeof body === 'object' && 'error' in body ? (body as { error: unknown }).error : body
  ) as Record<string, unknown> | null | undefined;
  const text = (v: unknown, max: number) => (typeof v === 'string' ? v.slice(0, max) : null);
  return {
    message: text(e?.message, 4_000) ?? fallbackMessage.slice(0, 4_000),
    type: text(e?.type, 128),
    param: text(e?.param, 256),
    code: typeof e?.code === 'number' ? String(e.code) : text(e?.code, 128),
  };
}

function toUpstreamFailure(error: unknown): UpstreamFailure {
  if (error instanceof UpstreamFailure) return error;
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new UpstreamFailure('upstream timed out', { timedOut: true });
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return new UpstreamFailure(`upstream connection failed: ${scrubSecrets(error.message)}`, {
      connectionError: true,
    });
  }
  if (error instanceof OpenAI.APIError) {
    const body = error.error as { code?: string; type?: string } | undefined;
    const code = (typeof error.code === 'string' ? error.code : undefined) ?? body?.code ?? body?.type;
    return new UpstreamFailure(scrubSecrets(error.message), {
      ...(error.status !== undefined ? { status: error.status } : {}),
      ...(error.headers ? { headers: error.headers } : {}),
      body: error.error,
      ...(code ? { errorCode: code } : {}),
      ...(error.status !== undefined
        ? { upstreamError: upstreamErrorOf({ error: error.error }, scrubSecrets(error.message)) }
        : {}),
      upstreamRequestId: error.requestID ?? null,
    });
  }
  if (error instanceof SyntaxError) {
    return new UpstreamFailure(`upstream sent malformed JSON: ${error.message}`, {
      status: 200,
      malformed: true,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new UpstreamFailure(scrubSecrets(message), { connectionError: true });
}

/** One official openai SDK client per pool, its own retries off: Sluice decides when to try again. */
export function openaiClientsByPool(pools: readonly PoolConfig[]): Map<string, OpenAI> {
  return new Map(
    pools.map((p) => [
      p.name,
      new OpenAI({
        apiKey: p.apiKey,
        ...(p.baseURL ? { baseURL: p.baseURL } : {}),
        maxRetries: 0,
        timeout: p.timeoutMs,
      }),
    ]),
  );
}
