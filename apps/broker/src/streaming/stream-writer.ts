import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { type ClientRequest, request as httpRequest } from 'node:http';
import type { StreamHead, StreamTarget, StreamTargets } from './stream-target';

/** How the process calling upstream writes a streamed answer to its caller. */
export interface StreamWriter {
  /** Resolves when the caller can take more (backpressure). */
  write(text: string): Promise<void>;
  /** The last text (end marker, or the event saying why the stream broke), then the stream ends. */
  end(text: string): Promise<void>;
  /** The caller went away, or its API process is gone. */
  closed(): boolean;
  onClose(listener: () => void): void;
}

/** Where a streamed request's caller waits: an API process that answers the push route. */
export interface ReplyTo {
  url: string;
}

/** The push route, on every API process; a push names the request it answers. */
export const PUSH_PATH = '/_sluice/streams';
export const HEAD_HEADER = 'x-sluice-stream-head';
export const COMPLETE_TRAILER = 'x-sluice-stream-complete';

/**
 * Only a process holding the cluster's push secret (every Sluice process reads it from the
 * database) may push to a caller: the token is an HMAC of the request id, so no secret travels
 * in the log or the event store.
 */
export function pushToken(secret: string, requestId: string): string {
  return createHmac('sha256', secret).update(requestId).digest('hex');
}

export function validPushToken(secret: string, requestId: string, presented: string | undefined): boolean {
  if (!presented) return false;
  const expected = Buffer.from(pushToken(secret, requestId));
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A writer straight into a caller of this process. */
function localWriter(target: StreamTarget, head: StreamHead): StreamWriter {
  target.open(head);
  return {
    async write(text) {
      if (!target.write(text)) await target.drained();
    },
    async end(text) {
      target.end(text);
    },
    closed: () => target.closed,
    onClose: (l) => target.onClose(l),
  };
}

/** A writer into a caller of another API process: one chunked POST, its bytes the stream's bytes. */
function pushWriter(replyTo: ReplyTo, requestId: string, secret: string, head: StreamHead): StreamWriter {
  const url = new URL(`${PUSH_PATH}/${encodeURIComponent(requestId)}`, replyTo.url);
  const req: ClientRequest = httpRequest(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${pushToken(secret, requestId)}`,
      'content-type': 'application/x-sluice-stream',
      [HEAD_HEADER]: JSON.stringify(head),
      trailer: COMPLETE_TRAILER,
    },
  });
  req.setNoDelay(true);
  let closed = false;
  const listeners: Array<() => void> = [];
  const close = () => {
    if (closed) return;
    closed = true;
    for (const l of listeners.splice(0)) l();
  };
  req.on('error', close);
  req.on('close', close);
  // The caller's process answers only when the stream is over for it (or refuses a stale push).
  req.on('response', (res) => {
    res.resume();
    close();
  });
  req.flushHeaders();
  return {
    async write(text) {
      if (closed) return;
      if (!req.write(text)) await Promise.race([once(req, 'drain'), once(req, 'close')]);
    },
    async end(text) {
      if (closed) return;
      req.addTrailers({ [COMPLETE_TRAILER]: '1' });
      req.end(text);
      await once(req, 'close').catch(() => {});
    },
    closed: () => closed,
    onClose(l) {
      if (closed) l();
      else listeners.push(l);
    },
  };
}

/**
 * Opens the way to a streamed request's caller: in this process when it waits here, else the API
 * process its submission names. Undefined when there is no caller to stream to (it went away).
 */
export function createStreamOpener(deps: { targets: StreamTargets; secret: string }) {
  return {
    open(requestId: string, replyTo: ReplyTo | null | undefined, head: StreamHead): StreamWriter | undefined {
      const local = deps.targets.take(requestId);
      if (local) return localWriter(local, head);
      if (!replyTo) return undefined;
      return pushWriter(replyTo, requestId, deps.secret, head);
    },
  };
}

export type StreamOpener = ReturnType<typeof createStreamOpener>;
