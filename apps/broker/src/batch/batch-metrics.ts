import type { BatchQueueGroupSnapshot } from '@sluice/limiter';
import { Counter, Gauge, type Registry } from 'prom-client';

/** What the batch path lets the metrics read at scrape time. */
export interface BatchProbe {
  inFlight(): Promise<Array<{ status: string; batches: number; requests: number }>>;
  queue(now: number): BatchQueueGroupSnapshot[];
  collecting(): number;
}

/**
 * Batch API metrics, registered on the process's registry (labels bounded: status, pool, model,
 * result). Batches and requests in flight come from the batches table, so every dispatcher reports
 * the same totals: use `max`, not `sum`, across dispatchers.
 */
export function createBatchMetrics(registry: Registry) {
  let probe: BatchProbe | undefined;
  const registers = [registry];
  return {
    observe(p: BatchProbe) {
      probe = p;
    },
    batchesInFlight: new Gauge({
      name: 'sluice_batches_in_flight',
      help: 'Batch API batches not yet recorded, by status (the whole deployment)',
      labelNames: ['status'] as const,
      registers,
      async collect() {
        this.reset();
        for (const r of (await probe?.inFlight().catch(() => [])) ?? [])
          this.set({ status: r.status }, r.batches);
      },
    }),
    requestsInBatches: new Gauge({
      name: 'sluice_batch_requests_in_flight',
      help: 'Requests carried by Batch API batches not yet recorded (the whole deployment)',
      registers,
      async collect() {
        const rows = (await probe?.inFlight().catch(() => [])) ?? [];
        this.set(rows.reduce((n, r) => n + r.requests, 0));
      },
    }),
    collecting: new Gauge({
      name: 'sluice_batch_requests_collecting',
      help: 'Requests this dispatcher is collecting into its next batches',
      registers,
      collect() {
        this.set(probe?.collecting() ?? 0);
      },
    }),
    queueTokens: new Gauge({
      name: 'sluice_batch_queue_tokens',
      help: "Tokens enqueued in this dispatcher's unfinished batches, and the batch queue limit (kind)",
      labelNames: ['pool', 'model', 'kind'] as const,
      registers,
      collect() {
        this.reset();
        for (const g of probe?.queue(Date.now()) ?? []) {
          this.set({ pool: g.pool, model: g.model, kind: 'enqueued' }, g.enqueuedTokens);
          if (g.limitTokens !== null)
            this.set({ pool: g.pool, model: g.model, kind: 'limit' }, g.limitTokens);
        }
      },
    }),
    batches: new Counter({
      name: 'sluice_batches_total',
      help: 'Batches this dispatcher submitted (event=submitted) and finished (event=<terminal status>)',
      labelNames: ['pool', 'model', 'event'] as const,
      registers,
    }),
    lines: new Counter({
      name: 'sluice_batch_lines_total',
      help: 'Requests answered by finished batches: completed, retried or failed',
      labelNames: ['pool', 'model', 'result'] as const,
      registers,
    }),
  };
}

export type BatchMetrics = ReturnType<typeof createBatchMetrics>;
