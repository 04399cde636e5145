import { isUtf8 } from 'node:buffer';
import { pipeline, Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { edgeAuthOf } from './edge-auth';
import type { LargeBodyGate } from './large-bodies';

/** Why a body was refused before it was parsed (the error handler answers with these). */
export class BodyRefused extends Error {
  constructor(
    message: string,
    readonly statusCode: 400 | 408 | 415 | 429,
    readonly openaiCode: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * How request bodies are read, on both doors, before any parser (tRPC's plugin brings its own):
 * - in UTF-8 (JSON is, RFC 8259), strictly: an invalid byte is refused rather than turned into
 *   U+FFFD, and a body declared in another charset is refused rather than misread;
 * - within `timeoutMs` of the request's start, or 408: a half-sent body holds no connection for long;
 * - a tenant's large bodies a few at a time (see `large-bodies.ts`).
 * `longLived` bodies (a dispatcher's stream push, as long as its generation) have no deadline.
 */
export function registerRequestBodies(
  app: FastifyInstance,
  opts: { timeoutMs: number; longLived: (url: string) => boolean; gate: LargeBodyGate },
): void {
  const releases = new WeakMap<FastifyRequest, () => void>();
  const release = async (req: FastifyRequest) => {
    releases.get(req)?.();
  };
  // A slot is held while the body is read and parsed, and given back however the request ends.
  app.addHook('preValidation', release);
  app.addHook('onResponse', release);
  app.addHook('onRequestAbort', release);

  app.addHook('preParsing', async (req, _reply, payload) => {
    // Only a declared body is read (as Fastify decides): a GET's stream may stay open for long.
    const length = req.headers['content-length'];
    const declared = req.headers['transfer-encoding'] !== undefined || Number(length ?? 0) > 0;
    if (!declared) return payload;
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1];
    if (charset && !/^utf-?8$/i.test(charset))
      throw new BodyRefused(
        `Unsupported charset ${charset}: send the body in UTF-8.`,
        415,
        'unsupported_media_type',
      );
    const auth = edgeAuthOf(req);
    if (auth && (length === undefined || Number(length) >= opts.gate.limits.minBytes)) {
      const tenant = auth.tenantId ?? auth.keyId;
      const abandoned = new AbortController();
      req.raw.once('close', () => abandoned.abort());
      const waitMs = opts.gate.pace(
        tenant,
        length === undefined ? opts.gate.limits.minBytes : Number(length),
      );
      if (waitMs > opts.timeoutMs)
        throw new BodyRefused(
          `This tenant sends large request bodies faster than ${opts.gate.limits.bytesPerSecond / 1024 / 1024} MiB/s (SLUICE_LARGE_BODY_MIB_PER_S); retry in ${Math.ceil(waitMs / 1000)} s.`,
          429,
          'rate_limit_exceeded',
          waitMs,
        );
      if (waitMs > 0) await sleep(waitMs, undefined, { signal: abandoned.signal }).catch(() => {});
      const slot = await opts.gate.enter(tenant, opts.timeoutMs, abandoned.signal);
      if (!slot)
        throw new BodyRefused(
          `This tenant has ${opts.gate.limits.perTenant} large request bodies being read already and more waiting, none of which finished within ${opts.timeoutMs / 1000} s; send fewer at once.`,
          429,
          'rate_limit_exceeded',
          1_000,
        );
      releases.set(req, slot);
    }
    const checked = utf8Checked();
    if (!opts.longLived(req.url)) {
      const late = setTimeout(
        () =>
          checked.destroy(
            new BodyRefused(
              `The request body did not arrive within ${opts.timeoutMs / 1000} s.`,
              408,
              'request_timeout',
            ),
          ),
        opts.timeoutMs,
      );
      late.unref();
      // The deadline is for the body's arrival: met once the last byte is written in ('finish'),
      // whether or not anyone reads it (a body refused unread would otherwise fail later, unheard).
      checked.once('finish', () => clearTimeout(late));
      checked.once('close', () => clearTimeout(late));
    }
    // The bytes pass through unchanged: the body limit and content-length checks count the same.
    // `pipeline`, not `pipe`: a connection that breaks mid-body fails the checked stream too.
    pipeline(payload, checked, () => {});
    return checked;
  });
}

/**
 * A pass-through that fails on the first byte that is not UTF-8. `isUtf8` (simdutf) checks a
 * chunk at memory speed, where a decoder would build the string; a sequence cut by a chunk's end
 * is carried over to the next chunk.
 */
export function utf8Checked(): Transform {
  let carry: Buffer | undefined;
  const invalid = () =>
    new BodyRefused('The request body is not valid UTF-8: send it in UTF-8.', 400, 'invalid_encoding');
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const bytes = carry ? Buffer.concat([carry, chunk]) : chunk;
      const cut = incompleteTail(bytes);
      carry = cut < bytes.length ? bytes.subarray(cut) : undefined;
      if (!isUtf8(bytes.subarray(0, cut))) return done(invalid());
      done(null, chunk);
    },
    flush(done) {
      done(carry ? invalid() : undefined); // a sequence cut off at the end
    },
  });
}

/** Where a multi-byte sequence that the buffer's end cuts off begins (the length if none does). */
function incompleteTail(bytes: Buffer): number {
  for (let i = bytes.length - 1; i >= Math.max(0, bytes.length - 3); i--) {
    const b = bytes[i]!;
    if (b < 0x80) return bytes.length; // ASCII: nothing pending
    if (b >= 0xc0) {
      const needs = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return bytes.length - i < needs ? i : bytes.length;
    }
  }
  return bytes.length; // only continuation bytes: isUtf8 judges them
}
