import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSluiceError } from '../errors';
import type { ConsumedMessage, ConsumerOptions, EventLog, LogConsumer } from '../event-log';
import { TOPICS } from '../topics';
import { makeEvent, makeSubmittedEvent } from './fixtures';

export interface ContractSubject {
  /** A log on fresh storage (its own database, or its own Kafka namespace). */
  log: EventLog;
  /**
   * A second, independent handle on the same storage (another process, in effect). `stopTimeoutMs`
   * bounds how long its `close()` waits for handlers: a short one simulates a process dying with
   * messages in hand.
   */
  open(options?: { stopTimeoutMs?: number }): Promise<EventLog>;
  /**
   * How long a member may go without heartbeating before the group drops it (the adapter's
   * session timeout as the subject configured it): the slow-handler test holds messages longer.
   */
  sessionTimeoutMs: number;
  /** Writes bytes that are not an event straight into a topic, bypassing validation. */
  writeRaw(topic: string, key: string, value: string): Promise<void>;
  cleanup(): Promise<void>;
}

const T = TOPICS.requests;
let groupCounter = 0;
const group = (name: string) => `contract-${name}-${Date.now().toString(36)}-${groupCounter++}`;

/** Polls until `probe` returns something truthy (generous deadline: a loaded 2-core box). */
export async function waitFor<T>(probe: () => T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

function collect(
  log: EventLog,
  opts: Partial<ConsumerOptions> & { groupId: string; topics: readonly string[] },
) {
  const seen: ConsumedMessage[] = [];
  const consumer = log.consume({
    handle: async (m) => {
      seen.push(m);
    },
    ...opts,
  });
  return { seen, consumer };
}

/** One contract, every adapter: what the broker relies on from an EventLog. */
export function describeEventLogContract(name: string, factory: () => Promise<ContractSubject>): void {
  describe(`EventLog contract: ${name}`, () => {
    let s: ContractSubject;
    const consumers: LogConsumer[] = [];
    beforeAll(async () => {
      s = await factory();
    }, 90_000);
    afterAll(async () => {
      await Promise.allSettled(consumers.map((c) => c.stop()));
      await s?.cleanup();
    }, 60_000);

    it('appends and consumes in order per key', async () => {
      const events = Array.from({ length: 30 }, (_, i) =>
        makeSubmittedEvent({ pool: i % 2 ? 'pool-a' : 'pool-b' }),
      );
      for (const e of events) await s.log.append([{ topic: T.standard, key: e.pool, event: e }]);
      const { seen, consumer } = collect(s.log, { groupId: group('order'), topics: [T.standard] });
      consumers.push(await consumer);
      await waitFor(() => seen.length >= 30);
      for (const pool of ['pool-a', 'pool-b']) {
        expect(seen.filter((m) => m.event.pool === pool).map((m) => m.event.requestId)).toEqual(
          events.filter((e) => e.pool === pool).map((e) => e.requestId),
        );
      }
      const a = seen.find((m) => m.event.pool === 'pool-a')!;
      await s.log.append([
        { topic: T.batch, key: 'pool-a', event: makeSubmittedEvent({ pool: 'pool-a', priority: 'batch' }) },
      ]);
      const { seen: batchSeen, consumer: c2 } = collect(s.log, {
        groupId: group('same-partition'),
        topics: [T.batch],
      });
      consumers.push(await c2);
      await waitFor(() => batchSeen.length >= 1);
      // One pool, one partition number, in every priority topic.
      expect(batchSeen[0]!.partition).toBe(a.partition);
    });

    it('redelivers, never skips, what a consumer handled but did not commit before dying', async () => {
      const groupId = group('crash');
      const events = Array.from({ length: 10 }, () => makeSubmittedEvent({ pool: 'crash-pool' }));
      await s.log.append(events.map((event) => ({ topic: T.interactive, key: 'crash-pool', event })));
      const dying = await s.open({ stopTimeoutMs: 300 });
      const handled: string[] = [];
      await dying.consume({
        groupId,
        topics: [T.interactive],
        maxInFlight: 100,
        handle: async (m) => {
          handled.push(m.event.requestId);
          // The 4th message never finishes: the process "dies" holding it.
          if (m.event.requestId === events[3]!.requestId) await new Promise(() => {});
        },
      });
      await waitFor(() => handled.length >= 10);
      // Die holding it: close gives up on the stuck handler and commits only the settled prefix.
      await dying.close();
      const survivor = await s.open();
      const again: string[] = [];
      const c = await survivor.consume({
        groupId,
        topics: [T.interactive],
        handle: async (m) => void again.push(m.event.requestId),
      });
      consumers.push(c);
      await waitFor(() => again.length >= 7, 60_000);
      // Everything from the unfinished message on comes again; nothing before it is lost.
      expect(again.slice(0, 7)).toEqual(events.slice(3).map((e) => e.requestId));
    }, 90_000);

    it('splits partitions between two consumers of one group without double handling', async () => {
      const groupId = group('split');
      const second = await s.open();
      const a: ConsumedMessage[] = [];
      const b: ConsumedMessage[] = [];
      const ca = await s.log.consume({
        groupId,
        topics: [T.standard, T.batch],
        fromBeginning: false,
        handle: async (m) => void a.push(m),
      });
      const cb = await second.consume({
        groupId,
        topics: [T.standard, T.batch],
        fromBeginning: false,
        handle: async (m) => void b.push(m),
      });
      consumers.push(ca, cb);
      const numbers = (c: LogConsumer) => new Set(c.assignment().map((tp) => tp.partition));
      // A rebalance settles when both own something and nothing is owned twice.
      await waitFor(() => {
        const na = numbers(ca);
        const nb = numbers(cb);
        return na.size > 0 && nb.size > 0 && [...na].every((n) => !nb.has(n));
      }, 60_000);
      await new Promise((r) => setTimeout(r, 1_000));
      for (const n of numbers(ca)) expect(numbers(cb).has(n)).toBe(false);
      // Each member owns the same partition numbers in both topics.
      for (const c of [ca, cb]) {
        const byTopic = (t: string) =>
          c
            .assignment()
            .filter((tp) => tp.topic === t)
            .map((tp) => tp.partition)
            .sort()
            .join(',');
        expect(byTopic(T.standard)).toBe(byTopic(T.batch));
      }
      const events = Array.from({ length: 40 }, (_, i) => makeSubmittedEvent({ pool: `split-${i}` }));
      await s.log.append(events.map((event) => ({ topic: T.standard, key: event.pool, event })));
      await waitFor(() => a.length + b.length >= 40, 60_000);
      await new Promise((r) => setTimeout(r, 500));
      const ids = [...a, ...b].map((m) => m.event.requestId);
      expect(new Set(ids).size).toBe(40);
      expect(ids).toHaveLength(40);
      await Promise.all([ca.stop(), cb.stop()]);
      await second.close();
    }, 120_000);

    it('pauses and resumes a topic', async () => {
      const { seen, consumer } = collect(s.log, {
        groupId: group('pause'),
        topics: [T.batch, T.interactive],
        fromBeginning: false,
      });
      const c = await consumer;
      consumers.push(c);
      await waitFor(() => c.assignment().length > 0, 60_000);
      c.pause([T.batch]);
      expect(c.paused()).toEqual([T.batch]);
      const batch = makeSubmittedEvent({ priority: 'batch', pool: 'pz' });
      const urgent = makeSubmittedEvent({ priority: 'interactive', pool: 'pz' });
      await s.log.append([{ topic: T.batch, key: 'pz', event: batch }]);
      await s.log.append([{ topic: T.interactive, key: 'pz', event: urgent }]);
      await waitFor(() => seen.some((m) => m.event.requestId === urgent.requestId));
      await new Promise((r) => setTimeout(r, 700));
      expect(seen.some((m) => m.event.requestId === batch.requestId)).toBe(false);
      c.resume([T.batch]);
      await waitFor(() => seen.some((m) => m.event.requestId === batch.requestId));
    }, 90_000);

    it('dead-letters a message that fails its schema and keeps going', async () => {
      const groupId = group('dlq');
      const dead: string[] = [];
      const { seen, consumer } = collect(s.log, {
        groupId,
        topics: [T.standard],
        fromBeginning: false,
        onDeadLetter: (r) => void dead.push(r.reason),
      });
      const c = await consumer;
      consumers.push(c);
      await waitFor(() => c.assignment().length > 0, 60_000);
      const dlqSize = async () =>
        (await s.log.lag(group('dlq-size'), [TOPICS.deadLetter])).reduce(
          (n, p) => n + Number(p.endOffset),
          0,
        );
      const dlqBefore = await dlqSize();
      await s.writeRaw(T.standard, 'dlq-pool', '{"type":"request.submitted","version":1,"requestId":42}');
      await s.writeRaw(T.standard, 'dlq-pool', '\u0001\u0002 not json {');
      const good = makeSubmittedEvent({ pool: 'dlq-pool' });
      await s.log.append([{ topic: T.standard, key: 'dlq-pool', event: good }]);
      await waitFor(() => seen.some((m) => m.event.requestId === good.requestId), 60_000);
      expect(dead).toHaveLength(2);
      expect(dead[0]).toMatch(/requestId/);
      expect(dead[1]).toMatch(/not JSON/);
      // Both records are on the dead-letter topic, not just reported. (Every group reading the topic
      // dead-letters what it cannot decode; the embedded log stores each once, Kafka once per group.)
      expect(await dlqSize()).toBeGreaterThanOrEqual(dlqBefore + 2);
      const partition = seen.find((m) => m.event.requestId === good.requestId)!.partition;
      const deadline = Date.now() + 20_000;
      let lag = -1;
      while (Date.now() < deadline && lag !== 0) {
        lag = (await s.log.lag(groupId, [T.standard])).find((p) => p.partition === partition)?.lag ?? -1;
        await new Promise((r) => setTimeout(r, 100));
      }
      // The bad messages were committed past, not left to stall the partition.
      expect(lag).toBe(0);
    }, 90_000);

    it('appends idempotently: the same event id twice is handled once', async () => {
      const event = makeSubmittedEvent({ pool: 'idem-pool' });
      const { seen, consumer } = collect(s.log, {
        groupId: group('idem'),
        topics: [T.standard],
        fromBeginning: false,
      });
      const c = await consumer;
      consumers.push(c);
      await waitFor(() => c.assignment().length > 0, 60_000);
      await s.log.append([{ topic: T.standard, key: 'idem-pool', event }]);
      await s.log.append([{ topic: T.standard, key: 'idem-pool', event }]);
      const marker = makeSubmittedEvent({ pool: 'idem-pool' });
      await s.log.append([{ topic: T.standard, key: 'idem-pool', event: marker }]);
      await waitFor(() => seen.some((m) => m.event.requestId === marker.requestId), 30_000);
      expect(seen.filter((m) => m.event.eventId === event.eventId)).toHaveLength(1);
    }, 90_000);

    it('keeps every character of an event, in one append across partitions', async () => {
      // Quotes, backslashes, SQL, placeholders and characters outside the BMP: stored as sent.
      const text = `O'Brien said "hi" \\ \\' '' $1 $$ ); DROP TABLE x; -- 🦫 ünï\u2028\n\t\u0007`;
      const events = ['chars-a', 'chars-b', 'chars-c', 'chars-d'].map((pool) =>
        makeSubmittedEvent({
          pool,
          body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] },
        }),
      );
      const { seen, consumer } = collect(s.log, { groupId: group('chars'), topics: [T.interactive] });
      consumers.push(await consumer);
      const results = await s.log.append(
        events.map((event) => ({ topic: T.interactive, key: event.pool, event })),
      );
      expect(new Set(results.map((r) => r.partition)).size).toBeGreaterThan(1);
      await waitFor(() => events.every((e) => seen.some((m) => m.event.requestId === e.requestId)));
      for (const e of events) expect(seen.find((m) => m.event.requestId === e.requestId)?.event).toEqual(e);
    });
    it('delivers notifications to a consumer of the outcomes topic, and refuses an invalid one', async () => {
      const { seen, consumer } = collect(s.log, {
        groupId: group('notify'),
        topics: [TOPICS.outcomes],
        fromBeginning: false,
      });
      const c = await consumer;
      consumers.push(c);
      await waitFor(() => c.assignment().length > 0, 60_000);
      const completed = makeEvent('request.completed');
      const failed = makeEvent('request.failed');
      await s.log.notify([
        { topic: TOPICS.outcomes, key: completed.requestId, event: completed },
        { topic: TOPICS.outcomes, key: failed.requestId, event: failed },
      ]);
      await waitFor(() => seen.length >= 2, 30_000);
      expect(seen.map((m) => m.event.eventId).sort()).toEqual([completed.eventId, failed.eventId].sort());
      const invalid = { ...completed, tenantId: '' };
      const refused = await s.log
        .notify([{ topic: TOPICS.outcomes, key: invalid.requestId, event: invalid }])
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(isSluiceError(refused) && refused.code).toBe('invalid_event');
    }, 90_000);

    it('marks only messages appended after the assignment, on their first try, as first deliveries', async () => {
      const before = makeSubmittedEvent({ pool: 'first-pool' });
      await s.log.append([{ topic: T.interactive, key: before.pool, event: before }]);
      const failing = makeSubmittedEvent({ pool: 'first-pool' });
      const tries: Array<{ requestId: string; firstDelivery: boolean | undefined }> = [];
      const c = await s.log.consume({
        groupId: group('first'),
        topics: [T.interactive],
        handle: async (m) => {
          tries.push({ requestId: m.event.requestId, firstDelivery: m.firstDelivery });
          const failingTries = tries.filter((t) => t.requestId === failing.requestId).length;
          if (m.event.requestId === failing.requestId && failingTries === 1) throw new Error('fails once');
        },
      });
      consumers.push(c);
      await waitFor(() => tries.some((t) => t.requestId === before.requestId), 60_000);
      // An adapter may learn where the partitions ended at the assignment only after it: probe
      // (same key, so same partition) until a new message is known to be a first delivery.
      const deadline = Date.now() + 30_000;
      for (let probed = false; !probed && Date.now() < deadline; ) {
        const probe = makeSubmittedEvent({ pool: 'first-pool' });
        await s.log.append([{ topic: T.interactive, key: probe.pool, event: probe }]);
        await waitFor(() => tries.some((t) => t.requestId === probe.requestId));
        probed = tries.some((t) => t.requestId === probe.requestId && t.firstDelivery === true);
        if (!probed) await new Promise((r) => setTimeout(r, 100));
      }
      const after = makeSubmittedEvent({ pool: 'first-pool' });
      await s.log.append([after, failing].map((event) => ({ topic: T.interactive, key: event.pool, event })));
      const of = (e: { requestId: string }) =>
        tries.filter((t) => t.requestId === e.requestId).map((t) => t.firstDelivery);
      await waitFor(() => of(after).length === 1 && of(failing).length === 2);
      expect(of(before)).toEqual([false]);
      expect(of(after)).toEqual([true]);
      expect(of(failing)).toEqual([true, false]);
    }, 90_000);

    it('settles what its accept filter refuses, without handing it over', async () => {
      const groupId = group('accept');
      const wanted = makeSubmittedEvent({ pool: 'accept-wanted' });
      const other = makeSubmittedEvent({ pool: 'accept-other' });
      await s.log.append([other, wanted].map((event) => ({ topic: T.batch, key: event.pool, event })));
      const { seen, consumer } = collect(s.log, {
        groupId,
        topics: [T.batch],
        accept: ({ key }) => key === wanted.pool,
      });
      consumers.push(await consumer);
      await waitFor(() => seen.some((m) => m.event.eventId === wanted.eventId), 60_000);
      // Refused messages are committed past like handled ones: the group has nothing left.
      const settled = async () => (await s.log.lag(groupId, [T.batch])).every((p) => p.lag === 0);
      const deadline = Date.now() + 30_000;
      while (!(await settled()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await settled()).toBe(true);
      expect(seen.map((m) => m.key)).toEqual(seen.map(() => wanted.pool));
    }, 90_000);

    it('refuses an invalid event on append, naming the field, and writes nothing', async () => {
      const ends = async () =>
        (await s.log.lag(group('ends'), [T.standard])).map((p) => p.endOffset).join(',');
      const before = await ends();
      const good = makeSubmittedEvent();
      const bad = { ...makeSubmittedEvent(), tenantId: '' };
      const error = await s.log
        .append([
          { topic: T.standard, key: 'x', event: good },
          { topic: T.standard, key: 'x', event: bad },
        ])
        .catch((e: unknown) => e);
      expect(isSluiceError(error) && error.code === 'invalid_event').toBe(true);
      expect((error as Error).message).toMatch(/tenantId/);
      expect(await ends()).toBe(before);
    });

    it('commits only the contiguous handled prefix when handlers finish out of order', async () => {
      const groupId = group('prefix');
      const events = Array.from({ length: 6 }, () => makeSubmittedEvent({ pool: 'prefix-pool' }));
      const release = new Map<string, () => void>();
      const offsets = new Map<string, string>();
      let partition = -1;
      const c = await s.log.consume({
        groupId,
        topics: [T.interactive],
        fromBeginning: false,
        maxInFlight: 10,
        handle: (m) => {
          offsets.set(m.event.requestId, m.offset);
          partition = m.partition;
          return new Promise<void>((r) => release.set(m.event.requestId, r));
        },
      });
      consumers.push(c);
      await waitFor(() => c.assignment().length > 0, 60_000);
      await s.log.append(events.map((event) => ({ topic: T.interactive, key: 'prefix-pool', event })));
      await waitFor(() => release.size >= 6, 30_000);
      const committed = async () =>
        (await s.log.lag(groupId, [T.interactive])).find((p) => p.partition === partition)?.committedOffset ??
        null;
      // Finish all but the first: nothing may be committed past it.
      for (const e of events.slice(1)) release.get(e.requestId)!();
      await new Promise((r) => setTimeout(r, 800));
      const first = BigInt(offsets.get(events[0]!.requestId)!);
      const mid = await committed();
      expect(mid === null || BigInt(mid) <= first).toBe(true);
      release.get(events[0]!.requestId)!();
      const last = BigInt(offsets.get(events[5]!.requestId)!);
      const deadline = Date.now() + 20_000;
      let now = await committed();
      while (Date.now() < deadline && now !== String(last + 1n)) {
        await new Promise((r) => setTimeout(r, 100));
        now = await committed();
      }
      expect(now).toBe(String(last + 1n));
    }, 90_000);

    it('retries a failing handler in place: nothing after it overtakes it, nothing is skipped', async () => {
      const groupId = group('retry');
      const events = Array.from({ length: 4 }, () => makeSubmittedEvent({ pool: 'retry-pool' }));
      const order: string[] = [];
      const errors: string[] = [];
      let failuresLeft = 3;
      const c = await s.log.consume({
        groupId,
        topics: [T.standard],
        fromBeginning: false,
        handle: async (m) => {
          if (m.event.requestId === events[1]!.requestId && failuresLeft-- > 0) throw new Error('flaky');
          order.push(m.event.requestId);
        },
        onHandlerError: (e, m) => void errors.push(`${m.event.requestId}:${(e as Error).message}`),
      });
      consumers.push(c);
      await waitFor(() => c.assignment().length > 0, 60_000);
      await s.log.append(events.map((event) => ({ topic: T.standard, key: 'retry-pool', event })));
      await waitFor(() => order.length >= 4);
      expect(order).toEqual(events.map((e) => e.requestId));
      expect(errors).toEqual(Array(3).fill(`${events[1]!.requestId}:flaky`));
    }, 90_000);

    it('keeps its partitions while handlers hold every slot for longer than the session timeout', async () => {
      const groupId = group('slow');
      const held = [makeSubmittedEvent({ pool: 'slow-a' }), makeSubmittedEvent({ pool: 'slow-a' })];
      const others = Array.from({ length: 24 }, (_, i) => makeSubmittedEvent({ pool: `slow-${i % 6}` }));
      const handled: string[] = [];
      const releases: Array<() => void> = [];
      let assignments = 0;
      const c = await s.log.consume({
        groupId,
        topics: [T.batch],
        fromBeginning: false,
        maxInFlight: 2,
        onAssignment: () => void assignments++,
        handle: async (m) => {
          if (held.some((h) => h.requestId === m.event.requestId))
            await new Promise<void>((r) => releases.push(r));
          handled.push(m.event.requestId);
        },
      });
      consumers.push(c);
      await waitFor(() => c.assignment().length > 0, 60_000);
      await new Promise((r) => setTimeout(r, 500));
      const assignedBefore = assignments;
      await s.log.append(held.map((event) => ({ topic: T.batch, key: event.pool, event })));
      await waitFor(() => releases.length >= 2);
      await s.log.append(others.map((event) => ({ topic: T.batch, key: event.pool, event })));
      // Both slots are taken: the rest waits (buffered, or its partition paused) while the member
      // keeps heartbeating and stays in the group.
      await new Promise((r) => setTimeout(r, s.sessionTimeoutMs + 1_500));
      expect(handled).toEqual([]);
      expect(assignments).toBe(assignedBefore);
      for (const r of releases) r();
      await waitFor(() => handled.length >= 26, 60_000);
      await new Promise((r) => setTimeout(r, 300));
      expect([...handled].sort()).toEqual([...held, ...others].map((e) => e.requestId).sort());
      expect(releases).toHaveLength(2);
      expect(assignments).toBe(assignedBefore);
    }, 120_000);

    it('commits what was handled on a graceful stop: the group does not see it again', async () => {
      const groupId = group('graceful');
      const events = Array.from({ length: 5 }, () => makeSubmittedEvent({ pool: 'graceful-pool' }));
      await s.log.append(events.map((event) => ({ topic: TOPICS.outcomes, key: 'graceful-pool', event })));
      const first = await s.open();
      const seen1: string[] = [];
      const c1 = await first.consume({
        groupId,
        topics: [TOPICS.outcomes],
        maxInFlight: 5,
        handle: async (m) => void seen1.push(m.event.requestId),
      });
      await waitFor(() => events.every((e) => seen1.includes(e.requestId)), 60_000);
      await c1.stop();
      await first.close();
      const marker = makeSubmittedEvent({ pool: 'graceful-pool' });
      await s.log.append([{ topic: TOPICS.outcomes, key: 'graceful-pool', event: marker }]);
      const seen2: string[] = [];
      const c2 = await s.log.consume({
        groupId,
        topics: [TOPICS.outcomes],
        handle: async (m) => void seen2.push(m.event.requestId),
      });
      consumers.push(c2);
      await waitFor(() => seen2.includes(marker.requestId), 60_000);
      expect(seen2.filter((id) => events.some((e) => e.requestId === id))).toEqual([]);
      expect(await s.log.healthy()).toBe(true);
    }, 120_000);
  });
}
