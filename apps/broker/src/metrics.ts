import { setTimeout as sleep } from 'node:timers/promises';
import type { PartitionLag } from '@sluice/events';
import type { LimiterSnapshot } from '@sluice/limiter';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** What a dispatcher lets the metrics read at scrape time (its limiter, its consumer's lag). */
export interface DispatcherProbe {
  snapshot(now: number): LimiterSnapshot;
  lag(): Promise<readonly PartitionLag[]>;
}

/**
 * Prometheus metrics, one registry per process. Label sets are bounded: pool, model, priority,
 * kind, reason, topic, and tenant (tenants are created by operators, so they are few) — never
 * request ids. `infra/grafana/sluice.json` queries exactly these names (a test checks it).
 */
export function createMetrics(options: { collectDefaults?: boolean } = {}) {
  const registry = new Registry();
  if (options.collectDefaults !== false)
    collectDefaultMetrics({ register: registry, prefix: 'sluice_process_' });
  const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
  const waitBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600];
  const storeBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];
  const registers = [registry];
  let probe: DispatcherProbe | undefined;
  const snapshot = () => probe?.snapshot(Date.now());

  const metrics = {
    registry,
    /** Dispatcher processes attach their limiter and consumer here; gauges read them per scrape. */
    observeDispatcher(p: DispatcherProbe) {
      probe = p;
    },

    // ---- intake ----
    submitted: new Counter({
      name: 'sluice_requests_submitted_total',
      help: 'Requests accepted into the log',
      labelNames: ['priority', 'tenant', 'source'] as const,
      registers,
    }),
    rejected: new Counter({
      name: 'sluice_requests_rejected_total',
      help: 'Requests refused at the edge, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    estimateSeconds: new Histogram({
      name: 'sluice_estimate_seconds',
      help: 'Time to measure a request (token estimate and size checks), inline or on an estimation thread',
      labelNames: ['where'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5],
      registers,
    }),
    logAppendSeconds: new Histogram({
      name: 'sluice_log_append_seconds',
      help: 'Durable log append latency at submit',
      buckets: storeBuckets,
      registers,
    }),

    // ---- queues (dispatcher) ----
    queueDepth: new Gauge({
      name: 'sluice_queue_depth',
      help: 'Requests waiting in the dispatcher for their turn, by priority and tenant',
      labelNames: ['priority', 'tenant'] as const,
      registers,
      collect() {
        const s = snapshot();
        this.reset();
        if (!s) return;
        for (const [tenant, t] of Object.entries(s.tenants)) {
          for (const [priority, n] of Object.entries(t.byPriority))
            if (n > 0) this.set({ priority, tenant }, n);
        }
      },
    }),
    queueOldestAgeSeconds: new Gauge({
      name: 'sluice_queue_oldest_age_seconds',
      help: 'Age of the oldest waiting request, by priority',
      labelNames: ['priority'] as const,
      registers,
      collect() {
        const s = snapshot();
        if (!s) return;
        for (const [priority, ms] of Object.entries(s.oldestAgeMs)) this.set({ priority }, ms / 1000);
      },
    }),
    queued: new Counter({
      name: 'sluice_dispatcher_queued_total',
      help: 'Requests that joined a dispatcher queue',
      labelNames: ['priority'] as const,
      registers,
    }),
    queueWaitSeconds: new Histogram({
      name: 'sluice_queue_wait_seconds',
      help: 'Time from submission to dispatch',
      labelNames: ['priority'] as const,
      buckets: waitBuckets,
      registers,
    }),
    consumerLag: new Gauge({
      name: 'sluice_consumer_lag',
      help: 'Messages in the log not yet committed by the dispatcher group, by topic',
      labelNames: ['topic'] as const,
      registers,
      async collect() {
        if (!probe) return;
        this.reset();
        const lag = await Promise.race([probe.lag(), sleep(2_000, undefined, { ref: false })]).catch(
          () => undefined,
        );
        const byTopic = new Map<string, number>();
        for (const p of lag ?? []) byTopic.set(p.topic, (byTopic.get(p.topic) ?? 0) + Number(p.lag));
        for (const [topic, n] of byTopic) this.set({ topic }, n);
      },
    }),

    // ---- upstream (dispatcher) ----
    dispatched: new Counter({
      name: 'sluice_dispatches_total',
      help: 'Upstream attempts sent',
      labelNames: ['pool', 'model', 'priority', 'tenant'] as const,
      registers,
    }),
    completed: new Counter({
      name: 'sluice_completions_total',
      help: 'Requests completed upstream',
      labelNames: ['pool', 'model', 'tenant'] as const,
      registers,
    }),
    failed: new Counter({
      name: 'sluice_failures_total',
      help: 'Requests that ended failed, by reason',
      labelNames: ['pool', 'model', 'tenant', 'reason'] as const,
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'sluice_upstream_errors_total',
      help: 'Failed upstream attempts by kind (retried or not)',
      labelNames: ['pool', 'model', 'tenant', 'kind'] as const,
      registers,
    }),
    upstream429: new Counter({
      name: 'sluice_upstream_429_total',
      help: 'HTTP 429 responses from the upstream',
      labelNames: ['pool', 'model', 'tenant'] as const,
      registers,
    }),
    deadLettered: new Counter({
      name: 'sluice_dead_lettered_total',
      help: 'Requests sent to the dead-letter topic',
      labelNames: ['pool', 'model'] as const,
      registers,
    }),
    tokens: new Counter({
      name: 'sluice_tokens_total',
      help: 'Tokens by kind: estimated (charged against TPM at dispatch) and the upstream-reported prompt, cached, completion and reasoning',
      labelNames: ['pool', 'model', 'tenant', 'kind'] as const,
      registers,
    }),
    upstreamLatencySeconds: new Histogram({
      name: 'sluice_upstream_latency_seconds',
      help: 'Upstream call latency',
      labelNames: ['pool', 'model'] as const,
      buckets: latencyBuckets,
      registers,
    }),

    // ---- limiter state (dispatcher) ----
    quotaLimit: new Gauge({
      name: 'sluice_quota_limit',
      help: 'Limit in force per pool and model (learned from x-ratelimit-* headers or configured)',
      labelNames: ['pool', 'model', 'limit'] as const,
      registers,
      collect() {
        for (const g of snapshot()?.groups ?? []) {
          this.set({ pool: g.pool, model: g.model, limit: 'rpm' }, g.limits.rpm ?? g.effectiveLimits.rpm);
          this.set({ pool: g.pool, model: g.model, limit: 'tpm' }, g.limits.tpm ?? g.effectiveLimits.tpm);
        }
      },
    }),
    quotaUtilisation: new Gauge({
      name: 'sluice_quota_utilisation_ratio',
      help: 'Share of the limit used over the last minute (used / limit), per pool, model and limit',
      labelNames: ['pool', 'model', 'limit'] as const,
      registers,
      collect() {
        for (const g of snapshot()?.groups ?? []) {
          this.set({ pool: g.pool, model: g.model, limit: 'rpm' }, g.utilisation.requests);
          this.set({ pool: g.pool, model: g.model, limit: 'tpm' }, g.utilisation.tokens);
        }
      },
    }),
    limiterLearned: new Gauge({
      name: 'sluice_limiter_learned',
      help: '1 once the upstream has announced its limits for this pool and model',
      labelNames: ['pool', 'model'] as const,
      registers,
      collect() {
        for (const g of snapshot()?.groups ?? [])
          this.set({ pool: g.pool, model: g.model }, g.learned ? 1 : 0);
      },
    }),
    limiterChargeRatio: new Gauge({
      name: 'sluice_limiter_charge_ratio',
      help: "What the upstream charges per token Sluice estimated, learned from consecutive remaining-token headers (1 = our estimates are the upstream's)",
      labelNames: ['pool', 'model'] as const,
      registers,
      collect() {
        for (const g of snapshot()?.groups ?? []) this.set({ pool: g.pool, model: g.model }, g.chargeRatio);
      },
    }),
    limiterPaused: new Gauge({
      name: 'sluice_limiter_paused',
      help: '1 while sending is paused after an upstream 429 (retry-after)',
      labelNames: ['pool', 'model'] as const,
      registers,
      collect() {
        const now = Date.now();
        for (const g of snapshot()?.groups ?? []) {
          this.set({ pool: g.pool, model: g.model }, g.pausedUntil !== null && g.pausedUntil > now ? 1 : 0);
        }
      },
    }),

    // ---- exact response cache (cache/) ----
    cacheHits: new Counter({
      name: 'sluice_cache_hits_total',
      help: 'Requests answered from the exact response cache (no upstream call)',
      labelNames: ['tenant', 'model'] as const,
      registers,
    }),
    cacheMisses: new Counter({
      name: 'sluice_cache_misses_total',
      help: 'Cache-eligible requests sent upstream (nothing stored, expired, or refresh)',
      labelNames: ['tenant', 'model'] as const,
      registers,
    }),
    cacheEvictions: new Counter({
      name: 'sluice_cache_evictions_total',
      help: 'Cache entries removed by the size bound or because they expired',
      labelNames: ['reason'] as const,
      registers,
    }),
    cacheBytes: new Gauge({
      name: 'sluice_cache_bytes',
      help: 'Bytes of answers held in the response cache (Postgres), as of the last bound check',
      registers,
    }),
    cacheEntries: new Gauge({
      name: 'sluice_cache_entries',
      help: 'Answers held in the response cache (Postgres), as of the last bound check',
      registers,
    }),
    cacheRedisErrors: new Counter({
      name: 'sluice_cache_redis_errors_total',
      help: 'Redis front failures (the cache falls back to Postgres)',
      registers,
    }),

    // ---- event store ----
    storeErrors: new Counter({
      name: 'sluice_event_store_errors_total',
      help: 'Failed event-store writes (retried)',
      registers,
    }),
    storeAppendSeconds: new Histogram({
      name: 'sluice_event_store_append_seconds',
      help: 'Event-store append latency',
      buckets: storeBuckets,
      registers,
    }),
  };
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Every metric name this process can expose (the Grafana dashboard test checks against it). */
export function metricNames(metrics: Metrics): string[] {
  return metrics.registry.getMetricsAsArray().map((m) => m.name);
}
