import {
  type EventLog,
  type RequestSubmitted,
  requestKey,
  requestTopic,
  type SluiceEvent,
  TOPICS,
} from '@sluice/events';
import type { BatchQueueBudget, RetryPolicy } from '@sluice/limiter';
import type { Logger } from '../logger';
import { batchInputLine, parseResultLines } from './batch-file';
import type { BatchMetrics } from './batch-metrics';
import { type BatchMember, isTerminalBatchStatus, memberOutcome, resultsByRequest } from './batch-outcomes';
import type { UpstreamBatchRow } from './batch-schema';
import type { BatchSettings } from './batch-settings';
import { type BatchStore, RECORDED, SUBMITTING } from './batch-store';
import { BatchApiError, type BatchUpstream, type UpstreamBatchInfo } from './batch-upstream';

export interface BatchPathDeps {
  store: BatchStore;
  /** Idempotent append to the event store, retried until it succeeds. */
  persist(events: SluiceEvent[]): Promise<{ inserted: readonly SluiceEvent[] }>;
  log: EventLog;
  upstream: BatchUpstream;
  budget: BatchQueueBudget;
  settings: BatchSettings;
  logger: Logger;
  metrics?: BatchMetrics;
  dispatcherId: string;
  clock: () => number;
  random: () => number;
  retryPolicy?: RetryPolicy;
}

export interface BatchPoller {
  start(): void;
  stop(): Promise<void>;
  /** Moves one batch on: create it upstream if needed, poll it, record its outcomes once it ended. */
  advance(row: UpstreamBatchRow, jsonl?: string): Promise<void>;
  /** One poll of every batch this dispatcher holds or may take over (tests call it to not wait). */
  pollOnce(): Promise<void>;
}

/**
 * Polls the batches this dispatcher holds a lease on (its own, and those of a dispatcher whose lease
 * expired), and records each finished batch's outcomes per request exactly as the synchronous path
 * does. Every step is idempotent, so a batch picked up again after a crash records nothing twice.
 */
