import { availableParallelism } from 'node:os';
import { SluiceError, type TokenEstimate } from '@sluice/events';
import { Piscina } from 'piscina';
import type { Metrics } from '../metrics';
import type { AnyOperation } from '../operations/operation';
import { type MeasureResult, type MeasureTask, measureRequest, unwrapMeasure } from './measure';

/**
 * Where a request's token estimate is computed. Byte-pair encoding costs about 0.2 s per MB of
 * ordinary text and 0.9 s per MB of the worst (one unbroken run), and a body may be 2 MiB: on the
 * thread that serves every tenant, one such request would stall them all. Small texts are measured
 * inline (under ~3 ms whatever they hold); larger ones on a pool of estimation threads, so the
 * serving thread only hands the body over. The pool's queue is bounded, and so is each tenant's
 * share of it: one tenant's flood of huge bodies is refused, not queued ahead of everyone else.
 */
export interface EstimatorSettings {
  /** Estimation threads; 0 measures everything inline (tests and trusted callers only). */
  threads: number;
  /** Requests measured or waiting for a thread at most; more are refused with 503 `overloaded`. */
  maxQueue: number;
  /** One tenant's requests measured or waiting at most; more are refused with 429. */
  maxPerTenant: number;
  /** Bodies whose text is shorter than this many characters are measured inline. */
  inlineChars: number;
  /** Start the threads with the process (a server), not on the first large request (most tests). */
  warm: boolean;
}

export const ESTIMATOR_DEFAULTS: EstimatorSettings = {
  threads: Math.max(1, Math.min(4, availableParallelism() - 1)),
  maxQueue: 256,
  maxPerTenant: 32,
  inlineChars: 4_096,
  warm: false,
};

export interface Estimator {
  /** The request's estimate, including `carriedTokens`; throws the refusal `fit` raises. */
  measure(
    tenantId: string,
    op: AnyOperation,
    body: Record<string, unknown>,
    model: string,
    carriedTokens: number,
    /** Characters of text in `body` (the body guard counts them): few are measured inline. */
    textChars: number,
  ): Promise<TokenEstimate>;
  close(): Promise<void>;
}

const RETRY_AFTER_MS = 1_000;

export function createEstimator(settings: EstimatorSettings, metrics?: Metrics): Estimator {
  // A thread takes a second or two to start (TypeScript sources, vocabularies): a server starts its
  // threads with itself; elsewhere they start on the first large request and then stay.
  let pool: Piscina<MeasureTask, MeasureResult> | undefined;
  const threadPool = () => {
    pool ??= new Piscina({
      filename: new URL('./estimate-worker.mjs', import.meta.url).href,
      minThreads: settings.warm ? settings.threads : 0,
      maxThreads: settings.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      // Measuring yields the CPU to the threads that serve and dispatch (Linux: per-thread niceness).
      niceIncrement: 10,
      // The queue is bounded below (in flight per process and per tenant), not by Piscina.
      maxQueue: Number.POSITIVE_INFINITY,
    });
    return pool;
  };
  if (settings.warm && settings.threads > 0) threadPool();
  let inFlight = 0;
  const perTenant = new Map<string, number>();

  function admit(tenantId: string): void {
    if (inFlight >= settings.maxQueue) {
      metrics?.rejected.inc({ reason: 'estimator_busy' });
      throw new SluiceError(
        'overloaded',
        `Sluice is measuring ${inFlight} large requests already; retry in a moment.`,
        { details: { retryAfterMs: RETRY_AFTER_MS } },
      );
    }
    if ((perTenant.get(tenantId) ?? 0) >= settings.maxPerTenant) {
      metrics?.rejected.inc({ reason: 'estimator_tenant_busy' });
      throw new SluiceError(
        'rate_limited',
        `This tenant has ${settings.maxPerTenant} large requests being measured already; send the next one when one of them is accepted.`,
        { details: { retryAfterMs: RETRY_AFTER_MS, openaiCode: 'rate_limit_exceeded' } },
      );
    }
    inFlight++;
    perTenant.set(tenantId, (perTenant.get(tenantId) ?? 0) + 1);
  }

  function release(tenantId: string): void {
    inFlight--;
    const n = (perTenant.get(tenantId) ?? 1) - 1;
    if (n === 0) perTenant.delete(tenantId);
    else perTenant.set(tenantId, n);
  }

  return {
    async measure(tenantId, op, body, model, carriedTokens, textChars) {
      if (settings.threads === 0 || textChars < settings.inlineChars) {
        const stop = metrics?.estimateSeconds.startTimer({ where: 'inline' });
        try {
          return measureRequest(op, body, model, carriedTokens);
        } finally {
          stop?.();
        }
      }
      admit(tenantId);
      const stop = metrics?.estimateSeconds.startTimer({ where: 'thread' });
      try {
        return unwrapMeasure(await threadPool().run({ endpoint: op.endpoint, body, model, carriedTokens }));
      } finally {
        stop?.();
        release(tenantId);
      }
    },
    async close() {
      await pool?.destroy();
      pool = undefined;
    },
  };
}
