/** How the console writes numbers, money, durations and times: one place, unit-tested. */

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : integer.format(n);
}

/** Tokens and other big counts, compact: 1,234 / 12.3k / 4.5M. */
export function formatCompact(n: number): string {
  const abs = Math.abs(n);
  if (abs < 10_000) return integer.format(n);
  if (abs < 1_000_000) return `${(n / 1_000).toFixed(abs < 100_000 ? 1 : 0)}k`;
  if (abs < 1_000_000_000) return `${(n / 1_000_000).toFixed(abs < 100_000_000 ? 1 : 0)}M`;
  return `${(n / 1_000_000_000).toFixed(1)}B`;
}

/** Integer micro-dollars as dollars: cents once past a dollar, more digits for small amounts. */
export function formatUsd(micros: number | null | undefined): string {
  if (micros === null || micros === undefined) return '–';
  const usd = micros / 1_000_000;
  const abs = Math.abs(usd);
  if (abs === 0) return '$0.00';
  if (abs >= 1)
    return `$${usd.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  if (abs >= 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(6)}`;
}

/** A duration: 850 ms, 12.3 s, 4.2 min, 3.1 h. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** A ratio (0..1+) as a percentage. */
export function formatPercent(ratio: number | null | undefined, digits = 1): string {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '–';
  return `${(ratio * 100).toFixed(digits)}%`;
}

/** An ISO time in UTC, to the second: `2025-07-01 12:34:56`. Operators compare times across zones. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

/** The same, with milliseconds: for timelines. */
export function formatTimePrecise(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').slice(0, 23);
}

/** How long ago, from `now`: `12 s ago`, `3.0 min ago`. */
export function formatAgo(iso: string | null | undefined, now: number): string {
  if (!iso) return '–';
  return `${formatMs(Math.max(0, now - Date.parse(iso)))} ago`;
}

/** A `datetime-local` input's value (UTC, as the console shows times) to ISO, or undefined. */
export function localInputToIso(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(`${value}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** Dollars typed by a person (`12.50`) to integer micro-dollars; undefined when not an amount. */
export function parseUsdInput(text: string): number | undefined {
  const m = /^\s*(\d{1,9})(?:\.(\d{1,6}))?\s*$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * 1_000_000 + Number((m[2] ?? '').padEnd(6, '0'));
}
