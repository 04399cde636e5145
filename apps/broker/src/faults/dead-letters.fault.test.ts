import { TOPICS } from '@sluice/events';
import { kafkaBrokers } from '@sluice/test-support';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProductionStack, startProductionStack, submittedId } from './production-stack';

// Retries run out against a failing upstream: the requests land in the dead-letter topic, and the
// operator recovers them with the CLI (`sluice dlq list|retry|discard`) from another process.
describe('dead-letter queue', () => {
  let stack: ProductionStack;

  beforeAll(async () => {
    stack = await startProductionStack({
      env: {
        SLUICE_RETRY_MAX_ATTEMPTS: '2',
        SLUICE_RETRY_BASE_DELAY_MS: '20',
        SLUICE_RETRY_MAX_DELAY_MS: '100',
      },
    });
    await stack.serve();
    await stack.dispatch();
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  }, 60_000);

  it('dead-letters exhausted retries, and the CLI lists, retries and discards them', async () => {
    stack.sim.configure({ faults: { serverErrorRate: 1, serverErrorStatus: 502 } });
    const ids = await Promise.all(
      ['keep', 'drop'].map(async (k) => submittedId(await stack.submit(`dlq ${k}`, `dlq-${k}`))),
    );
    await stack.waitAllTerminal(ids);
    stack.sim.configure({ faults: {} });
    const [keep, drop] = ids as [string, string];
    const statuses = await stack.statuses(ids);
    for (const id of ids) expect(statuses.get(id)).toMatchObject({ status: 'failed', deadLettered: true });

    // Both records are in the dead-letter topic on Kafka.
    const admin = new Kafka({
      clientId: 'dlq-probe',
      brokers: kafkaBrokers(),
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(`${stack.namespace}.${TOPICS.deadLetter}`);
      expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBeGreaterThanOrEqual(2);
    } finally {
      await admin.disconnect();
    }

    const list = async (...args: string[]) =>
      JSON.parse((await stack.group.cli(['dlq', 'list', '--json', ...args])).stdout) as Array<{
        requestId: string;
        reason: string;
        action: string | null;
      }>;
    const listed = await list();
    expect(listed.map((e) => e.requestId).sort()).toEqual([...ids].sort());
    expect(listed.every((e) => e.reason === 'server_error')).toBe(true);
    const human = await stack.group.cli(['dlq', 'list']);
    expect(human.stdout).toContain(keep);

    const retried = await stack.group.cli(['dlq', 'retry', keep]);
    const retryId = /as (req_[A-Za-z0-9_-]+)/.exec(retried.stdout)?.[1];
    expect(retryId).toBeDefined();
    await stack.group.cli(['dlq', 'discard', drop]);
    await stack.waitAllTerminal([retryId!]);
    expect((await stack.statuses([retryId!])).get(retryId!)?.status).toBe('completed');
    expect(await list()).toEqual([]);
    const all = await list('--all');
    expect(all.find((e) => e.requestId === drop)?.action).toBe('discarded');
    // Unknown ids are refused with a message and a non-zero exit.
    const unknown = await stack.group
      .cli(['dlq', 'retry', 'req_doesnotexist'])
      .catch((e: { code: number; stderr: string }) => e);
    expect((unknown as { code: number }).code).not.toBe(0);
    expect((unknown as { stderr: string }).stderr).toMatch(/No dead-lettered request/);
  }, 180_000);
});
