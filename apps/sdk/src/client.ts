import type { AppRouter } from '@sluice/broker';
import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
  type TRPCClientErrorLike,
} from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { EventSource } from 'eventsource';

export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;

/** Chat completion parameters: the same shape as the openai SDK's `chat.completions.create`. */
export type ChatCompletionParams = RouterInputs['chat']['completions']['create']['params'];
export type EmbeddingParams = RouterInputs['embeddings']['create']['params'];
export type CompletionParams = RouterInputs['completions']['create']['params'];
export type ModerationParams = RouterInputs['moderations']['create']['params'];
/** Responses API parameters: the same shape as the openai SDK's `responses.create`. */
export type ResponseCreateParams = RouterInputs['responses']['create']['params'];
export type SubmitOptions = NonNullable<RouterInputs['requests']['submit']['options']>;
export type Priority = NonNullable<SubmitOptions['priority']>;
export type ChatCompletion = RouterOutputs['chat']['completions']['create'];
export type CreateEmbeddingResponse = RouterOutputs['embeddings']['create'];
export type Completion = RouterOutputs['completions']['create'];
export type ModerationCreateResponse = RouterOutputs['moderations']['create'];
export type Response = RouterOutputs['responses']['create'];
export type ResponseItemList = RouterOutputs['responses']['inputItems'];
export type ResponseDeleted = RouterOutputs['responses']['delete'];
export type Submitted = RouterOutputs['requests']['submit'];
export type RequestView = RouterOutputs['requests']['get'];
export type UsageQuery = NonNullable<RouterInputs['usage']['mine']>;

export interface SluiceClientOptions {
  /** Base URL of the Sluice server, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The tenant key (`sk-sluice-…`). */
  apiKey: string;
  /** Custom fetch (tests, proxies). */
  fetch?: typeof fetch;
  /**
   * Send concurrent `submit` calls together, up to `SUBMIT_BATCH.maxItems` per HTTP request
   * (default true). Each call still gets its own id or its own error; a submit waits one timer
   * tick (about 1 ms) for others to join it.
   */
  batchSubmits?: boolean;
}

/**
 * How concurrent submits share an HTTP request. A submit's cost on the server is mostly per HTTP
 * request, so a bulk loader that keeps many submits in flight gets several times the throughput.
 * Only small submits are batched, so a full batch stays far below the server's body limit
 * (`SLUICE_MAX_BODY_BYTES`, 2 MiB by default) and the server's batch limit (64 calls).
 */
export const SUBMIT_BATCH = { maxItems: 32, maxInputBytes: 8 * 1024 } as const;

