import type { Priority, UpstreamRoute } from '@sluice/events';
import { cachedRead } from '../cached-read';
import type { TenantSettings } from '../db/schema';
import { decideRoute } from './route-decision';

export interface RouteQuestion {
  tenantId: string;
  priority: Priority;
  /** Epoch ms, or null. */
  deadline: number | null;
  stream: boolean;
}

export type RouteRequest = (q: RouteQuestion) => Promise<UpstreamRoute>;

/**
 * The intake's route decision with the tenant's setting looked up: only for batch-class requests
 * (the others are synchronous whatever the tenant allows), and cached briefly so a backlog
 * submitted at speed reads the tenant once, not per request.
 */
export function createRoutePolicy(deps: {
  enabled: boolean;
  tenantSettings: (tenantId: string) => Promise<TenantSettings | undefined>;
  clock?: () => number;
  cacheMs?: number;
}): RouteRequest {
  const clock = deps.clock ?? Date.now;
  const cacheMs = deps.cacheMs ?? 2_000;
  const tenantAllows = cachedRead(
    async (tenantId) => (await deps.tenantSettings(tenantId))?.batchApi === true,
    cacheMs,
    clock,
  );

  return async (q) => {
    const now = clock();
    if (!deps.enabled || q.priority !== 'batch' || q.stream) return 'sync';
    return decideRoute({
      ...q,
      now,
      batchApiEnabled: deps.enabled,
      tenantAllowsBatchApi: await tenantAllows(q.tenantId),
    });
  };
}
