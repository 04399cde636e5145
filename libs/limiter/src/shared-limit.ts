import { LIMITER_DEFAULTS } from './defaults';
import type { RateLimitHeaders } from './headers';

const MINUTE = 60_000;

/** One dispatch in the pool's order: when, whose, and every model's running estimate total through it. */
interface Mark {
  at: number;
  model: number;
  own: number;
  through: number[];
}

/** A model's answer: the server's remaining tokens when it admitted dispatch `own` of that model. */
interface Point {
  seq: number;
  remaining: number;
  mark: Mark;
}

/** One span of a model's answers: the server's charge, our estimates alone, ours plus the other model's. */
interface Sample {
  charged: number;
  own: number;
  both: number;
}

interface ModelTrack {
  index: number;
  dispatches: number;
  points: Map<number, Point>;
  announced: { rpm?: number; tpm?: number };
}

/**
 * Learns, from evidence and no configuration, which models of one pool draw on one upstream limit
 * (OpenAI: "some model families share one limit"). Equal announced limits presume one; then every
 * span between two consecutive answers of one model is fitted two ways, each with its best charge
 * ratio: the server's charge (its remaining before, plus refill, minus after) as a multiple of our
 * own estimates in the span alone, or of ours plus the other model's dispatches in the same span.
 * Over the pair's recent spans (both directions), a paired test of the squared errors decides:
 * the verdict flips only when the other hypothesis explains better by `zToChange` standard errors,
 * and the test keeps running.
 *
 * Per-request noise in the server's charges (chars/4 against our tokenizer) adds to both errors
 * alike, and our own even pacing makes the other model's dispatches per span nearly constant, so
 * the evidence is in the spread of request sizes: a ratio of errors would need a threshold that
 * noise defeats, a paired test only needs enough spans.
 */
export class SharedLimitDetector {
  private readonly models = new Map<string, ModelTrack>();
  private readonly names: string[] = [];
  private readonly marks = new Map<number, Mark>();
  /** Running estimate totals per model index, in dispatch order. */
  private readonly through: number[] = [];
  private seq = 0;
  /** Pool dispatches the upstream refused: a span over one says nothing (it was not charged). */
  private readonly refused: number[] = [];
  /** Recent spans per ordered pair `${observed},${other}`, with a count since the last test. */
  private readonly samples = new Map<string, { recent: Sample[]; untested: number }>();
  /** Unordered pairs `${low},${high}` believed to share one limit. */
  private readonly sharing = new Set<string>();
  /** Pairs whose verdict the spans have given (before, equal limits alone presume one limit). */
  private readonly judged = new Set<string>();

  private track(model: string): ModelTrack {
    let m = this.models.get(model);
    if (!m) {
      m = { index: this.names.length, dispatches: 0, points: new Map(), announced: {} };
      this.models.set(model, m);
      this.names.push(model);
      this.through.push(0);
    }
    return m;
  }

  /** Records a dispatch; returns its number in the pool's dispatch order (kept with the reservation). */
  dispatched(model: string, estimate: number, at: number): number {
    const m = this.track(model);
    this.through[m.index]! += estimate;
    const seq = ++this.seq;
    this.marks.set(seq, { at, model: m.index, own: ++m.dispatches, through: [...this.through] });
    this.marks.delete(seq - LIMITER_DEFAULTS.sharedLimit.memoryDispatches);
    return seq;
  }

  /**
   * An answer to pool dispatch `seq` of `model`. `capacity`: the server's token bucket as the
   * headers describe it (a span in which it was full lost refill that cannot be placed). Returns
   * true when a pair's verdict changed.
   */
  answered(model: string, seq: number, status: number, h: RateLimitHeaders, capacity: number): boolean {
    const m = this.track(model);
    const announced = { ...m.announced };
    if (h.limitRequests !== undefined) m.announced.rpm = h.limitRequests;
    if (h.limitTokens !== undefined) m.announced.tpm = h.limitTokens;
    let changed = false;
    if (m.announced.rpm !== announced.rpm || m.announced.tpm !== announced.tpm)
      for (const other of this.models.values()) if (other !== m) changed = this.presume(m, other) || changed;
    const mark = this.marks.get(seq);
    if (!mark) return changed;
    if (status === 429) {
      this.refused.push(seq);
      if (this.refused.length > 64) this.refused.shift();
    }
    const limit = m.announced.tpm;
    if (status >= 400 || h.remainingTokens === undefined || limit === undefined) return changed;
    const point: Point = { seq, remaining: h.remainingTokens, mark };
    m.points.set(mark.own, point);
    m.points.delete(mark.own - 64);
    for (const span of LIMITER_DEFAULTS.sharedLimit.spans) {
      const before = m.points.get(mark.own - span);
      const after = m.points.get(mark.own + span);
      if (before) changed = this.sample(m, before, point, limit, capacity) || changed;
      if (after) changed = this.sample(m, point, after, limit, capacity) || changed;
    }
    return changed;
  }

