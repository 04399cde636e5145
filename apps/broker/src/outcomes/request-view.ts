import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { RequestRow } from '../db/schema';

/** What a tenant sees of one of its requests (tRPC `requests.get`, `watch`, SDK `wait`). */
export interface RequestView {
  id: string;
  status: 'queued' | 'dispatched' | 'retrying' | 'completed' | 'failed' | 'cancelled';
  model: string;
  priority: 'interactive' | 'standard' | 'batch';
  attempts: number;
  submittedAt: string;
  completedAt: string | null;
  queueWaitMs: number | null;
  result: ChatCompletion | null;
  error: { reason: string; message: string; status: number | null; deadLettered: boolean } | null;
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
          }
        : null,
    cache: (row.cache as RequestView['cache']) ?? null,
  };
}
