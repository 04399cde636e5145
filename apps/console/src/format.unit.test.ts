import { describe, expect, it } from 'vitest';
import {
  formatAgo,
  formatCompact,
  formatMs,
  formatPercent,
  formatTime,
  formatUsd,
  localInputToIso,
  parseUsdInput,
} from './format';

describe('console formatting', () => {
  it('writes money from integer micro-dollars, with the digits a small amount needs', () => {
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatUsd(12_345_678)).toBe('$12.35');
    expect(formatUsd(1_234_567_890_000)).toBe('$1,234,567.89');
    expect(formatUsd(45_000)).toBe('$0.0450');
    expect(formatUsd(12)).toBe('$0.000012');
    expect(formatUsd(null)).toBe('–');
  });

  it('parses dollars a person types exactly, refusing anything else', () => {
    expect(parseUsdInput('12.5')).toBe(12_500_000);
    expect(parseUsdInput(' 100 ')).toBe(100_000_000);
    expect(parseUsdInput('0.000001')).toBe(1);
    expect(parseUsdInput('1.2345678')).toBeUndefined();
    expect(parseUsdInput('-1')).toBeUndefined();
    expect(parseUsdInput('ten')).toBeUndefined();
  });

  it('writes durations, counts and ratios in units people read', () => {
    expect(formatMs(850)).toBe('850 ms');
    expect(formatMs(1_234)).toBe('1.23 s');
    expect(formatMs(45_000)).toBe('45.0 s');
    expect(formatMs(150_000)).toBe('2.5 min');
    expect(formatMs(7_200_000)).toBe('2.0 h');
    expect(formatCompact(9_999)).toBe('9,999');
    expect(formatCompact(12_345)).toBe('12.3k');
    expect(formatCompact(4_500_000)).toBe('4.5M');
    expect(formatPercent(0.4567)).toBe('45.7%');
    expect(formatPercent(null)).toBe('–');
  });

  it('shows times in UTC and reads UTC input', () => {
    expect(formatTime('2025-07-01T12:34:56.789Z')).toBe('2025-07-01 12:34:56');
    expect(localInputToIso('2025-07-01T12:30')).toBe('2025-07-01T12:30:00.000Z');
    expect(localInputToIso('')).toBeUndefined();
    expect(formatAgo('2025-07-01T12:00:00Z', Date.parse('2025-07-01T12:00:30Z'))).toBe('30.0 s ago');
  });
});
