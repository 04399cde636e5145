import { type StreamAssembler, type StreamPolicy, sseData, sseError } from './operation';

interface ChunkStreamBody extends Record<string, unknown> {
  stream?: boolean | null | undefined;
  stream_options?: ({ include_usage?: boolean | undefined } & Record<string, unknown>) | null | undefined;
}

/**
 * Chat and legacy completions stream `data:` chunks ending in `[DONE]`; their usage comes in a last
 * chunk with no choices when `stream_options.include_usage` is set — which Sluice always sets
 * upstream, forwarding that chunk only to a caller who asked for it.
 */
export function chunkStreamPolicy<Body extends ChunkStreamBody, Result>(parts: {
  assembler: () => StreamAssembler<Result>;
  chunks: (result: Result, includeUsage: boolean) => unknown[];
}): StreamPolicy<Body, Result> {
  const includeUsage = (body: Body) => body.stream_options?.include_usage === true;
  return {
    requested: (body) => body.stream === true,
    includeUsage,
    upstreamBody: (body) => ({
      ...body,
      stream: true,
      stream_options: { ...body.stream_options, include_usage: true },
    }),
    usageOnly: (chunk, body) => {
      const c = chunk as { choices?: unknown[]; usage?: unknown };
      return !includeUsage(body) && Array.isArray(c.choices) && c.choices.length === 0 && c.usage != null;
    },
    frame: sseData,
    end: 'data: [DONE]\n\n',
    assembler: parts.assembler,
    chunks: parts.chunks,
    errorEvent: (message, requestId) => sseError(message, requestId),
  };
}

/** The Responses API streams typed events (`event: <type>`), each with its sequence number, and no `[DONE]`. */
export function typedEventStreamPolicy<Body extends { stream?: boolean | null | undefined }, Result>(parts: {
  assembler: () => StreamAssembler<Result>;
  chunks: (result: Result) => unknown[];
}): StreamPolicy<Body, Result> {
  return {
    requested: (body) => body.stream === true,
    // A response stream always ends with its usage (`response.completed`).
    includeUsage: () => true,
    upstreamBody: (body) => ({ ...body, stream: true }),
    usageOnly: () => false,
    frame: (chunk) => `event: ${(chunk as { type?: string }).type ?? 'message'}\n${sseData(chunk)}`,
    end: '',
    assembler: parts.assembler,
    chunks: (result) => parts.chunks(result),
    errorEvent: (message, requestId) =>
      `event: error\n${sseData({ type: 'error', code: 'stream_interrupted', message: `${message} (request ${requestId})`, param: null })}`,
  };
}
