import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGroupCommit } from './group-commit';

/** A write that records each batch and stays open until `finish` is called. */
function recordingWrite() {
  const batches: number[][] = [];
  const open: Array<{ finish: (error?: Error) => void }> = [];
  const write = (items: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push(items);
      open.push({ finish: (error) => (error ? reject(error) : resolve(items.map((i) => `ok ${i}`))) });
    });
  return { batches, open, write };
}

describe('group commit', () => {
  afterEach(() => vi.useRealTimers());

  it('writes the first call at once and coalesces calls made during a write into the next one', async () => {
    const w = recordingWrite();
    const append = createGroupCommit(w.write);
    const first = append([1]);
    const second = append([2]);
    const third = append([3, 4]);
    expect(w.batches).toEqual([[1]]);
    w.open[0]!.finish();
    expect(await first).toEqual(['ok 1']);
    expect(w.batches).toEqual([[1], [2, 3, 4]]);
    w.open[1]!.finish();
    expect(await second).toEqual(['ok 2']);
    expect(await third).toEqual(['ok 3', 'ok 4']);
  });

  it('fails exactly the callers whose items the failed write carried', async () => {
    const w = recordingWrite();
    const append = createGroupCommit(w.write);
    const first = append([1]);
    const second = append([2]);
    w.open[0]!.finish(new Error('disk full'));
    await expect(first).rejects.toThrow('disk full');
    w.open[1]!.finish();
    expect(await second).toEqual(['ok 2']);
  });

  it('keeps batches within maxBatch items, except a single larger call', async () => {
    const w = recordingWrite();
    const append = createGroupCommit(w.write, { maxBatch: 3 });
    const calls = [append([1]), append([2, 3]), append([4, 5]), append([6, 7, 8, 9])];
    for (let i = 0; i < 4 && w.open[i]; i++) {
      w.open[i]!.finish();
      await calls[i];
    }
    await Promise.all(calls);
    expect(w.batches).toEqual([[1], [2, 3], [4, 5], [6, 7, 8, 9]]);
  });

  it('with lingerMs, waits after the first call and writes everything called meanwhile in one go', async () => {
    vi.useFakeTimers();
    const w = recordingWrite();
    const append = createGroupCommit(w.write, { lingerMs: 10 });
    const calls = [append([1])];
    await vi.advanceTimersByTimeAsync(6);
    calls.push(append([2]));
    expect(w.batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(4);
    expect(w.batches).toEqual([[1, 2]]);
    w.open[0]!.finish();
    expect(await Promise.all(calls)).toEqual([['ok 1'], ['ok 2']]);
    // Idle again: the next call lingers anew.
    const later = append([3]);
    await vi.advanceTimersByTimeAsync(9);
    expect(w.batches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(w.batches).toEqual([[1, 2], [3]]);
    w.open[1]!.finish();
    expect(await later).toEqual(['ok 3']);
  });

  it('flush ends a linger at once and resolves after the write', async () => {
    vi.useFakeTimers();
    const w = recordingWrite();
    const append = createGroupCommit(w.write, { lingerMs: 10 });
    const call = append([1]);
    const flushed = append.flush();
    expect(w.batches).toEqual([[1]]);
    let done = false;
    void flushed.then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(false);
    w.open[0]!.finish();
    await flushed;
    expect(await call).toEqual(['ok 1']);
    // Nothing pending: flush resolves without writing.
    await append.flush();
    expect(w.batches).toHaveLength(1);
  });

  it('with nextTurn, groups the calls made during this turn of the event loop', async () => {
    const w = recordingWrite();
    const append = createGroupCommit(w.write, { nextTurn: true });
    const calls = [append([1]), append([2])];
    await Promise.resolve();
    calls.push(append([3]));
    expect(w.batches).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(w.batches).toEqual([[1, 2, 3]]);
    w.open[0]!.finish();
    expect(await Promise.all(calls)).toEqual([['ok 1'], ['ok 2'], ['ok 3']]);
  });
});