export function createBatchPoller(deps: BatchPathDeps): BatchPoller {
  const { store, upstream, budget, logger } = deps;
  const advancing = new Map<string, Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> | undefined;

  function advance(row: UpstreamBatchRow, jsonl?: string): Promise<void> {
    const running = advancing.get(row.localId);
    if (running) return running;
    const p = step(row, jsonl)
      .catch((error) =>
        logger.warn(
          { err: error, batch: row.localId, upstreamBatchId: row.upstreamBatchId },
          'batch step failed; retried at the next poll',
        ),
      )
      .finally(() => advancing.delete(row.localId));
    advancing.set(row.localId, p);
    return p;
  }

  async function step(row: UpstreamBatchRow, jsonl?: string): Promise<void> {
    if (row.status === RECORDED) return;
    // Counted against the queue limit until it ends (again, if found after a restart).
    budget.reserve(row.localId, row.pool, row.model, row.reservedTokens);
    let info: UpstreamBatchInfo | undefined;
    if (!row.upstreamBatchId) {
      info = await submit(row, jsonl);
      if (!info) return;
    } else {
      info = await upstream.retrieve(row.pool, row.upstreamBatchId);
      if (info.status !== row.status) {
        await store.update(row.localId, { status: info.status });
        logger.info({ batch: row.localId, upstreamBatchId: info.id, status: info.status }, 'batch status');
      }
    }
    if (isTerminalBatchStatus(info.status)) await finish(row, info);
  }

  /** Creates the batch upstream, unless a previous holder already did (found by its metadata). */
  async function submit(row: UpstreamBatchRow, jsonl?: string): Promise<UpstreamBatchInfo | undefined> {
    const fresh = jsonl !== undefined;
    const found = fresh ? undefined : await upstream.findByLocalId(row.pool, row.localId);
    let info = found;
    let inputFileId = row.inputFileId;
    if (!info) {
      if (!inputFileId) {
        const text = jsonl ?? (await rebuildInput(row));
        inputFileId = await upstream.uploadInput(row.pool, text, row.localId);
        await store.update(row.localId, { inputFileId });
      }
      try {
        info = await upstream.create(row.pool, row.endpoint, inputFileId, row.localId);
      } catch (error) {
        // Refused (not unanswered): the batch ends here as failed; its requests take the retry path.
        if (!(error instanceof BatchApiError) || error.status === undefined || error.status >= 500)
          throw error;
        if (
          error.status === 429 &&
          error.code !== 'token_limit_exceeded' &&
          error.code !== 'insufficient_quota'
        )
          throw error;
        info = {
          id: '',
          status: 'failed',
          outputFileId: null,
          errorFileId: null,
          failure: { code: error.code, message: error.message },
        };
      }
    }
    await store.update(row.localId, {
      ...(info.id ? { upstreamBatchId: info.id } : {}),
      inputFileId,
      status: info.status,
      submittedAt: new Date(deps.clock()),
    });
    deps.metrics?.batches.inc({ pool: row.pool, model: row.model, event: 'submitted' });
    logger.info(
      {
        batch: row.localId,
        upstreamBatchId: info.id || null,
        inputFileId,
        requests: row.requestCount,
        status: info.status,
        recovered: found !== undefined,
      },
      'batch submitted',
    );
    return info;
  }

  async function rebuildInput(row: UpstreamBatchRow): Promise<string> {
    const subs = await store.submissions(row.members.map((m) => m.requestId));
    return row.members
      .map((m) => subs.get(m.requestId))
      .filter((s): s is RequestSubmitted => s !== undefined)
      .map(batchInputLine)
      .join('');
  }

  async function finish(row: UpstreamBatchRow, info: UpstreamBatchInfo): Promise<void> {
    const now = deps.clock();
    const at = new Date(now);
    if (info.status === 'failed' && info.failure?.code === 'token_limit_exceeded')
      budget.onLimitExceeded(row.pool, row.model, info.failure.message, now);
    const [output, errors] = await Promise.all([
      info.outputFileId ? upstream.fileText(row.pool, info.outputFileId) : '',
      info.errorFileId ? upstream.fileText(row.pool, info.errorFileId) : '',
    ]);
    const out = parseResultLines(output);
    const err = parseResultLines(errors);
    if (out.invalid || err.invalid)
      logger.warn(
        { batch: row.localId, invalid: out.invalid + err.invalid },
        'batch result lines not understood',
      );
    const results = resultsByRequest({
      requestIds: row.members.map((m) => m.requestId),
      status: info.status as Parameters<typeof resultsByRequest>[0]['status'],
      failure: info.failure,
      output: out.lines,
      errors: err.lines,
    });
    const subs = await store.submissions(row.members.map((m) => m.requestId));
    const startedAt = (row.submittedAt ?? row.createdAt).getTime();
    const recorded: SluiceEvent[] = [];
    const retries: Array<{ s: RequestSubmitted; attempt: number }> = [];
    const deadLetters: Array<{ s: RequestSubmitted; reason: string }> = [];
    const counts = { completed: 0, retried: 0, failed: 0 };
    for (const m of row.members) {
      const s = subs.get(m.requestId);
      if (!s) {
        logger.error({ batch: row.localId, requestId: m.requestId }, 'batch member has no stored submission');
        continue;
      }
      const member: BatchMember = { submitted: s, attempt: m.attempt, queueWaitMs: m.queueWaitMs };
      const o = memberOutcome(member, results.get(m.requestId)!, {
        at,
        upstreamLatencyMs: now - startedAt,
        random: deps.random,
        ...(deps.retryPolicy ? { policy: deps.retryPolicy } : {}),
      });
      recorded.push(...o.events);
      if (o.action === 'completed') counts.completed++;
      else if (o.action === 'retry') {
        counts.retried++;
        retries.push({ s, attempt: m.attempt });
      } else {
        counts.failed++;
        if (o.deadLetter) deadLetters.push({ s, reason: o.message });
      }
    }
    for (let i = 0; i < recorded.length; i += 500) await deps.persist(recorded.slice(i, i + 500));
    // Wake the waiting callers (they also poll the store, so a lost notification only delays them).
    await deps.log
      .notify(recorded.map((event) => ({ topic: TOPICS.outcomes, key: event.requestId, event })))
      .catch((e) => logger.warn({ err: e }, 'could not publish batch outcome notifications'));
    // A retried request goes back to its topic; the dispatcher starts its next attempt from its
    // recorded state (and ignores a copy whose attempt is already under way or finished).
    if (retries.length)
      await deps.log.append(
        retries.map(({ s, attempt }) => ({
          topic: requestTopic(s.priority),
          key: requestKey(s.pool),
          event: redeliveryOf(s, attempt),
        })),
      );
    for (const d of deadLetters) {
      await deps.log
        .deadLetter({
          reason: d.reason.slice(0, 2_000),
          sourceTopic: requestTopic(d.s.priority),
          sourcePartition: 0,
          sourceOffset: null,
          failedAt: at.toISOString(),
          requestId: d.s.requestId,
          tenantId: d.s.tenantId,
          raw: null,
          event: d.s,
        })
        .catch((e) =>
          logger.error({ err: e, requestId: d.s.requestId }, 'could not write to the dead-letter topic'),
        );
    }
    await store.update(row.localId, {
      status: RECORDED,
      finishedAt: at,
      completedCount: counts.completed,
      failedCount: counts.failed + counts.retried,
    });
    budget.release(row.localId);
    const labels = { pool: row.pool, model: row.model };
    deps.metrics?.batches.inc({ ...labels, event: info.status });
    deps.metrics?.lines.inc({ ...labels, result: 'completed' }, counts.completed);
    deps.metrics?.lines.inc({ ...labels, result: 'retried' }, counts.retried);
    deps.metrics?.lines.inc({ ...labels, result: 'failed' }, counts.failed);
    logger.info(
      { batch: row.localId, upstreamBatchId: info.id || null, status: info.status, ...counts },
      'batch outcomes recorded',
    );
  }

  async function pollOnce(): Promise<void> {
    if (polling) return polling;
    polling = (async () => {
      try {
        const rows = await store.claim(deps.dispatcherId, deps.settings.leaseMs);
        for (const row of rows) await advance(row);
      } catch (error) {
        logger.warn({ err: error }, 'batch poll failed; retried at the next poll');
      }
    })().finally(() => {
      polling = undefined;
    });
    return polling;
  }

  return {
    advance,
    pollOnce,
    start() {
      timer = setInterval(() => void pollOnce(), deps.settings.pollMs);
      timer.unref();
      void pollOnce();
    },
    async stop() {
      clearInterval(timer);
      await polling;
      await Promise.allSettled([...advancing.values()]);
      // Another dispatcher (or this one restarted) takes the batches over without waiting for the lease.
      await store.releaseLeases(deps.dispatcherId).catch(() => {});
    },
  };
}

export { SUBMITTING };

/**
 * The submission sent again so a dispatcher starts the next attempt. Its log id names the attempt
 * that failed: the log (which refuses an id it already holds) takes one copy per retry, and
 * recording the same batch twice sends no second copy. The store never keeps it (the request's
 * state exists, so the dispatcher does not store its submission again).
 */
export function redeliveryOf(s: RequestSubmitted, failedAttempt: number): RequestSubmitted {
  return { ...s, eventId: `${s.eventId}/redelivery/${failedAttempt}` };
}
