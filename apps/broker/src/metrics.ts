import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics. Label sets are bounded: pool, model, priority, tenant, kind — never request ids.
 */
export function createMetrics(options: { collectDefaults?: boolean } = {}) {
  const registry = new Registry();
  if (options.collectDefaults !== false)
    collectDefaultMetrics({ register: registry, prefix: 'sluice_process_' });
  const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
  const waitBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600];
  return {
    registry,
    submitted: new Counter({
      name: 'sluice_requests_submitted_total',
      help: 'Requests accepted into the log',
      labelNames: ['priority', 'tenant', 'source'] as const,
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'sluice_requests_rejected_total',
      help: 'Requests refused at the edge, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    queued: new Counter({
      name: 'sluice_dispatcher_queued_total',
      help: 'Requests that joined a dispatcher queue',
      labelNames: ['priority'] as const,
      registers: [registry],
    }),
    dispatched: new Counter({
      name: 'sluice_dispatches_total',
      help: 'Upstream attempts sent',
      labelNames: ['pool', 'model', 'priority'] as const,
      registers: [registry],
    }),
    completed: new Counter({
      name: 'sluice_completions_total',
      help: 'Requests completed upstream',
      labelNames: ['pool', 'model'] as const,
      registers: [registry],
    }),
    upstreamFailures: new Counter({
      name: 'sluice_upstream_failures_total',
      help: 'Failed upstream attempts by kind (rate_limited = upstream 429)',
      labelNames: ['pool', 'model', 'kind'] as const,
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'sluice_dead_lettered_total',
      help: 'Requests sent to the dead-letter topic',
      labelNames: ['pool', 'model'] as const,
      registers: [registry],
    }),
    storeErrors: new Counter({
      name: 'sluice_event_store_errors_total',
      help: 'Failed event-store writes (retried)',
      registers: [registry],
    }),
    storeAppendSeconds: new Histogram({
      name: 'sluice_event_store_append_seconds',
      help: 'Event-store append latency',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    logAppendSeconds: new Histogram({
      name: 'sluice_log_append_seconds',
      help: 'Durable log append latency at submit',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    queueWaitSeconds: new Histogram({
      name: 'sluice_queue_wait_seconds',
      help: 'Time from submission to dispatch',
      labelNames: ['priority'] as const,
      buckets: waitBuckets,
      registers: [registry],
    }),
    upstreamLatencySeconds: new Histogram({
      name: 'sluice_upstream_latency_seconds',
      help: 'Upstream call latency',
      labelNames: ['pool', 'model'] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'sluice_queue_depth',
      help: 'Requests waiting in a dispatcher, by priority',
      labelNames: ['priority'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
