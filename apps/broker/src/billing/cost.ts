import type { ModelPrice } from './prices';

/** Tokens as the upstream reported them. Cached tokens are part of prompt tokens, reasoning part of completion. */
export interface BilledTokens {
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
}

/**
 * Cost in micro-dollars times one million: exact, so sums never drift. Reasoning tokens are
 * already inside `completionTokens` and bill as output.
 */
export function costMicroMicros(t: BilledTokens, p: ModelPrice): bigint {
  const cached = BigInt(Math.min(t.cachedTokens, t.promptTokens));
  const uncached = BigInt(t.promptTokens) - cached;
  return (
    uncached * BigInt(p.inputMicrosPer1M) +
    cached * BigInt(p.cachedInputMicrosPer1M) +
    BigInt(t.completionTokens) * BigInt(p.outputMicrosPer1M)
  );
}

/** Micro-micro-dollars to micro-dollars, rounded half up: the one place money is rounded. */
export function roundToMicros(microMicros: bigint): number {
  return Number((microMicros + 500_000n) / 1_000_000n);
}

/** Integer micro-dollars for some tokens at one price. */
export function costMicros(t: BilledTokens, p: ModelPrice): number {
  return roundToMicros(costMicroMicros(t, p));
}

/** "$12.345678" from micro-dollars, for people; machines read the integer. */
export function formatUsd(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / 1_000_000);
  const frac = String(abs % 1_000_000).padStart(6, '0');
  return `${sign}${whole}.${frac}`;
}

/** "100" or "12.5" dollars to micro-dollars, exactly (refuses more than 6 decimals). */
export function parseUsd(text: string): number {
  const m = /^(\d{1,9})(?:\.(\d{1,6}))?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a dollar amount such as 100 or 12.50 (at most 6 decimals)`);
  return Number(m[1]) * 1_000_000 + Number((m[2] ?? '').padEnd(6, '0'));
}
