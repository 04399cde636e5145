import { randomBytes } from 'node:crypto';
import { type Endpoint, eventIdFor, type RequestSubmitted, type SluiceEvent } from '@sluice/events';
import { takeWithinAllowance } from '@sluice/limiter';
import { decide } from '../dispatcher/request-decider';
import { retryUntilDone } from '../retry-until-done';
import { batchInputLine, linesThatFit } from './batch-file';
import { type BatchPathDeps, type BatchPoller, createBatchPoller } from './batch-poller';
import type { UpstreamBatchRow } from './batch-schema';
import { SUBMITTING } from './batch-store';

/** A request waiting to be flushed into a batch, with its log message still uncommitted. */
interface Collected {
  submitted: RequestSubmitted;
  attempt: number;
  /** Earlier events the store lacks (the submission of a request seen for the first time). */
  unstored: SluiceEvent[];
  firstQueuedAt: number;
  collectedAt: number;
  line: string;
  bytes: number;
  resolve: () => void;
  reject: (error: Error) => void;
  done: Promise<void>;
}

interface Collector {
  pool: string;
  model: string;
  endpoint: Endpoint;
  entries: Collected[];
  bytes: number;
  timer?: NodeJS.Timeout;
  flushing?: Promise<void>;
}

export interface BatchRouter {
  /**
   * Takes a `batch_api` request into its (pool, model) collector. Resolves once the request is
   * durably part of a batch (its `request.dispatched` and the batch row are stored): then its log
   * message may be committed. Rejects when it must be received again (stop, lost claim).
   */
  collect(
    submitted: RequestSubmitted,
    attempt: number,
    unstored: SluiceEvent[],
    firstQueuedAt: number,
  ): Promise<void>;
  /** Whether the recorded attempt of a redelivered request is carried by a stored batch. */
  owns(requestId: string, attempt: number): Promise<boolean>;
  collecting(): number;
  poller: BatchPoller;
  start(): void;
  /** Gives collected requests back uncommitted (the next dispatcher receives them) and stops polling. */
  stop(abandon: (reason: string) => Error): Promise<void>;
}

/**
 * Collects `batch_api` requests per (pool, model) and flushes them as Batch API batches: when a
 * collector holds `maxRequests`, would pass `maxBytes`, or its oldest request has waited `flushMs`,
 * and only as much as the batch queue limit allows. Order of a flush, so a crash at any point loses
 * nothing and sends nothing twice: (1) record `request.dispatched` (naming the batch) per request —
 * the store's unique ids make this the claim of the attempt; (2) store the batch row (members, lease);
 * (3) commit the log messages; (4) upload the JSONL and create the batch with `metadata.sluice_batch`;
 * (5) store the upstream ids. A dispatcher that dies before (2) leaves attempts no batch carries: they
 * are retried when redelivered. After (2) the batch's poller (this one, or another once the lease
 * expires) finds the upstream batch by its metadata, or creates it.
 */
