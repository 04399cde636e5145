import { describe, expect, it } from 'vitest';
import { parseRateLimitHeaders } from './headers';
import { SharedLimitDetector } from './shared-limit';
import { createUpstreamModel, seededRandom, type UpstreamModel } from './testing/index';

const MODELS = ['gpt-4o', 'gpt-4o-mini'] as const;

/**
 * Drives a detector directly: both models send requests of 80–169 tokens, each paced evenly at
 * `tokensPerSecond`, to `upstreamOf(model)`; answers come back 300 ms later.
 */
function drive(
  detector: SharedLimitDetector,
  o: {
    from: number;
    until: number;
    tokensPerSecond: number;
    upstreamOf: (model: string) => UpstreamModel;
    capacity: number;
  },
): void {
  const sizes = seededRandom(o.from + 1);
  const nextAt = new Map<string, number>(MODELS.map((m, i) => [m, o.from + i * 50]));
  const answers: Array<{ at: number; run: () => void }> = [];
  for (;;) {
    const [model, at] = [...nextAt.entries()].reduce((a, b) => (b[1] < a[1] ? b : a));
    if (at >= o.until) break;
    answers.sort((a, b) => a.at - b.at);
    while (answers.length && answers[0]!.at <= at) answers.shift()!.run();
    const tokens = 80 + Math.floor(sizes() * 90);
    const seq = detector.dispatched(model, tokens, at);
    const verdict = o.upstreamOf(model).admit(tokens, at, model);
    const answeredAt = at + 300;
    answers.push({
      at: answeredAt,
      run: () =>
        detector.answered(
          model,
          seq,
          verdict.status,
          parseRateLimitHeaders(verdict.headers, answeredAt),
          o.capacity,
        ),
    });
    nextAt.set(model, at + (tokens * 1_000) / o.tokensPerSecond);
  }
  for (const a of answers) a.run();
}

describe('shared-limit detector', () => {
  it('given equal announced limits, then one limit is presumed; the spans split it when the limits are separate, and merge it again when they become one', () => {
    const limits = { rpm: 10_000, tpm: 60_000 };
    const detector = new SharedLimitDetector();
    const own = new Map<string, UpstreamModel>(
      MODELS.map((m) => [m, createUpstreamModel({ limits, enforcement: 'continuous', startDrained: true })]),
    );
    // Each model just under its own limit: a presumed shared limit is soon contradicted.
    drive(detector, {
      from: 0,
      until: 2_000,
      tokensPerSecond: 990,
      upstreamOf: (m) => own.get(m)!,
      capacity: 60_000,
    });
    expect(detector.groups()).toEqual([[...MODELS]]);
    drive(detector, {
      from: 2_000,
      until: 60_000,
      tokensPerSecond: 990,
      upstreamOf: (m) => own.get(m)!,
      capacity: 60_000,
    });
    expect(detector.groups()).toEqual([[MODELS[0]], [MODELS[1]]]);
    expect(detector.evidence(...MODELS)!.z).toBeGreaterThan(5);
    // Now both draw on one limit (each at half of it): the spans show the other's dispatches.
    const shared = createUpstreamModel({ limits, enforcement: 'continuous', startDrained: true });
    drive(detector, {
      from: 60_000,
      until: 180_000,
      tokensPerSecond: 495,
      upstreamOf: () => shared,
      capacity: 60_000,
    });
    expect(detector.groups()).toEqual([[...MODELS]]);
    expect(detector.evidence(...MODELS)!.z).toBeLessThan(-5);
  });

  it('given different announced limits, then no shared limit is presumed', () => {
    const detector = new SharedLimitDetector();
    const a = createUpstreamModel({ limits: { rpm: 10_000, tpm: 60_000 }, enforcement: 'continuous' });
    const b = createUpstreamModel({ limits: { rpm: 10_000, tpm: 90_000 }, enforcement: 'continuous' });
    drive(detector, {
      from: 0,
      until: 30_000,
      tokensPerSecond: 495,
      upstreamOf: (m) => (m === MODELS[0] ? a : b),
      capacity: 60_000,
    });
    expect(detector.groups()).toEqual([[MODELS[0]], [MODELS[1]]]);
  });
});
