/**
 * Tracks handled offsets of one partition. Handlers start in offset order but may finish in any
 * order; the commit point only moves over a contiguous prefix of settled offsets, so nothing
 * unhandled is ever committed. Offsets never started (gaps) are skipped.
 */
export class CommitTracker {
  /** Insertion order is offset order (messages start in order), so the first is the lowest. */
  private readonly pending = new Set<number>();
  private maxSettled = -1;
  private maxReceived = -1;
  private lastCommit: number | undefined;

  started(offset: number): void {
    // Before anything settles, the commit point is where this partition started.
    this.lastCommit ??= offset;
    this.pending.add(offset);
    this.received(offset);
  }

  /** Notes an offset handed over (buffered, not yet started). */
  received(offset: number): void {
    this.maxReceived = Math.max(this.maxReceived, offset);
  }

  /**
   * True when this offset was already received while this tracker lived: a redelivery (e.g. a log
   * that refetches from the committed offset after a rebalance) of something in hand or handled.
   */
  seen(offset: number): boolean {
    return offset <= this.maxReceived;
  }

  /** Marks an offset handled; returns the new commit point (next offset to read) when it moved. */
  settled(offset: number): number | undefined {
    if (!this.pending.delete(offset)) return undefined;
    this.maxSettled = Math.max(this.maxSettled, offset);
    const lowestPending = this.pending.values().next();
    const next = lowestPending.done ? this.maxSettled + 1 : lowestPending.value;
    if (this.lastCommit !== undefined && next <= this.lastCommit) return undefined;
    this.lastCommit = next;
    return next;
  }

  get inFlight(): number {
    return this.pending.size;
  }
}
