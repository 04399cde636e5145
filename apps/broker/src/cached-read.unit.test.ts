import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cachedRead } from './cached-read';

describe('cachedRead', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000;
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  function counting() {
    let version = 0;
    const read = vi.fn(async (key: string) => `${key}@${++version}`);
    return { read };
  }

  it('reads a key once while it is fresh, and concurrent misses share the read', async () => {
    const { read } = counting();
    const get = cachedRead(read, 2_000, clock);
    const [a, b] = await Promise.all([get('t1'), get('t1')]);
    expect([a, b]).toEqual(['t1@1', 't1@1']);
    now += 1_000;
    expect(await get('t1')).toBe('t1@1');
    expect(read).toHaveBeenCalledTimes(1);
  });

  it('serves an ageing value at once and refreshes it shortly after, in the background', async () => {
    const { read } = counting();
    const get = cachedRead(read, 2_000, clock);
    await get('t1');
    now += 1_600; // in the last quarter of its life
    expect(await get('t1')).toBe('t1@1');
    expect(read).toHaveBeenCalledTimes(1); // not on the asking request's path
    await vi.advanceTimersByTimeAsync(50);
    expect(read).toHaveBeenCalledTimes(2);
    expect(await get('t1')).toBe('t1@2');
  });

  it('never serves a value older than its life: an expired one is read again before answering', async () => {
    const { read } = counting();
    const get = cachedRead(read, 2_000, clock);
    await get('t1');
    now += 2_000;
    expect(await get('t1')).toBe('t1@2');
  });

  it('forgets a key changed in this process, and a read begun before that does not bring it back', async () => {
    let release!: (v: string) => void;
    const read = vi.fn((key: string) => new Promise<string>((r) => (release = (v) => r(`${key}:${v}`))));
    const get = cachedRead(read, 2_000, clock);
    const first = get('t1');
    get.forget('t1');
    release('old');
    expect(await first).toBe('t1:old');
    const second = get('t1');
    release('new');
    expect(await second).toBe('t1:new');
    expect(read).toHaveBeenCalledTimes(2);
  });

  it('a failed read fails its ask and is not remembered', async () => {
    let fail = true;
    const get = cachedRead(
      async (key) => {
        if (fail) throw new Error('database away');
        return key;
      },
      2_000,
      clock,
    );
    await expect(get('t1')).rejects.toThrow('database away');
    fail = false;
    expect(await get('t1')).toBe('t1');
  });
});
