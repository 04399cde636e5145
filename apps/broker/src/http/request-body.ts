import { pipeline, Transform } from 'node:stream';
import type { FastifyInstance } from 'fastify';

/** The error a body that is not UTF-8, or too slow to arrive, fails with (the error handler names it). */
export class BodyEncodingError extends Error {
  constructor(
    message: string,
    readonly statusCode: 400 | 408 | 415,
  ) {
    super(message);
  }
}

/**
 * How request bodies are read, on both doors, before any parser (tRPC's plugin brings its own):
 * - in UTF-8 (JSON is, RFC 8259), strictly: an invalid byte is refused rather than turned into
 *   U+FFFD, and a body declared in another charset is refused rather than misread;
 * - within `timeoutMs` of the request's start, or 408: a half-sent body holds no connection for long.
 * `longLived` bodies (a dispatcher's stream push, as long as its generation) have no deadline.
 */
export function registerRequestBodies(
  app: FastifyInstance,
  opts: { timeoutMs: number; longLived: (url: string) => boolean },
): void {
  app.addHook('preParsing', async (req, _reply, payload) => {
    // Only a declared body is read (as Fastify decides): a GET's stream may stay open for long.
    const declared =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (!declared) return payload;
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1];
    if (charset && !/^utf-?8$/i.test(charset))
      throw new BodyEncodingError(`Unsupported charset ${charset}: send the body in UTF-8.`, 415);
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const invalid = () =>
      new BodyEncodingError('The request body is not valid UTF-8: send it in UTF-8.', 400);
    const checked = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        try {
          decoder.decode(chunk, { stream: true });
          done(null, chunk);
        } catch {
          done(invalid());
        }
      },
      flush(done) {
        try {
          decoder.decode(); // a sequence cut off at the end
          done();
        } catch {
          done(invalid());
        }
      },
    });
    if (!opts.longLived(req.url)) {
      const late = setTimeout(
        () =>
          checked.destroy(
            new BodyEncodingError(`The request body did not arrive within ${opts.timeoutMs / 1000} s.`, 408),
          ),
        opts.timeoutMs,
      );
      late.unref();
      checked.once('close', () => clearTimeout(late));
      checked.once('end', () => clearTimeout(late));
    }
    // The bytes pass through unchanged: the body limit and content-length checks count the same.
    // `pipeline`, not `pipe`: a connection that breaks mid-body fails the checked stream too.
    pipeline(payload, checked, () => {});
    return checked;
  });
}
