import type { Endpoint, UpstreamError } from '@sluice/events';
import type { RequestRow } from '../db/schema';
import type { OperationResult } from '../operations/registry';

/** What a tenant sees of one of its requests (tRPC `requests.get`, `watch`, SDK `wait`). */
export interface RequestView {
  id: string;
  endpoint: Endpoint;
  status: 'queued' | 'dispatched' | 'retrying' | 'completed' | 'failed' | 'cancelled';
  model: string;
  priority: 'interactive' | 'standard' | 'batch';
  attempts: number;
  submittedAt: string;
  completedAt: string | null;
  queueWaitMs: number | null;
  /** The endpoint's answer, as the upstream sent it. */
  result: OperationResult | null;
  error: {
    reason: string;
    message: string;
    status: number | null;
    deadLettered: boolean;
    /** The upstream's own error, when the upstream refused the request. */
    upstream: UpstreamError | null;
  } | null;
  /** The upstream's `x-request-id` of the answering (or failing) attempt: what OpenAI support asks for. */
  upstreamRequestId: string | null;
  /** The upstream's `openai-processing-ms` of the answering attempt. */
  upstreamProcessingMs: number | null;
  /** `hit` = answered from the exact response cache; `miss` = eligible, answered upstream (and stored); null = not cached. */
  cache: 'hit' | 'miss' | null;
}

export const TERMINAL_STATUSES: ReadonlySet<RequestView['status']> = new Set([
  'completed',
  'failed',
  'cancelled',
]);

export function isTerminal(view: Pick<RequestView, 'status'>): boolean {
  return TERMINAL_STATUSES.has(view.status);
}

/** A request projection row as the tenant sees it. */
export function toRequestView(row: RequestRow): RequestView {
  return {
    id: row.requestId,
    endpoint: row.endpoint,
    status: row.status as RequestView['status'],
    model: row.model,
    priority: row.priority as RequestView['priority'],
    attempts: row.attempts,
    submittedAt: new Date(row.submittedAt).toISOString(),
    completedAt: row.completedAt ? new Date(row.completedAt).toISOString() : null,
    queueWaitMs: row.queueWaitMs ?? null,
    result: (row.status === 'completed' ? (row.response as RequestView['result']) : null) ?? null,
    error:
      row.status === 'failed'
        ? {
            reason: row.errorReason ?? 'unknown',
            message: row.errorMessage ?? '',
            status: row.errorStatus ?? null,
            deadLettered: row.deadLettered,
            upstream: row.upstreamError ?? null,
          }
        : null,
    upstreamRequestId: row.upstreamRequestId ?? null,
    upstreamProcessingMs: row.upstreamProcessingMs ?? null,
    cache: (row.cache as RequestView['cache']) ?? null,
  };
}
