import type { ChatCompletion } from 'openai/resources/chat/completions';

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
}

export const TERMINAL_STATUSES: ReadonlySet<RequestView['status']> = new Set([
  'completed',
  'failed',
  'cancelled',
]);

export function isTerminal(view: Pick<RequestView, 'status'>): boolean {
  return TERMINAL_STATUSES.has(view.status);
}
