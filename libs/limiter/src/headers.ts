/** Parses a Go duration as OpenAI writes reset times: `20ms`, `1s`, `1.5s`, `6m0s`, `1m30.5s`, `2h3m`. */
export function parseGoDuration(text: string): number | undefined {
  const s = text.trim();
  if (!s) return undefined;
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g;
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    if (m.index !== consumed) return undefined;
    consumed += m[0].length;
    const v = Number(m[1]);
    switch (m[2]) {
      case 'h':
        total += v * 3_600_000;
        break;
      case 'm':
        total += v * 60_000;
        break;
      case 's':
        total += v * 1_000;
        break;
      case 'ms':
        total += v;
        break;
      case 'us':
      case 'µs':
        total += v / 1_000;
        break;
      case 'ns':
        total += v / 1_000_000;
        break;
    }
  }
  if (consumed !== s.length) {
    // A bare number is seconds.
    return /^\d+(\.\d+)?$/.test(s) ? Number(s) * 1000 : undefined;
  }
  return total;
}

export interface RateLimitHeaders {
  limitRequests?: number;
  limitTokens?: number;
  remainingRequests?: number;
  remainingTokens?: number;
  resetRequestsMs?: number;
  resetTokensMs?: number;
  /** From `retry-after-ms`, else `retry-after` (seconds or an HTTP date). */
  retryAfterMs?: number;
}

type HeaderSource = Record<string, string | undefined> | { get(name: string): string | null };

function reader(headers: HeaderSource): (name: string) => string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const h = headers as { get(name: string): string | null };
    return (name) => h.get(name) ?? undefined;
  }
  const lower = new Map(
    Object.entries(headers as Record<string, string | undefined>).map(([k, v]) => [k.toLowerCase(), v]),
  );
  return (name) => lower.get(name);
}

function int(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Every header is optional: some models and endpoints omit them. */
export function parseRateLimitHeaders(headers: HeaderSource, now: number): RateLimitHeaders {
  const get = reader(headers);
  const out: RateLimitHeaders = {};
  const set = <K extends keyof RateLimitHeaders>(k: K, v: number | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('limitRequests', int(get('x-ratelimit-limit-requests')));
  set('limitTokens', int(get('x-ratelimit-limit-tokens')));
  set('remainingRequests', int(get('x-ratelimit-remaining-requests')));
  set('remainingTokens', int(get('x-ratelimit-remaining-tokens')));
  const rr = get('x-ratelimit-reset-requests');
  const rt = get('x-ratelimit-reset-tokens');
  set('resetRequestsMs', rr === undefined ? undefined : parseGoDuration(rr));
  set('resetTokensMs', rt === undefined ? undefined : parseGoDuration(rt));
  set('retryAfterMs', parseRetryAfter(get('retry-after-ms'), get('retry-after'), now));
  return out;
}

export function parseRetryAfter(
  retryAfterMs: string | undefined,
  retryAfter: string | undefined,
  now: number,
): number | undefined {
  const ms = int(retryAfterMs);
  if (ms !== undefined) return ms;
  if (retryAfter === undefined) return undefined;
  const seconds = Number(retryAfter.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
