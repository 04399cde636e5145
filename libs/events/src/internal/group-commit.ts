/**
 * Group commit: appends that arrive while a write is in progress are coalesced into the next
 * write (one transaction, or one produce request). Each caller still resolves only once its own
 * records are durable, and a failed write fails exactly the callers whose records it carried.
 */
export function createGroupCommit<T, R>(write: (items: T[]) => Promise<R[]>, maxBatch = 2_000) {
  type Pending = { items: T[]; resolve: (r: R[]) => void; reject: (e: unknown) => void };
  const queue: Pending[] = [];
  let writing = false;

  async function drain(): Promise<void> {
    writing = true;
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

  return (items: T[]): Promise<R[]> =>
    new Promise<R[]>((resolve, reject) => {
      queue.push({ items, resolve, reject });
      if (!writing) void drain();
    });
}

export type GroupCommit<T, R> = ReturnType<typeof createGroupCommit<T, R>>;