/** An error from Sluice with the reason in `code` and, when useful, when to retry. */
export class SluiceClientError extends Error {
  override readonly name = 'SluiceClientError';
  constructor(
    message: string,
    readonly code: string,
    readonly httpStatus: number | undefined,
    readonly sluiceCode: string | null,
    readonly retryAfterMs: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type ErrorData = {
  code?: string;
  httpStatus?: number;
  sluiceCode?: string | null;
  retryAfterMs?: number | null;
};

function toClientError(error: unknown): unknown {
  if (!(error instanceof TRPCClientError)) return error;
  const data = (error as TRPCClientErrorLike<AppRouter>).data as ErrorData | undefined;
  return new SluiceClientError(
    error.message,
    data?.code ?? 'UNKNOWN',
    data?.httpStatus,
    data?.sluiceCode ?? null,
    data?.retryAfterMs ?? null,
    { cause: error },
  );
}

async function call<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (error) {
    throw toClientError(error);
  }
}

/**
 * The typed Sluice client. `chat.completions.create` mirrors the openai SDK; `submit` / `wait` /
 * `watch` / `cancel` are the asynchronous form: `submit` returns once the request is durably logged.
 */
export function createSluiceClient(options: SluiceClientOptions) {
  const base = options.url.replace(/\/+$/, '');
  const authorization = `Bearer ${options.apiKey}`;
  const doFetch = options.fetch ?? globalThis.fetch;

  const trpc = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: `${base}/trpc`,
          EventSource,
          // The key travels in a header, never in the URL.
          eventSourceOptions: {
            fetch: (input, init) =>
              doFetch(input, {
                ...init,
                headers: { ...(init?.headers as Record<string, string>), authorization },
              }),
          },
        }),
        false: splitLink({
          condition: (op) =>
            options.batchSubmits !== false &&
            op.path.endsWith('.submit') &&
            JSON.stringify(op.input).length <= SUBMIT_BATCH.maxInputBytes,
          true: httpBatchLink({
            url: `${base}/trpc`,
            headers: { authorization },
            fetch: doFetch,
            maxItems: SUBMIT_BATCH.maxItems,
          }),
          false: httpLink({ url: `${base}/trpc`, headers: { authorization }, fetch: doFetch }),
        }),
      }),
    ],
  });

  /** Async iterator over a tRPC subscription, ending when the server completes it. */
  function watch(id: string, opts: { signal?: AbortSignal } = {}): AsyncIterable<RequestView> {
    return {
      [Symbol.asyncIterator]() {
        const buffer: RequestView[] = [];
        let done = false;
        let failure: unknown;
        let notify: (() => void) | undefined;
        const wake = () => {
          notify?.();
          notify = undefined;
        };
        const sub = trpc.requests.watch.subscribe(
          { id },
          {
            onData: (view) => {
              buffer.push(view as RequestView);
              wake();
            },
            onError: (error) => {
              failure = toClientError(error);
              done = true;
              wake();
            },
            onComplete: () => {
              done = true;
              wake();
            },
          },
        );
        opts.signal?.addEventListener('abort', () => {
          sub.unsubscribe();
          done = true;
          wake();
        });
        return {
          async next(): Promise<IteratorResult<RequestView>> {
            for (;;) {
              const view = buffer.shift();
              if (view) {
                if (['completed', 'failed', 'cancelled'].includes(view.status)) {
                  done = true;
                  sub.unsubscribe();
                }
                return { value: view, done: false };
              }
              if (failure) throw failure;
              if (done) return { value: undefined, done: true };
              await new Promise<void>((r) => {
                notify = r;
              });
            }
          },
          async return(): Promise<IteratorResult<RequestView>> {
            sub.unsubscribe();
            done = true;
            return { value: undefined, done: true };
          },
        };
      },
    };
  }

  /**
   * One endpoint's calls, as the openai SDK names them: `create` submits and waits for the result,
   * `submit` returns the id once the request is durably logged, `wait(id)` waits for its result.
   */
  function operation<Params, Result>(procedures: {
    create: { mutate(input: { params: Params; options?: SubmitOptions }): Promise<Result> };
    submit: { mutate(input: { params: Params; options?: SubmitOptions }): Promise<Submitted> };
    wait: { query(input: { id: string; timeoutMs?: number }): Promise<Result> };
  }) {
    const input = (params: Params, opts?: SubmitOptions) => ({ params, ...(opts ? { options: opts } : {}) });
    return {
      create: (params: Params, opts?: SubmitOptions): Promise<Result> =>
        call(procedures.create.mutate(input(params, opts))),
      submit: (params: Params, opts?: SubmitOptions): Promise<Submitted> =>
        call(procedures.submit.mutate(input(params, opts))),
      wait: (id: string, opts: { timeoutMs?: number } = {}): Promise<Result> =>
        call(procedures.wait.query({ id, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) })),
    };
  }

  return {
    chat: { completions: operation<ChatCompletionParams, ChatCompletion>(trpc.chat.completions) },
    embeddings: operation<EmbeddingParams, CreateEmbeddingResponse>(trpc.embeddings),
    completions: operation<CompletionParams, Completion>(trpc.completions),
    moderations: operation<ModerationParams, ModerationCreateResponse>(trpc.moderations),
    /**
     * The Responses API: `create` (with `background: true` it answers the queued response at once;
     * poll `retrieve(id)`), `submit` / `wait`, and the tenant's own stored responses: `retrieve`,
     * `cancel` (background ones), `delete`, `inputItems.list`. Streaming: `POST /v1/responses` with
     * `stream: true` through any OpenAI SDK (typed events over tRPC come with Sluice's streaming transport).
     */
    responses: {
      ...operation<ResponseCreateParams, Response>(trpc.responses),
      retrieve: (id: string, opts: { include?: string[] } = {}): Promise<Response> =>
        call(trpc.responses.retrieve.query({ id, ...(opts.include ? { include: opts.include } : {}) })),
      cancel: (id: string): Promise<Response> => call(trpc.responses.cancel.mutate({ id })),
      delete: (id: string): Promise<ResponseDeleted> => call(trpc.responses.delete.mutate({ id })),
      inputItems: {
        list: (
          id: string,
          q: Omit<RouterInputs['responses']['inputItems'], 'id'> = {},
        ): Promise<ResponseItemList> => call(trpc.responses.inputItems.query({ id, ...q })),
      },
    },
    /**
     * Durably queue a chat completion (other endpoints: `embeddings.submit`, …); returns its id
     * without waiting for the outcome. Submits made concurrently (e.g. `Promise.all`) travel
     * together in one HTTP request.
     */
    submit: (params: ChatCompletionParams, opts?: SubmitOptions) =>
      call(trpc.requests.submit.mutate({ params, ...(opts ? { options: opts } : {}) })),
    get: (id: string) => call(trpc.requests.get.query({ id })),
    /** Waits for the outcome of any submitted request, as its view (the request goes on if the wait times out). */
    wait: (id: string, opts: { timeoutMs?: number } = {}) =>
      call(trpc.requests.wait.query({ id, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) })),
    /** Streams status changes of a request, ending with its outcome. */
    watch,
    cancel: (id: string) => call(trpc.requests.cancel.mutate({ id })),
    list: (q: RouterInputs['requests']['list'] = {}) => call(trpc.requests.list.query(q)),
    /** Usage of the calling tenant (never another tenant's). */
    usage: (q?: UsageQuery) => call(trpc.usage.mine.query(q)),
    /** The calling tenant's budget this period: limits, spent and remaining (micro-dollars, tokens). */
    budget: () => call(trpc.usage.budget.query()),
    /** The raw tRPC client, for everything else. */
    trpc,
  };
}

export type SluiceClient = ReturnType<typeof createSluiceClient>;