  private sample(m: ModelTrack, before: Point, after: Point, limit: number, capacity: number): boolean {
    // A count of 0 may hide less (censored); a refused dispatch inside was not charged.
    if (before.remaining <= 0 || after.remaining <= 0) return false;
    if (this.refused.some((s) => s > before.seq && s <= after.seq)) return false;
    const refilled = before.remaining + ((after.mark.at - before.mark.at) * limit) / MINUTE;
    // The bucket was full somewhere inside: refill was lost that cannot be placed.
    if (refilled > capacity) return false;
    const charged = refilled - after.remaining;
    const own = after.mark.through[m.index]! - before.mark.through[m.index]!;
    if (own <= 0) return false;
    const { windowSamples, testEvery } = LIMITER_DEFAULTS.sharedLimit;
    let changed = false;
    for (const other of this.models.values()) {
      if (other === m) continue;
      const both = own + (after.mark.through[other.index] ?? 0) - (before.mark.through[other.index] ?? 0);
      const key = `${m.index},${other.index}`;
      const s = this.samples.get(key) ?? { recent: [], untested: 0 };
      this.samples.set(key, s);
      s.recent.push({ charged, own, both });
      if (s.recent.length > windowSamples) s.recent.shift();
      if (++s.untested >= testEvery) {
        s.untested = 0;
        changed = this.judge(m, other) || changed;
      }
    }
    return changed;
  }

  /**
   * Paired test over the pair's recent spans: z > 0 when our own estimates alone explain the
   * server's charges better (separate limits), z < 0 when adding the other model's does.
   */
  private test(a: ModelTrack, b: ModelTrack): { n: number; z: number } {
    const diffs: number[] = [];
    for (const key of [`${a.index},${b.index}`, `${b.index},${a.index}`]) {
      const recent = this.samples.get(key)?.recent ?? [];
      let own2 = 0;
      let ownD = 0;
      let both2 = 0;
      let bothD = 0;
      for (const s of recent) {
        own2 += s.own * s.own;
        ownD += s.own * s.charged;
        both2 += s.both * s.both;
        bothD += s.both * s.charged;
      }
      if (own2 <= 0 || both2 <= 0) continue;
      const separate = ownD / own2;
      const shared = bothD / both2;
      for (const s of recent)
        diffs.push(Math.abs(s.charged - shared * s.both) - Math.abs(s.charged - separate * s.own));
    }
    const n = diffs.length;
    if (n < 2) return { n, z: 0 };
    const mean = diffs.reduce((x, y) => x + y, 0) / n;
    const variance = diffs.reduce((x, y) => x + (y - mean) ** 2, 0) / (n - 1);
    // Both fits exact (the other model sent nothing in any span): no evidence either way.
    if (variance <= 0) return { n, z: 0 };
    return { n, z: mean / Math.sqrt(variance / n) };
  }

  private key(a: ModelTrack, b: ModelTrack): string {
    return a.index < b.index ? `${a.index},${b.index}` : `${b.index},${a.index}`;
  }

  private sameLimits(a: ModelTrack, b: ModelTrack): boolean {
    return (
      a.announced.tpm !== undefined &&
      a.announced.tpm === b.announced.tpm &&
      a.announced.rpm === b.announced.rpm
    );
  }

  /**
   * Equal announced limits, before the spans have said anything: one limit is presumed. Presuming
   * wrongly costs the two models half their rate for the seconds the spans take to show it;
   * presuming separate limits wrongly costs 429s (each model's quota spends the whole limit).
   */
  private presume(a: ModelTrack, b: ModelTrack): boolean {
    const key = this.key(a, b);
    const same = this.sameLimits(a, b);
    const was = this.sharing.has(key);
    if (!same && was) {
      this.sharing.delete(key);
      return true;
    }
    if (same && !was && !this.judged.has(key)) {
      this.sharing.add(key);
      return true;
    }
    return false;
  }

  private judge(a: ModelTrack, b: ModelTrack): boolean {
    const key = this.key(a, b);
    if (!this.sameLimits(a, b)) return false;
    const { minSamples, zToChange } = LIMITER_DEFAULTS.sharedLimit;
    const { n, z } = this.test(a, b);
    if (n < minSamples) return false;
    const was = this.sharing.has(key);
    const now = was ? z < zToChange : z <= -zToChange;
    if (now !== was || Math.abs(z) >= zToChange) this.judged.add(key);
    if (now === was) return false;
    if (now) this.sharing.add(key);
    else this.sharing.delete(key);
    return true;
  }

  /** The pool's models in groups drawing on one limit (pairs believed to share, joined). */
  groups(): string[][] {
    const parent = this.names.map((_, i) => i);
    const root = (i: number): number => (parent[i] === i ? i : root(parent[i]!));
    for (const key of this.sharing) {
      const [a, b] = key.split(',').map(Number) as [number, number];
      parent[root(a)] = root(b);
    }
    const out = new Map<number, string[]>();
    this.names.forEach((name, i) => {
      const r = root(i);
      out.set(r, [...(out.get(r) ?? []), name]);
    });
    return [...out.values()];
  }

  /** The pair's test (for snapshots and tests): z > 0 favours separate limits, z < 0 one shared limit. */
  evidence(a: string, b: string): { samples: number; z: number } | undefined {
    const ma = this.models.get(a);
    const mb = this.models.get(b);
    if (!ma || !mb) return undefined;
    const { n, z } = this.test(ma, mb);
    return { samples: n, z };
  }
}
