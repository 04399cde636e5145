import type { RequestSubmitted } from '@sluice/events';

/**
 * The Batch API's files, built and read as pure functions. One input line per request:
 * `custom_id` is the request id, so results (which come back in any order) map back to it; `url`
 * is the request's endpoint (a batch holds one endpoint).
 */

/** OpenAI's bounds per batch: 50,000 requests and 200 MB of input. */
export const BATCH_LIMITS = { maxRequests: 50_000, maxBytes: 200 * 1024 * 1024 } as const;

/** The body sent upstream: the tenant's body without streaming (a batch never streams). */
export function batchRequestBody(s: RequestSubmitted): Record<string, unknown> {
  const { stream: _stream, stream_options: _streamOptions, ...body } = s.body as Record<string, unknown>;
  return body;
}

/** One JSONL line (with its newline) for a request. */
export function batchInputLine(s: RequestSubmitted): string {
  return `${JSON.stringify({ custom_id: s.requestId, method: 'POST', url: s.endpoint, body: batchRequestBody(s) })}\n`;
}

/**
 * How many of `lines` (in order) go into one batch: at most `maxRequests` lines and `maxBytes`
 * bytes; at least one (a single line over the byte bound is the upstream's to refuse).
 */
export function linesThatFit(
  lineBytes: readonly number[],
  bounds: { maxRequests: number; maxBytes: number } = BATCH_LIMITS,
): number {
  let bytes = 0;
  let n = 0;
  for (const b of lineBytes) {
    if (n >= bounds.maxRequests || (n > 0 && bytes + b > bounds.maxBytes)) break;
    bytes += b;
    n++;
  }
  return n;
}

/** An output or error file line, as the Batch API writes it. */
export interface BatchResultLine {
  id?: string;
  custom_id: string;
  response: { status_code: number; request_id?: string | null; body: unknown } | null;
  error: { code?: string | null; message?: string | null } | null;
}

/**
 * Parses a results file; a line that is not a result (truncated download, garbage) is reported in
 * `invalid` rather than thrown, so one bad line never hides the others' results.
 */
export function parseResultLines(text: string): { lines: BatchResultLine[]; invalid: number } {
  const lines: BatchResultLine[] = [];
  let invalid = 0;
  for (const raw of text.split('\n')) {
    const t = raw.trim();
    if (!t) continue;
    try {
      const v = JSON.parse(t) as Partial<BatchResultLine>;
      if (!v || typeof v !== 'object' || typeof v.custom_id !== 'string') {
        invalid++;
        continue;
      }
      lines.push({
        ...(typeof v.id === 'string' ? { id: v.id } : {}),
        custom_id: v.custom_id,
        response: v.response && typeof v.response === 'object' ? v.response : null,
        error: v.error && typeof v.error === 'object' ? v.error : null,
      });
    } catch {
      invalid++;
    }
  }
  return { lines, invalid };
}
