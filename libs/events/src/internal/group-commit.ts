export interface GroupCommitOptions {
  /** Most items in one write (default 2,000); a single larger call still goes in one write. */
  maxBatch?: number;
  /**
   * How long an idle group waits after its first item before writing (default 0: at once). Calls
   * made meanwhile join the same write: for writes nobody waits on, one per interval instead of
   * one per call.
   */
  lingerMs?: number;
  /**
   * Without a linger, start the write on the next turn of the event loop instead of at once, so
   * the calls made by all the I/O callbacks of this turn join it. For a writer that runs on this
   * thread (PGlite): its write finishes before the next callback runs, so no call would ever
   * arrive during one to be grouped.
   */
  nextTurn?: boolean;
}

/**
 * Group commit: appends that arrive while a write is in progress are coalesced into the next
 * write (one transaction, or one produce request). Each caller still resolves only once its own
 * records are durable, and a failed write fails exactly the callers whose records it carried.
 */
export function createGroupCommit<T, R>(
  write: (items: T[]) => Promise<R[]>,
  { maxBatch = 2_000, lingerMs = 0, nextTurn = false }: GroupCommitOptions = {},
) {
  type Pending = { items: T[]; resolve: (r: R[]) => void; reject: (e: unknown) => void };
  const queue: Pending[] = [];
  let writing = false;
  /** Cancels the pending start of the next write (a linger or a next-turn wait), if any. */
  let cancelWait: (() => void) | undefined;
  let draining: Promise<void> = Promise.resolve();

  function start(): void {
    cancelWait?.();
    cancelWait = undefined;
    draining = drain();
  }

  async function drain(): Promise<void> {
    while (queue.length) {
      const batch: Pending[] = [];
      let size = 0;
      while (queue.length && (batch.length === 0 || size + queue[0]!.items.length <= maxBatch)) {
        const p = queue.shift()!;
        batch.push(p);
        size += p.items.length;
      }
      try {
        const results = await write(batch.flatMap((p) => p.items));
        let i = 0;
        for (const p of batch) {
          p.resolve(results.slice(i, i + p.items.length));
          i += p.items.length;
        }
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    writing = false;
  }

  const append = (items: T[]): Promise<R[]> =>
    new Promise<R[]>((resolve, reject) => {
      queue.push({ items, resolve, reject });
      if (writing) return;
      writing = true;
      if (lingerMs > 0) {
        const timer = setTimeout(start, lingerMs);
        cancelWait = () => clearTimeout(timer);
      } else if (nextTurn) {
        const immediate = setImmediate(start);
        cancelWait = () => clearImmediate(immediate);
      } else start();
    });
  /** Ends a linger now and resolves once everything appended so far was written (or failed). */
  const flush = async (): Promise<void> => {
    if (cancelWait) start();
    await draining;
  };
  return Object.assign(append, { flush });
}

export type GroupCommit<T, R> = ReturnType<typeof createGroupCommit<T, R>>;
