/**
 * Byte-pair encoding of one regex piece, in O(n log n): the ranks of the tokens it makes.
 *
 * js-tiktoken's merge rescans every pair and rebuilds its key after each merge: quadratic in the
 * piece's length, so one unbroken run (16 KB of one letter) took 18 s and froze the process. This
 * is the same algorithm (lowest rank first, leftmost on ties) with a heap of candidate pairs, each
 * one number: rank × 2^23 + position. A candidate whose pair has changed since it was offered is
 * skipped when popped (the changed pair was offered anew).
 * `bytes` is the piece's UTF-8 as a latin1 string (one char per byte: slicing it is cheap), and
 * `ranks` maps such strings to their rank (`latin1Ranks`).
 */
export function bytePairEncode(bytes: string, ranks: ReadonlyMap<string, number>): number[] {
  const n = bytes.length;
  if (n === 0) return [];
  // A piece that is one token whole is that token (tiktoken's shortcut, before any merge).
  const whole = ranks.get(bytes);
  if (whole !== undefined) return [whole];
  if (n >= POSITIONS) throw new RangeError(`a piece of ${n} bytes is beyond what the tokenizer takes`);
  // Parts as a linked list over byte positions: a part starts at i and ends at end[i] (-1: merged away).
  const end = new Int32Array(n);
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    end[i] = i + 1;
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const pairRank = (left: number): number | undefined => {
    const right = next[left] as number;
    return right < 0 ? undefined : ranks.get(bytes.slice(left, end[right]));
  };
  // Every merge offers at most two new candidates.
  const heap = new MinHeap(3 * n);
  const offer = (left: number) => {
    const rank = pairRank(left);
    if (rank !== undefined) heap.push(rank * POSITIONS + left);
  };
  for (let i = 0; i + 1 < n; i++) offer(i);

  while (heap.size > 0) {
    const key = heap.pop();
    const left = key % POSITIONS;
    if (end[left] === -1 || pairRank(left) !== (key - left) / POSITIONS) continue;
    const right = next[left] as number;
    end[left] = end[right] as number;
    end[right] = -1;
    const after = next[right] as number;
    next[left] = after;
    if (after >= 0) prev[after] = left;
    const before = prev[left] as number;
    if (before >= 0) offer(before);
    offer(left);
  }
  const tokens: number[] = [];
  for (let i = 0; i >= 0; i = next[i] as number) tokens.push(ranks.get(bytes.slice(i, end[i])) as number);
  return tokens;
}

/** Byte positions a candidate key can hold (8 MiB: far beyond any request body). */
const POSITIONS = 2 ** 23;

/** js-tiktoken's rank map (keys are bytes joined by commas) rekeyed by latin1 strings. */
export function latin1Ranks(rankMap: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, rank] of rankMap) out.set(String.fromCharCode(...key.split(',').map(Number)), rank);
  return out;
}

/** A binary min-heap of numbers in one preallocated array (no object per entry: a piece of n bytes
 * pushes up to 3n of them). */
class MinHeap {
  private readonly items: Float64Array;
  size = 0;

  constructor(capacity: number) {
    this.items = new Float64Array(capacity);
  }

  push(value: number): void {
    const items = this.items;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as number;
      if (p <= value) break;
      items[i] = p;
      i = parent;
    }
    items[i] = value;
  }

  pop(): number {
    const items = this.items;
    const top = items[0] as number;
    const last = items[--this.size] as number;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) break;
      const r = l + 1;
      const c = r < this.size && (items[r] as number) < (items[l] as number) ? r : l;
      if ((items[c] as number) >= last) break;
      items[i] = items[c] as number;
      i = c;
    }
    items[i] = last;
    return top;
  }
}
