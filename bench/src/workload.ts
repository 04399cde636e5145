import { chargedTokens, type SimulatorStats } from '@sluice/openai-simulator';

export const MODEL = 'gpt-4o-mini';
/** What one request costs against TPM at the simulator's admission (ceil(chars/4) + max_tokens). */
export const CHARGE = 125;
const DEFAULT_MAX_TOKENS = 4_096;

/** A chat request of a fixed upstream charge: ids are zero-padded so every body has the same length. */
export function chatBody(tenant: string, i: number, model = MODEL) {
  const messages = [
    { role: 'user' as const, content: `Summarise ticket ${String(i).padStart(7, '0')} for ${tenant}.` },
  ];
  const prompt = chargedTokens({ messages, max_tokens: 1 }, DEFAULT_MAX_TOKENS) - 1;
  return { model, messages, max_tokens: CHARGE - prompt };
}

export interface Limits {
  rpm: number;
  tpm: number;
}

/** Requests per second the binding limit allows for requests of `CHARGE` tokens. */
export function bindingRate(l: Limits): { perSecond: number; dimension: 'RPM' | 'TPM' } {
  const byRequests = l.rpm / 60;
  const byTokens = l.tpm / 60 / CHARGE;
  return byTokens < byRequests
    ? { perSecond: byTokens, dimension: 'TPM' }
    : { perSecond: byRequests, dimension: 'RPM' };
}

/** One refill interval of the binding limit: the time the quota takes to admit one more request. */
export function refillIntervalMs(l: Limits): number {
  return 1000 / bindingRate(l).perSecond;
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Per-second counts of the simulator's answers, relative to a snapshot taken before the run. */
export interface Second {
  t: number;
  ok: number;
  rateLimited: number;
  tokens: number;
}

export function snapshot(stats: SimulatorStats) {
  return {
    ok: stats.ok,
    requests: stats.requests,
    rateLimited: stats.rateLimited.requests + stats.rateLimited.tokens,
    tokensCharged: stats.tokensCharged,
    timeline: new Map(stats.timeline.map((s) => [s.second, { ...s }])),
    timelineByModel: new Map(
      Object.entries(stats.timelineByModel).map(([model, t]) => [
        model,
        new Map(t.map((s) => [s.second, { ...s }])),
      ]),
    ),
  };
}

/**
 * What the simulator saw between `before` and now, second by second (gaps filled with zeros),
 * starting at the first second with traffic of the run.
 */
export function upstreamSince(before: ReturnType<typeof snapshot>, stats: SimulatorStats) {
  const rows = stats.timeline
    .map((s) => {
      const b = before.timeline.get(s.second);
      return {
        second: s.second,
        ok: s.ok - (b?.ok ?? 0),
        rateLimited: s.rateLimited - (b?.rateLimited ?? 0),
        tokens: s.tokens - (b?.tokens ?? 0),
      };
    })
    .filter((s) => s.ok > 0 || s.rateLimited > 0);
  const first = rows[0]?.second ?? 0;
  const last = rows[rows.length - 1]?.second ?? first;
  const seconds: Second[] = Array.from({ length: last - first + 1 }, (_, t) => ({
    t,
    ok: 0,
    rateLimited: 0,
    tokens: 0,
  }));
  for (const r of rows) {
    const slot = seconds[r.second - first]!;
    slot.ok = r.ok;
    slot.rateLimited = r.rateLimited;
    slot.tokens = r.tokens;
  }
  return {
    ok: stats.ok - before.ok,
    attempts: stats.requests - before.requests,
    rateLimited: stats.rateLimited.requests + stats.rateLimited.tokens - before.rateLimited,
    tokensCharged: stats.tokensCharged - before.tokensCharged,
    /** The simulator's second that `seconds[0]` is (to line up a model's own timeline). */
    firstSecond: first,
    seconds,
  };
}

/** One model's per-second answers since `before`, on the same seconds as `upstreamSince`'s (`length` from `firstSecond`). */
export function modelSecondsSince(
  before: ReturnType<typeof snapshot>,
  stats: SimulatorStats,
  model: string,
  firstSecond: number,
  length: number,
): Second[] {
  const seconds: Second[] = Array.from({ length }, (_, t) => ({ t, ok: 0, rateLimited: 0, tokens: 0 }));
  const earlier = before.timelineByModel.get(model);
  for (const s of stats.timelineByModel[model] ?? []) {
    const slot = seconds[s.second - firstSecond];
    if (!slot) continue;
    const b = earlier?.get(s.second);
    slot.ok = s.ok - (b?.ok ?? 0);
    slot.rateLimited = s.rateLimited - (b?.rateLimited ?? 0);
    slot.tokens = s.tokens - (b?.tokens ?? 0);
  }
  return seconds;
}

/**
 * Throughput as a fraction of the binding limit over the steady state: the whole seconds of the
 * run minus the first `skipFirst` (start-up and the learning probe) and the last `skipLast`
 * (the backlog running out mid-second). Utilisation is the larger of requests/RPM and tokens/TPM.
 */
export function steadyUtilisation(
  seconds: readonly Second[],
  l: Limits,
  skipFirst: number,
  skipLast: number,
) {
  const window = seconds.slice(skipFirst, Math.max(skipFirst, seconds.length - skipLast));
  if (window.length === 0) return { utilisation: Number.NaN, seconds: 0 };
  const ok = window.reduce((a, s) => a + s.ok, 0) / window.length;
  const tokens = window.reduce((a, s) => a + s.tokens, 0) / window.length;
  return { utilisation: Math.max(ok / (l.rpm / 60), tokens / (l.tpm / 60)), seconds: window.length };
}
