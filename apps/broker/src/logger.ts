import pino, { type Logger } from 'pino';

export type { Logger };

/** Paths that may carry secrets: never written, whatever a caller passes to the logger. */
const REDACT = [
  'apiKey',
  '*.apiKey',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'key',
  '*.key',
  'password',
  '*.password',
];

/** Structured JSON logs (pino). Lines about a request carry requestId, tenantId and attempt via `child`. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sluice' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** Keeps secret-looking substrings (bearer tokens, sk- keys) out of messages that may reach logs or clients. */
export function scrubSecrets(text: string): string {
  return text.replace(/sk-[A-Za-z0-9_-]{8,}/g, 'sk-***').replace(/Bearer\s+[^\s"']+/gi, 'Bearer ***');
}
