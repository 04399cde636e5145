import { once } from 'node:events';
import type { ServerResponse } from 'node:http';

/** What the process calling upstream says about the answer before its first chunk. */
export interface StreamHead {
  upstreamRequestId: string | null;
  processingMs: number | null;
}

/**
 * A caller waiting for a streamed answer, on the API process that holds its connection. The
 * process calling upstream writes into it — in this process directly, or from another through the
 * push route — and backpressure flows to it: `write` says when the caller's buffer is full.
 */
export interface StreamTarget {
  readonly requestId: string;
  /** Resolves when the answer starts (the upstream answered its headers). */
  readonly opened: Promise<StreamHead>;
  /** Resolves when the stream is over, whichever way it ended. */
  readonly finished: Promise<void>;
  open(head: StreamHead): void;
  /** False when the caller's buffer is full: wait for `drained()` before writing more. */
  write(text: string | Uint8Array): boolean;
  drained(): Promise<void>;
  /** Ends the stream after `text` (its end marker, if the writer has not sent it). */
  end(text: string): void;
  /** Ends the stream with the event saying it broke (the writer went away before its end). */
  fail(): void;
  /** The caller went away (or the stream ended): nothing more reaches it. */
  readonly closed: boolean;
  onClose(listener: () => void): void;
}

/**
 * A target over the caller's HTTP response: `open` writes the 200 with the server-sent events
 * headers (plus the request ids), `write` passes bytes through unchanged.
 */
export function responseTarget(opts: {
  requestId: string;
  res: ServerResponse;
  /** Headers of the answer besides the stream's own (Sluice's request id, the cache's verdict). */
  headers: () => Record<string, string>;
  /** Called just before the 200 is written: the HTTP framework stops owning the response. */
  beforeOpen: () => void;
  /** The endpoint's event for a stream broken before its end. */
  brokenEvent: string;
}): StreamTarget {
  const { requestId, res, headers } = opts;
  let resolveOpened!: (head: StreamHead) => void;
  const opened = new Promise<StreamHead>((r) => {
    resolveOpened = r;
  });
  let resolveFinished!: () => void;
  const finished = new Promise<void>((r) => {
    resolveFinished = r;
  });
  let closed = false;
  const listeners: Array<() => void> = [];
  const close = () => {
    if (closed) return;
    closed = true;
    resolveFinished();
    for (const l of listeners.splice(0)) l();
  };
  res.on('close', close);
  return {
    requestId,
    opened,
    finished,
    open(head) {
      if (res.headersSent) return;
      opts.beforeOpen();
      res.writeHead(200, {
        ...headers(),
        ...(head.upstreamRequestId ? { 'x-request-id': head.upstreamRequestId } : {}),
        ...(head.processingMs !== null ? { 'openai-processing-ms': String(head.processingMs) } : {}),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        // Proxies must not buffer a stream.
        'x-accel-buffering': 'no',
      });
      res.flushHeaders();
      resolveOpened(head);
    },
    write: (text) => (closed ? false : res.write(text)),
    async drained() {
      if (closed || !res.writableNeedDrain) return;
      await Promise.race([once(res, 'drain'), finished]);
    },
    end(text) {
      if (!closed) res.end(text);
      close();
    },
    fail() {
      if (!closed) res.end(opts.brokenEvent);
      close();
    },
    get closed() {
      return closed;
    },
    onClose(listener) {
      if (closed) listener();
      else listeners.push(listener);
    },
  };
}

/** The callers of this process waiting for streamed answers, by request id. */
export function createStreamTargets() {
  const waiting = new Map<string, StreamTarget>();
  return {
    add(target: StreamTarget): void {
      waiting.set(target.requestId, target);
      void target.finished.then(() => {
        if (waiting.get(target.requestId) === target) waiting.delete(target.requestId);
      });
    },
    /** The caller of `requestId`, for the one attempt that streams to it (taken, so a second cannot). */
    take(requestId: string): StreamTarget | undefined {
      const t = waiting.get(requestId);
      if (t) waiting.delete(requestId);
      return t && !t.closed ? t : undefined;
    },
    size: () => waiting.size,
  };
}

export type StreamTargets = ReturnType<typeof createStreamTargets>;
