import OpenAI from 'openai';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { scrubSecrets } from '../logger';
import type { PoolConfig } from './pools';

export interface UpstreamSuccess {
  completion: ChatCompletion;
  status: number;
  headers: Headers;
  upstreamRequestId: string | null;
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
    },
  ) {
    super(message);
  }
}

export interface UpstreamClient {
  chat(pool: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<UpstreamSuccess>;
}

/**
 * Sends chat completions with the official openai SDK, one client per pool. The SDK's own retries
 * are off (`maxRetries: 0`): the limiter owns retries, so a 429 is never retried blindly.
 */
export function createUpstreamClient(pools: readonly PoolConfig[]): UpstreamClient {
  const clients = openaiClientsByPool(pools);
  return {
    async chat(pool, body, signal) {
      const client = clients.get(pool);
      if (!client) throw new UpstreamFailure(`no upstream pool named ${pool}`, { status: 404 });
      try {
        const { data, response } = await client.chat.completions
          .create({ ...body, stream: false } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming, {
            ...(signal ? { signal } : {}),
          })
          .withResponse();
        if (!data || typeof data !== 'object' || !Array.isArray((data as ChatCompletion).choices)) {
          throw new UpstreamFailure('upstream returned a body that is not a chat completion', {
            status: response.status,
            headers: response.headers,
            malformed: true,
          });
        }
        return {
          completion: data,
          status: response.status,
          headers: response.headers,
          upstreamRequestId: response.headers.get('x-request-id'),
        };
      } catch (error) {
        throw toUpstreamFailure(error);
      }
    },
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
