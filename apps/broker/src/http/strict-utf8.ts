import { pipeline, Transform } from 'node:stream';
import type { FastifyInstance } from 'fastify';

/** The error a body that is not UTF-8 fails with (the error handler names it). */
export class BodyEncodingError extends Error {
  constructor(
    message: string,
    readonly statusCode: 400 | 415,
  ) {
    super(message);
  }
}

/**
 * Request bodies are UTF-8 (JSON is, RFC 8259), read strictly on both doors: an invalid byte is
 * refused rather than turned into U+FFFD, and a body declared in another charset is refused rather
 * than misread. Checked as the bytes stream in, before any parser (tRPC's plugin brings its own),
 * so what each parser then reads is the same valid text.
 */
export function registerStrictUtf8Bodies(app: FastifyInstance): void {
  app.addHook('preParsing', async (req, _reply, payload) => {
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
    // The bytes pass through unchanged: the body limit and content-length checks count the same.
    // `pipeline`, not `pipe`: a connection that breaks mid-body fails the checked stream too.
    pipeline(payload, checked, () => {});
    return checked;
  });
}