export function createBatchRouter(deps: BatchPathDeps): BatchRouter {
  const { settings, budget, logger } = deps;
  const poller = createBatchPoller(deps);
  const collectors = new Map<string, Collector>();
  const byId = new Map<string, Collected>();
  let stopped = false;

  /** One collector per pool, model and endpoint: a batch holds one model and one endpoint. */
  function collectorOf(pool: string, model: string, endpoint: Endpoint): Collector {
    const key = `${pool}\u0000${model}\u0000${endpoint}`;
    let c = collectors.get(key);
    if (!c) {
      c = { pool, model, endpoint, entries: [], bytes: 0 };
      collectors.set(key, c);
    }
    return c;
  }

  function full(c: Collector): boolean {
    return c.entries.length >= settings.maxRequests || c.bytes >= settings.maxBytes;
  }

  function wakeAt(c: Collector, at: number): void {
    if (c.timer) clearTimeout(c.timer);
    c.timer = setTimeout(
      () => {
        c.timer = undefined;
        void flush(c);
      },
      Math.max(0, at - deps.clock()),
    );
    c.timer.unref();
  }

  function enqueuedTokens(pool: string, model: string): number {
    return (
      budget.snapshot(deps.clock()).find((g) => g.pool === pool && g.model === model)?.enqueuedTokens ?? 0
    );
  }

  function flush(c: Collector): Promise<void> {
    if (c.flushing) return c.flushing;
    c.flushing = (async () => {
      while (c.entries.length && !stopped) {
        const now = deps.clock();
        const due = now - c.entries[0]!.collectedAt >= settings.flushMs;
        if (!due && !full(c)) {
          wakeAt(c, c.entries[0]!.collectedAt + settings.flushMs);
          return;
        }
        const allowance = budget.allowance(c.pool, c.model, now);
        if (!allowance.ok) {
          logger.debug(
            { pool: c.pool, model: c.model, reason: allowance.reason },
            'batch queue full; waiting',
          );
          wakeAt(c, allowance.retryAt ?? now + settings.pollMs);
          return;
        }
        const fit = linesThatFit(
          c.entries.map((e) => e.bytes),
          settings,
        );
        const n = takeWithinAllowance(
          c.entries.slice(0, fit).map((e) => e.submitted.estimate.tpmCost),
          allowance.tokens,
          enqueuedTokens(c.pool, c.model) === 0,
        );
        if (n === 0) {
          wakeAt(c, now + settings.pollMs);
          return;
        }
        const taken = c.entries.splice(0, n);
        c.bytes -= taken.reduce((b, e) => b + e.bytes, 0);
        await submitBatch(c, taken).catch((error) => {
          logger.error(
            { err: error, pool: c.pool, model: c.model },
            'batch flush failed; requests received again',
          );
          for (const e of taken) {
            byId.delete(e.submitted.requestId);
            e.reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      }
    })().finally(() => {
      c.flushing = undefined;
    });
    return c.flushing;
  }

  async function submitBatch(c: Collector, taken: Collected[]): Promise<void> {
    const localId = `sb_${randomBytes(12).toString('base64url')}`;
    const now = deps.clock();
    const dispatched = taken.flatMap(
      (e) =>
        decide(
          { submitted: e.submitted, attempt: e.attempt, phase: 'waiting' },
          {
            type: 'sent',
            at: now,
            dispatcherId: deps.dispatcherId,
            queueWaitMs: Math.max(0, now - e.firstQueuedAt),
            reservedTokens: e.submitted.estimate.tpmCost,
            batch: { localId },
          },
        ).events,
    );
    // (1) The attempt is this batch's only if its dispatch is new: a copy claimed elsewhere is left out.
    const { inserted } = await deps.persist([...taken.flatMap((e) => e.unstored), ...dispatched]);
    const claimed = new Set(inserted.filter((e) => e.type === 'request.dispatched').map((e) => e.eventId));
    const members: Collected[] = [];
    for (const e of taken) {
      if (claimed.has(eventIdFor('request.dispatched', e.submitted.requestId, e.attempt))) members.push(e);
      else {
        byId.delete(e.submitted.requestId);
        // Received again, the request is judged from its recorded state.
        e.reject(new Error('attempt already recorded as dispatched; the message is received again'));
      }
    }
    if (members.length === 0) return;
    const reservedTokens = members.reduce((t, e) => t + e.submitted.estimate.tpmCost, 0);
    // (2)
    const row = {
      localId,
      pool: c.pool,
      model: c.model,
      endpoint: c.endpoint,
      members: members.map((e) => ({
        requestId: e.submitted.requestId,
        attempt: e.attempt,
        queueWaitMs: Math.max(0, now - e.firstQueuedAt),
      })),
      reservedTokens,
      leaseOwner: deps.dispatcherId,
      leaseUntil: new Date(now + settings.leaseMs),
    };
    await retryUntilDone(() => deps.store.insert(row), { what: 'storing the batch row', logger });
    budget.reserve(localId, c.pool, c.model, reservedTokens);
    // (3)
    for (const e of members) {
      byId.delete(e.submitted.requestId);
      e.resolve();
    }
    logger.info(
      { batch: localId, pool: c.pool, model: c.model, requests: members.length },
      'batch collected',
    );
    // (4) and (5); a failure here is retried by the poller.
    const stored: UpstreamBatchRow = {
      ...row,
      upstreamBatchId: null,
      inputFileId: null,
      requestCount: members.length,
      status: SUBMITTING,
      createdAt: new Date(now),
      submittedAt: null,
      finishedAt: null,
      updatedAt: new Date(now),
      completedCount: 0,
      failedCount: 0,
    };
    await poller.advance(stored, members.map((e) => e.line).join(''));
  }

  return {
    poller,
    collect(submitted, attempt, unstored, firstQueuedAt) {
      const known = byId.get(submitted.requestId);
      if (known) return known.done; // a duplicate copy: committed with the original
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const line = batchInputLine(submitted);
      const entry: Collected = {
        submitted,
        attempt,
        unstored,
        firstQueuedAt,
        collectedAt: deps.clock(),
        line,
        bytes: Buffer.byteLength(line),
        resolve,
        reject,
        done,
      };
      byId.set(submitted.requestId, entry);
      const c = collectorOf(submitted.pool, submitted.model, submitted.endpoint);
      c.entries.push(entry);
      c.bytes += entry.bytes;
      if (full(c)) void flush(c);
      else if (!c.timer && !c.flushing) wakeAt(c, entry.collectedAt + settings.flushMs);
      return done;
    },
    owns: (requestId, attempt) => deps.store.attemptInBatch(requestId, attempt),
    collecting: () => byId.size,
    start() {
      stopped = false;
      poller.start();
    },
    async stop(abandon) {
      stopped = true;
      for (const c of collectors.values()) {
        if (c.timer) clearTimeout(c.timer);
        c.timer = undefined;
      }
      await Promise.allSettled([...collectors.values()].map((c) => c.flushing));
      for (const c of collectors.values()) {
        for (const e of c.entries.splice(0)) {
          byId.delete(e.submitted.requestId);
          e.reject(abandon('dispatcher stopping'));
        }
        c.bytes = 0;
      }
      await poller.stop();
    },
  };
}
