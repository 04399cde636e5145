import { PGlite } from '@electric-sql/pglite';
import { type EventLog, TOPICS } from '@sluice/events';
import { createKafkaEventLog } from '@sluice/events/kafka';
import { createPostgresEventLog } from '@sluice/events/postgres';
import { makeSubmittedEvent, waitFor } from '@sluice/events/testing';
import { kafkaBrokers, requireKafka, uniqueName } from '@sluice/test-support';
import { drizzle } from 'drizzle-orm/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outcome } from '../dispatcher/outcome-events';
import { createLogger } from '../logger';
import { createOutcomeHub, type OutcomeHub } from './outcome-hub';

// A dispatcher can answer a request before the submit's own log acknowledgement has returned, so
// before the caller waits. The hub must still hand that outcome to the caller at once, not leave it
// to the store poll. The store here never knows the request: only the notification can answer.
// Kafka: notified by this process (handed in-process) and by another (through Kafka); embedded
// (PGlite): every notification is handed in-process.
interface Logs {
  api: EventLog;
  /** A second process's handle on the same log (absent on PGlite, which lives in one process). */
  other?: EventLog;
  close(): Promise<void>;
}

async function kafkaLogs(): Promise<Logs> {
  await requireKafka();
  const namespace = uniqueName('hub');
  const open = () =>
    createKafkaEventLog({ brokers: kafkaBrokers(), partitions: 2, clientId: 'hub-test', namespace });
  const api = open();
  await api.start();
  const other = open();
  await other.start();
  return {
    api,
    other,
    async close() {
      await other.close();
      await api.close();
    },
  };
}

async function pgliteLogs(): Promise<Logs> {
  const client = new PGlite();
  const api = createPostgresEventLog({ db: drizzle(client), partitions: 2, pollIntervalMs: 100 });
  await api.start();
  return {
    api,
    async close() {
      await api.close();
      await client.close();
    },
  };
}

const completedOf = (submitted: ReturnType<typeof makeSubmittedEvent>) =>
  outcome.completed(submitted, 0, new Date(), {
    response: { id: 'chatcmpl-early', choices: [] },
    upstreamLatencyMs: 1,
    queueWaitMs: 0,
    upstreamRequestId: null,
    upstreamProcessingMs: null,
  });

const fromThisProcess = ['this process', (l: Logs) => l.api] as const;
const fromAnotherProcess = ['another process', (l: Logs) => l.other as EventLog] as const;

describe.each([
  { name: 'Kafka', openLogs: kafkaLogs, notifiers: [fromThisProcess, fromAnotherProcess] },
  { name: 'embedded (PGlite)', openLogs: pgliteLogs, notifiers: [fromThisProcess] },
])('outcome hub on $name: an outcome that arrives before its caller waits', ({ openLogs, notifiers }) => {
  let logs: Logs;
  let hub: OutcomeHub;
  let storeReads = 0;

  beforeAll(async () => {
    logs = await openLogs();
    hub = createOutcomeHub({
      log: logs.api,
      store: {
        getRequestState: async () => {
          storeReads++;
          return undefined;
        },
      },
      logger: createLogger('silent'),
    });
    await hub.start();
    // The hub reads only new notifications: wait until its consumer has joined and answers.
    const first = makeSubmittedEvent();
    let answered = false;
    const answer = hub
      .waitForOutcome(first.tenantId, first.requestId, { submitted: first, timeoutMs: 30_000 })
      .then(() => {
        answered = true;
      });
    const resend = setInterval(() => {
      void logs.api.notify([{ topic: TOPICS.outcomes, key: first.requestId, event: completedOf(first) }]);
    }, 200);
    await waitFor(() => answered).finally(() => clearInterval(resend));
    await answer;
  }, 60_000);
  afterAll(async () => {
    await hub?.stop();
    await logs?.close();
  });

  it.each(notifiers)('holds an outcome notified by %s until the caller waits', async (_from, notifier) => {
    const log = notifier(logs);
    const submitted = makeSubmittedEvent();
    hub.expect(submitted.requestId);
    await log.notify([{ topic: TOPICS.outcomes, key: submitted.requestId, event: completedOf(submitted) }]);
    // Let the notification reach the hub while nobody listens for the request.
    await new Promise((r) => setTimeout(r, 500));
    const reads = storeReads;

    const view = await hub.waitForOutcome(submitted.tenantId, submitted.requestId, {
      submitted,
      timeoutMs: 2_000,
    });
    expect(view.status).toBe('completed');
    expect(storeReads).toBe(reads);
  });

  it('keeps nothing for a request it was not told of', async () => {
    const unexpected = makeSubmittedEvent();
    await logs.api.notify([
      { topic: TOPICS.outcomes, key: unexpected.requestId, event: completedOf(unexpected) },
    ]);
    await new Promise((r) => setTimeout(r, 500));
    // Nobody announced this request: its outcome was not kept, so only the store could answer.
    await expect(
      hub.waitForOutcome(unexpected.tenantId, unexpected.requestId, {
        submitted: unexpected,
        timeoutMs: 400,
      }),
    ).rejects.toThrow(/still queued/);
  });
});

describe('outcome hub: a failing store re-read does not end a wait', () => {
  it('keeps a caller that knows its request waiting through failed safety-net reads, until the notification', async () => {
    const logs = await pgliteLogs();
    let failedReads = 0;
    const hub = createOutcomeHub({
      log: logs.api,
      store: {
        getRequestState: async () => {
          failedReads++;
          throw new Error('timeout exceeded when trying to connect');
        },
      },
      logger: createLogger('silent'),
    });
    await hub.start();
    try {
      const submitted = makeSubmittedEvent();
      hub.expect(submitted.requestId);
      const waiting = hub.waitForOutcome(submitted.tenantId, submitted.requestId, {
        submitted,
        timeoutMs: 10_000,
      });
      await waitFor(() => failedReads >= 2); // the first re-reads come after 250 and 500 ms
      await logs.api.notify([
        { topic: TOPICS.outcomes, key: submitted.requestId, event: completedOf(submitted) },
      ]);
      expect((await waiting).status).toBe('completed');
    } finally {
      await hub.stop();
      await logs.close();
    }
  }, 30_000);

  it('still fails a watch that knows nothing of the request when the store cannot answer', async () => {
    const logs = await pgliteLogs();
    const hub = createOutcomeHub({
      log: logs.api,
      store: {
        getRequestState: async () => {
          throw new Error('store away');
        },
      },
      logger: createLogger('silent'),
    });
    await hub.start();
    try {
      await expect(hub.waitForOutcome('t', 'req_unknown', { timeoutMs: 2_000 })).rejects.toThrow(
        'store away',
      );
    } finally {
      await hub.stop();
      await logs.close();
    }
  });
});
