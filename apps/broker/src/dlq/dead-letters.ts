import {
  type EventLog,
  eventIdFor,
  type RequestSubmitted,
  requestKey,
  requestTopic,
  SluiceError,
  validateEvent,
} from '@sluice/events';
import { and, desc, eq, isNull } from 'drizzle-orm';
import type { SluiceDb } from '../db/database';
import { deadLetterActions, requests } from '../db/schema';
import { idempotentRequestId } from '../intake/idempotency';
import type { EventStore } from '../store/event-store';

export interface DeadLetterEntry {
  requestId: string;
  tenantId: string;
  model: string;
  priority: string;
  attempts: number;
  reason: string | null;
  message: string | null;
  failedAt: string | null;
  action: 'retried' | 'discarded' | null;
  retryRequestId: string | null;
}

/**
 * Requests whose retries were exhausted (`request.failed` with `deadLettered`; the record is also
 * in the dead-letter topic) and what operators did with them. A retry submits the original
 * request again as a new request, under an idempotency key derived from the original's id, so
 * retrying twice never runs it twice; the original stays failed (and billed only for what it used).
 */
export function createDeadLetters(deps: {
  db: SluiceDb;
  store: EventStore;
  log: EventLog;
  clock?: () => number;
}) {
  const clock = deps.clock ?? Date.now;

  async function list(
    q: { includeResolved?: boolean; limit?: number; requestId?: string } = {},
  ): Promise<DeadLetterEntry[]> {
    const rows = await deps.db
      .select({ r: requests, a: deadLetterActions })
      .from(requests)
      .leftJoin(deadLetterActions, eq(deadLetterActions.requestId, requests.requestId))
      .where(
        and(
          eq(requests.deadLettered, true),
          eq(requests.status, 'failed'),
          q.includeResolved ? undefined : isNull(deadLetterActions.requestId),
          q.requestId ? eq(requests.requestId, q.requestId) : undefined,
        ),
      )
      .orderBy(desc(requests.completedAt))
      .limit(q.limit ?? 1_000);
    return rows.map(({ r, a }) => ({
      requestId: r.requestId,
      tenantId: r.tenantId,
      model: r.model,
      priority: r.priority,
      attempts: r.attempts,
      reason: r.errorReason,
      message: r.errorMessage,
      failedAt: r.completedAt ? new Date(r.completedAt).toISOString() : null,
      action: (a?.action as DeadLetterEntry['action']) ?? null,
      retryRequestId: a?.retryRequestId ?? null,
    }));
  }

  async function entry(requestId: string): Promise<DeadLetterEntry> {
    const [found] = await list({ includeResolved: true, requestId });
    if (!found)
      throw new SluiceError('not_found', `No dead-lettered request ${requestId}. See \`sluice dlq list\`.`);
    return found;
  }

  return {
    list,
    async retry(
      requestId: string,
    ): Promise<{ requestId: string; retryRequestId: string; alreadyRetried: boolean }> {
      const e = await entry(requestId);
      if (e.action === 'discarded')
        throw new SluiceError('conflict', `Request ${requestId} was discarded; it cannot be retried.`);
      const original = (await deps.store.eventsOf(requestId)).find(
        (x): x is RequestSubmitted => x.type === 'request.submitted',
      );
      if (!original)
        throw new SluiceError('not_found', `The submission of ${requestId} is not in the event store.`);
      const idempotencyKey = `dlq-retry:${requestId}`;
      const retryRequestId = idempotentRequestId(original.tenantId, idempotencyKey);
      const now = clock();
      const resubmitted = validateEvent({
        ...original,
        eventId: eventIdFor('request.submitted', retryRequestId, 0),
        requestId: retryRequestId,
        occurredAt: new Date(now).toISOString(),
        idempotencyKey,
        deadline: null,
      }) as RequestSubmitted;
      // Appending the same resubmission twice is harmless: the dispatcher knows the request by id.
      await deps.log.append([
        { topic: requestTopic(original.priority), key: requestKey(original.pool), event: resubmitted },
      ]);
      const inserted = await deps.db
        .insert(deadLetterActions)
        .values({ requestId, action: 'retried', retryRequestId })
        .onConflictDoNothing()
        .returning();
      return { requestId, retryRequestId, alreadyRetried: inserted.length === 0 };
    },
    async discard(requestId: string): Promise<{ requestId: string; discarded: boolean }> {
      const e = await entry(requestId);
      if (e.action === 'retried')
        throw new SluiceError('conflict', `Request ${requestId} was already retried as ${e.retryRequestId}.`);
      await deps.db
        .insert(deadLetterActions)
        .values({ requestId, action: 'discarded' })
        .onConflictDoNothing();
      return { requestId, discarded: true };
    },
  };
}

export type DeadLetters = ReturnType<typeof createDeadLetters>;
