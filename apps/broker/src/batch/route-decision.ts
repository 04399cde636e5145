import type { Priority, UpstreamRoute } from '@sluice/events';

/** The Batch API answers within 24 h: a request wanted sooner stays synchronous. */
export const BATCH_COMPLETION_WINDOW_MS = 24 * 60 * 60 * 1000;

export interface RouteFacts {
  priority: Priority;
  /** The operator's global switch (`SLUICE_BATCH_API`). */
  batchApiEnabled: boolean;
  /** The tenant's `batchApi` setting. */
  tenantAllowsBatchApi: boolean;
  /** Epoch ms after which the result is no longer wanted; null = none. */
  deadline: number | null;
  stream: boolean;
  now: number;
}

/**
 * Where a request goes, decided once at admission and recorded on `request.submitted`: the Batch
 * API (half price, within 24 h) for batch-class work of a tenant that allows it, whose deadline (if
 * any) is at least 24 h away and which does not stream; everything else synchronously.
 */
export function decideRoute(f: RouteFacts): UpstreamRoute {
  if (!f.batchApiEnabled || !f.tenantAllowsBatchApi) return 'sync';
  if (f.priority !== 'batch' || f.stream) return 'sync';
  if (f.deadline !== null && f.deadline - f.now < BATCH_COMPLETION_WINDOW_MS) return 'sync';
  return 'batch_api';
}
