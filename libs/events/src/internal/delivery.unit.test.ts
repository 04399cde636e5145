import { describe, expect, it } from 'vitest';
import { encodeEvent } from '../codec';
import type { DeadLetter } from '../dead-letter';
import type { ConsumedMessage } from '../event-log';
import { makeSubmittedEvent } from '../testing/fixtures';
import { type CommitPoint, createDelivery, type RawMessage } from './delivery';

const raw = (offset: number, partition = 0, topic = 't'): RawMessage => ({
  topic,
  partition,
  offset,
  key: 'k',
  value: encodeEvent(makeSubmittedEvent()),
  timestamp: 0,
});
const tick = () => new Promise((r) => setTimeout(r, 5));
async function until(probe: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !probe(); i++) await tick();
  expect(probe()).toBe(true);
}

function harness(maxInFlight: number, opts: { failCommits?: number; failDeadLetters?: number } = {}) {
  const commits: CommitPoint[] = [];
  const deadLetters: DeadLetter[] = [];
  const pressure: string[] = [];
  const started: ConsumedMessage[] = [];
  const release = new Map<string, (ok: boolean) => void>();
  let failCommits = opts.failCommits ?? 0;
  let failDeadLetters = opts.failDeadLetters ?? 0;
  const delivery = createDelivery(
    {
      groupId: 'g',
      topics: ['t'],
      maxInFlight,
      handle: (m) => {
        started.push(m);
        return new Promise<void>((resolve, reject) =>
          release.set(`${m.partition}:${m.offset}`, (ok) => (ok ? resolve() : reject(new Error('boom')))),
        );
      },
    },
    {
      commit: async (points) => {
        if (failCommits-- > 0) throw new Error('coordinator moved');
        commits.push(...points);
      },
      deadLetter: async (record) => {
        if (failDeadLetters-- > 0) throw new Error('log down');
        deadLetters.push(record);
      },
      backpressure: (topic, partition, full) => void pressure.push(`${topic}:${partition}:${full}`),
    },
    { bufferPerPartition: 4, retryDelayMs: 1, maxRetryDelayMs: 2 },
  );
  const finish = (offset: number, ok = true, partition = 0) => release.get(`${partition}:${offset}`)!(ok);
  return { delivery, commits, deadLetters, pressure, started, finish };
}

describe('delivery', () => {
  it('starts at most maxInFlight handlers without waiting, and commits only the settled prefix', async () => {
    const h = harness(2);
    for (const o of [0, 1, 2]) h.delivery.accept(raw(o));
    expect(h.started.map((m) => m.offset)).toEqual(['0', '1']);
    h.finish(1);
    await until(() => h.started.length === 3);
    await tick();
    expect(h.commits).toEqual([]);
    h.finish(0);
    await until(() => h.commits.length > 0);
    expect(h.commits.at(-1)).toEqual({ topic: 't', partition: 0, offset: 2 });
    h.finish(2);
    await until(() => h.commits.at(-1)?.offset === 3);
  });

  it('pauses a partition when its buffer fills and resumes it at half', async () => {
    const h = harness(1);
    for (const o of [0, 1, 2, 3, 4]) h.delivery.accept(raw(o));
    expect(h.pressure).toEqual(['t:0:true']);
    for (const o of [0, 1]) {
      h.finish(o);
      await until(() => h.started.length === o + 2);
    }
    expect(h.pressure).toEqual(['t:0:true', 't:0:false']);
  });

  it('retries a failing handler in place and commits only after it succeeds', async () => {
    const h = harness(1);
    h.delivery.accept(raw(0));
    h.delivery.accept(raw(1));
    h.finish(0, false);
    await until(() => h.started.length === 2);
    expect(h.started.map((m) => m.offset)).toEqual(['0', '0']);
    h.finish(0);
    await until(() => h.commits.some((c) => c.offset === 1));
  });

  it('dead-letters undecodable bytes (retrying the write) before committing past them', async () => {
    const h = harness(1, { failDeadLetters: 2 });
    h.delivery.accept({ ...raw(0), value: '{oops' });
    h.delivery.accept(raw(1));
    await until(() => h.started.length === 1);
    expect(h.deadLetters).toHaveLength(1);
    expect(h.deadLetters[0]).toMatchObject({ sourceTopic: 't', sourceOffset: '0', raw: '{oops' });
    expect(h.deadLetters[0]!.reason).toMatch(/not JSON/);
    h.finish(1);
    await until(() => h.commits.some((c) => c.offset === 2));
  });

  it('retries failed commits until they land', async () => {
    const h = harness(1, { failCommits: 2 });
    h.delivery.accept(raw(0));
    h.finish(0);
    await until(() => h.commits.length === 1);
    expect(h.commits[0]!.offset).toBe(1);
  });

  it('ignores redelivered offsets, and forgets revoked partitions (nothing more committed)', async () => {
    const h = harness(4);
    h.delivery.accept(raw(0, 0));
    h.delivery.accept(raw(0, 1));
    h.delivery.accept(raw(0, 0));
    expect(h.started).toHaveLength(2);
    h.delivery.retain([{ topic: 't', partition: 0 }]);
    h.finish(0, true, 1);
    h.finish(0, true, 0);
    await until(() => h.commits.length > 0);
    await tick();
    expect(h.commits).toEqual([{ topic: 't', partition: 0, offset: 1 }]);
  });

  it('does not start buffered messages of a paused topic', async () => {
    const h = harness(4);
    h.delivery.setPaused(['t']);
    h.delivery.accept(raw(0));
    await tick();
    expect(h.started).toHaveLength(0);
    h.delivery.setPaused([]);
    expect(h.started).toHaveLength(1);
  });

  it('drains: waits for running handlers (bounded), commits what settled, starts nothing new', async () => {
    const h = harness(1);
    h.delivery.accept(raw(0));
    h.delivery.accept(raw(1));
    const drained = h.delivery.drain(2_000);
    h.finish(0);
    await drained;
    expect(h.started).toHaveLength(1);
    expect(h.commits.at(-1)?.offset).toBe(1);
  });
});
