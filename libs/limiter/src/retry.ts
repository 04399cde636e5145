import { defaultRetryPolicy, type RetryPolicy } from './defaults';

export type UpstreamFailureKind =
  | 'rate_limited'
  | 'request_too_large'
  | 'insufficient_quota'
  | 'server_error'
  | 'timeout'
  | 'connection'
  | 'client_error'
  | 'malformed_response';

export interface UpstreamFailureFacts {
  status?: number;
  body?: unknown;
  errorCode?: string;
  timedOut?: boolean;
  connectionError?: boolean;
  malformed?: boolean;
}

function errorOf(body: unknown): { code?: string; type?: string; message?: string } {
  if (!body || typeof body !== 'object') return {};
  const b = body as Record<string, unknown>;
  const e = (b.error && typeof b.error === 'object' ? b.error : b) as Record<string, unknown>;
  return {
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(typeof e.type === 'string' ? { type: e.type } : {}),
    ...(typeof e.message === 'string' ? { message: e.message } : {}),
  };
}

/** What kind of failure an upstream answer is; this decides whether retrying can ever help. */
export function classifyUpstreamFailure(f: UpstreamFailureFacts): UpstreamFailureKind {
  if (f.timedOut) return 'timeout';
  if (f.malformed) return 'malformed_response';
  // No status at all: the call never got an answer.
  if (f.status === undefined) return 'connection';
  const e = errorOf(f.body);
  const code = f.errorCode ?? e.code ?? e.type;
  if (f.status === 429) {
    if (
      code === 'insufficient_quota' ||
      code === 'credit_balance_exhausted' ||
      e.type === 'insufficient_quota'
    ) {
      return 'insufficient_quota';
    }
    if (e.message && /^Request too large/i.test(e.message)) return 'request_too_large';
    return 'rate_limited';
  }
  if (f.status === 408) return 'timeout';
  if (f.status >= 500) return 'server_error';
  if (f.status >= 400) return 'client_error';
  return 'malformed_response';
}

export type RetryDecision =
  | { action: 'retry'; delayMs: number; reason: UpstreamFailureKind }
  | { action: 'fail'; deadLetter: boolean; reason: UpstreamFailureKind; message: string };

/** Why retrying can never help, or undefined when it may. */
function terminalReason(kind: UpstreamFailureKind): string | undefined {
  switch (kind) {
    case 'insufficient_quota':
      return 'the upstream account is out of quota (insufficient_quota); retrying cannot help';
    case 'request_too_large':
      return 'the request is larger than the whole TPM limit; retrying cannot help';
    case 'client_error':
      return 'the upstream refused the request (4xx); retrying the same request cannot help';
    case 'rate_limited':
    case 'server_error':
    case 'timeout':
    case 'connection':
    case 'malformed_response':
      return undefined;
    default: {
      const never: never = kind;
      throw new Error(`unknown failure kind ${String(never)}`);
    }
  }
}

/**
 * Exponential backoff with full jitter, never shorter than the upstream's retry-after; terminal
 * kinds fail at once; exhausted attempts go to the dead-letter topic.
 */
export function decideRetry(input: {
  attempt: number;
  kind: UpstreamFailureKind;
  retryAfterMs?: number;
  policy?: RetryPolicy;
  random: () => number;
}): RetryDecision {
  const policy = input.policy ?? defaultRetryPolicy;
  const terminal = terminalReason(input.kind);
  if (terminal) return { action: 'fail', deadLetter: false, reason: input.kind, message: terminal };
  if (input.attempt >= policy.maxAttempts) {
    return {
      action: 'fail',
      deadLetter: true,
      reason: input.kind,
      message: `gave up after ${input.attempt} attempts (last: ${input.kind})`,
    };
  }
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (input.attempt - 1));
  const jittered = Math.floor(input.random() * ceiling);
  return { action: 'retry', delayMs: Math.max(jittered, input.retryAfterMs ?? 0), reason: input.kind };
}
