import { isSluiceError } from '@sluice/events';
import { describe, expect, it } from 'vitest';
import { histogramPercentile, LATENCY_BUCKETS_MS, latencyBucket, oneObservation } from '../store/projections';
import { admitWithinBudget, budgetPeriod, budgetStatus } from './budgets';
import { costMicroMicros, costMicros, formatUsd, parseUsd, roundToMicros } from './cost';
import {
  billedChannel,
  loadPriceTable,
  parsePriceTable,
  priceAt,
  tierPricedAt,
  unitPriceAt,
  unitPriceIntervals,
  usdToMicros,
} from './prices';

const table = parsePriceTable({
  batchDiscountPercent: 50,
  models: {
    'gpt-4o-mini': [
      { effectiveFrom: '2024-01-01T00:00:00Z', input: '0.15', cachedInput: '0.075', output: '0.60' },
      { effectiveFrom: '2025-07-01T00:00:00Z', input: '0.20', cachedInput: '0.10', output: '0.80' },
    ],
    'gpt-4o': [
      {
        effectiveFrom: '2024-01-01T00:00:00Z',
        input: 2.5,
        cachedInput: 1.25,
        output: 10,
        batch: { input: '1.00', cachedInput: '0.50', output: '4.00' },
      },
    ],
  },
});

describe('prices', () => {
  it('prices units that are not tokens per unit, per version: unlisted kinds and earlier versions are unpriced', () => {
    const withUnits = parsePriceTable({
      models: {
        'gpt-4o': [
          { effectiveFrom: '2024-01-01T00:00:00Z', input: '2.50', cachedInput: '1.25', output: '10' },
          {
            effectiveFrom: '2025-03-11T00:00:00Z',
            input: '2.50',
            cachedInput: '1.25',
            output: '10',
            units: { web_search_call: '0.01', file_search_call: 0.0025 },
          },
        ],
      },
    });
    expect(unitPriceAt(withUnits, 'gpt-4o', 'web_search_call', new Date('2025-06-01T00:00:00Z'))).toBe(
      10_000,
    );
    expect(unitPriceAt(withUnits, 'gpt-4o', 'file_search_call', new Date('2025-06-01T00:00:00Z'))).toBe(
      2_500,
    );
    expect(
      unitPriceAt(withUnits, 'gpt-4o', 'web_search_call', new Date('2025-01-01T00:00:00Z')),
    ).toBeUndefined();
    expect(unitPriceAt(withUnits, 'gpt-4o', 'code_interpreter_call', new Date())).toBeUndefined();
    expect(unitPriceAt(withUnits, 'gpt-unknown', 'web_search_call', new Date())).toBeUndefined();
    expect(unitPriceIntervals(withUnits)).toEqual([
      {
        model: 'gpt-4o',
        unit: 'web_search_call',
        validFrom: new Date('2025-03-11T00:00:00Z'),
        validTo: null,
        micros: 10_000,
      },
      {
        model: 'gpt-4o',
        unit: 'file_search_call',
        validFrom: new Date('2025-03-11T00:00:00Z'),
        validTo: null,
        micros: 2_500,
      },
    ]);
    const bad = (units: unknown) => () =>
      parsePriceTable({
        models: {
          m: [{ effectiveFrom: '2025-01-01T00:00:00Z', input: '1', cachedInput: '1', output: '1', units }],
        },
      });
    expect(bad({ web_search_call: '-1' })).toThrow(/USD amount per unit/);
    expect(bad({ 'Web Search': '0.01' })).toThrow(/unit kinds are lower-case names/);
    // The shipped table prices web search for the models that offer it.
    expect(
      unitPriceAt(loadPriceTable(), 'gpt-4.1', 'web_search_call', new Date('2026-01-01T00:00:00Z')),
    ).toBe(10_000);
  });

  it('reads decimal USD per 1M tokens into integer micro-dollars without floats', () => {
    expect(usdToMicros('2.50')).toBe(2_500_000);
    expect(usdToMicros('0.075')).toBe(75_000);
    expect(usdToMicros('0.000001')).toBe(1);
    expect(usdToMicros('10')).toBe(10_000_000);
  });

  it('picks the version in force at the time, and the Batch price at its discount or as given', () => {
    const before = priceAt(table, 'gpt-4o-mini', new Date('2025-06-30T23:59:59Z'), 'sync');
    const after = priceAt(table, 'gpt-4o-mini', new Date('2025-07-01T00:00:00Z'), 'sync');
    expect(before?.inputMicrosPer1M).toBe(150_000);
    expect(after?.inputMicrosPer1M).toBe(200_000);
    expect(priceAt(table, 'gpt-4o-mini', new Date('2025-08-01T00:00:00Z'), 'batch')).toEqual({
      inputMicrosPer1M: 100_000,
      cachedInputMicrosPer1M: 50_000,
      outputMicrosPer1M: 400_000,
    });
    expect(priceAt(table, 'gpt-4o', new Date('2025-01-01T00:00:00Z'), 'batch')?.outputMicrosPer1M).toBe(
      4_000_000,
    );
    expect(priceAt(table, 'gpt-4o', new Date('2025-01-01T00:00:00Z'), 'cache')?.outputMicrosPer1M).toBe(0);
    expect(priceAt(table, 'gpt-unknown', new Date(), 'sync')).toBeUndefined();
    expect(priceAt(table, 'gpt-4o-mini', new Date('2023-01-01T00:00:00Z'), 'sync')).toBeUndefined();
  });

  it('refuses a bad file with a message that says what to change', () => {
    const bad = (models: unknown) => () => parsePriceTable({ models }, 'prices.json');
    expect(
      bad({ m: [{ effectiveFrom: '2025-01-01T00:30:00Z', input: '1', cachedInput: '1', output: '1' }] }),
    ).toThrow(/whole UTC hour/);
    expect(
      bad({
        m: [{ effectiveFrom: '2025-01-01T00:00:00Z', input: '1.1234567', cachedInput: '1', output: '1' }],
      }),
    ).toThrow(/at most 6 decimals/);
    expect(
      bad({ m: [{ effectiveFrom: '2025-01-01T00:00:00Z', input: '-1', cachedInput: '1', output: '1' }] }),
    ).toThrow(/prices.json/);
    const twice = { effectiveFrom: '2025-01-01T00:00:00Z', input: '1', cachedInput: '1', output: '1' };
    expect(bad({ m: [twice, twice] })).toThrow(/two versions/);
  });

  it('prices the flex and priority tiers from the version that lists them; earlier ones bill them as sync', () => {
    const tiers = parsePriceTable({
      models: {
        'gpt-5': [
          { effectiveFrom: '2025-01-01T00:00:00Z', input: '1.25', cachedInput: '0.125', output: '10' },
          {
            effectiveFrom: '2026-12-06T00:00:00Z',
            input: '1.25',
            cachedInput: '0.125',
            output: '10',
            flex: { input: '0.625', cachedInput: '0.0625', output: '5' },
            priority: { input: '2.50', cachedInput: '0.25', output: '20' },
          },
        ],
      },
    });
    const before = new Date('2026-01-01T00:00:00Z');
    const after = new Date('2026-12-07T00:00:00Z');
    expect(priceAt(tiers, 'gpt-5', before, 'flex')).toEqual(priceAt(tiers, 'gpt-5', before, 'sync'));
    expect(tierPricedAt(tiers, 'gpt-5', before, 'flex')).toBe(false);
    expect(priceAt(tiers, 'gpt-5', after, 'flex')).toEqual({
      inputMicrosPer1M: 625_000,
      cachedInputMicrosPer1M: 62_500,
      outputMicrosPer1M: 5_000_000,
    });
    expect(priceAt(tiers, 'gpt-5', after, 'priority')?.outputMicrosPer1M).toBe(20_000_000);
    expect(tierPricedAt(tiers, 'gpt-5', after, 'flex')).toBe(true);
    // A synchronous answer bills at the tier the upstream reported; other channels keep theirs.
    expect(billedChannel('sync', 'flex')).toBe('flex');
    expect(billedChannel('sync', 'priority')).toBe('priority');
    expect(billedChannel('sync', 'default')).toBe('sync');
    expect(billedChannel('sync', 'scale')).toBe('sync');
    expect(billedChannel('sync', null)).toBe('sync');
    expect(billedChannel('batch', 'flex')).toBe('batch');
    expect(() =>
      parsePriceTable({
        models: {
          m: [
            {
              effectiveFrom: '2025-01-01T00:00:00Z',
              input: '1',
              cachedInput: '1',
              output: '1',
              flex: { input: 'cheap', cachedInput: '0', output: '0' },
            },
          ],
        },
      }),
    ).toThrow(/flex\.input/);
  });

  it('ships a valid table with the list prices', () => {
    const shipped = loadPriceTable();
    expect(priceAt(shipped, 'gpt-4o', new Date(), 'sync')).toEqual({
      inputMicrosPer1M: 2_500_000,
      cachedInputMicrosPer1M: 1_250_000,
      outputMicrosPer1M: 10_000_000,
    });
    expect(priceAt(shipped, 'gpt-4o', new Date(), 'batch')?.inputMicrosPer1M).toBe(1_250_000);
  });
});

describe('cost', () => {
  const mini = priceAt(table, 'gpt-4o-mini', new Date('2025-01-01T00:00:00Z'), 'sync')!;

  it('bills uncached prompt, cached prompt and completion (reasoning inside) at their prices', () => {
    // 1M prompt of which 400k cached, 1M completion: 0.6 * 0.15 + 0.4 * 0.075 + 1 * 0.60 = $0.72
    expect(
      costMicros({ promptTokens: 1_000_000, cachedTokens: 400_000, completionTokens: 1_000_000 }, mini),
    ).toBe(720_000);
  });

  it('is exact in micro-micro-dollars and rounds half up only at the end', () => {
    // 3 prompt tokens at $0.15/1M = 0.45 micro-dollars
    expect(costMicroMicros({ promptTokens: 3, cachedTokens: 0, completionTokens: 0 }, mini)).toBe(450_000n);
    expect(roundToMicros(450_000n)).toBe(0);
    expect(roundToMicros(500_000n)).toBe(1);
    // a million such requests sum exactly before rounding: 450_000 micro-dollars, not 0
    expect(roundToMicros(450_000n * 1_000_000n)).toBe(450_000);
  });

  it('never bills more cached tokens than prompt tokens', () => {
    expect(costMicros({ promptTokens: 10, cachedTokens: 50, completionTokens: 0 }, { ...mini })).toBe(
      costMicros({ promptTokens: 10, cachedTokens: 10, completionTokens: 0 }, mini),
    );
  });

  it('formats and parses dollars exactly', () => {
    expect(formatUsd(720_000)).toBe('0.720000');
    expect(formatUsd(123_456_789)).toBe('123.456789');
    expect(parseUsd('100')).toBe(100_000_000);
    expect(parseUsd('12.5')).toBe(12_500_000);
    expect(() => parseUsd('1e3')).toThrow(/not a dollar amount/);
    expect(() => parseUsd('-5')).toThrow(/not a dollar amount/);
  });
});

describe('latency histogram', () => {
  it('puts each observation in the first bucket whose bound it does not exceed', () => {
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(10)).toBe(0);
    expect(latencyBucket(11)).toBe(1);
    expect(latencyBucket(10 * 3_600_000)).toBe(LATENCY_BUCKETS_MS.length);
    expect(oneObservation(300).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('answers percentiles to the resolution of its buckets', () => {
    // 90 observations in (100, 250], 10 in (1000, 2500]
    const h = new Array(LATENCY_BUCKETS_MS.length + 1).fill(0);
    h[latencyBucket(200)] = 90;
    h[latencyBucket(2_000)] = 10;
    const p50 = histogramPercentile(h, 0.5)!;
    const p95 = histogramPercentile(h, 0.95)!;
    expect(p50).toBeGreaterThan(100);
    expect(p50).toBeLessThanOrEqual(250);
    expect(p95).toBeGreaterThan(1_000);
    expect(p95).toBeLessThanOrEqual(2_500);
    expect(histogramPercentile([], 0.5)).toBeNull();
  });
});

describe('budgets', () => {
  const now = new Date('2025-07-15T12:00:00Z');

  it('runs per UTC calendar month', () => {
    expect(budgetPeriod(now)).toEqual({
      start: new Date('2025-07-01T00:00:00Z'),
      end: new Date('2025-08-01T00:00:00Z'),
    });
    expect(budgetPeriod(new Date('2025-12-31T23:59:59Z')).end).toEqual(new Date('2026-01-01T00:00:00Z'));
  });

  it('admits within budget, then refuses or downgrades to batch once spent', () => {
    const budget = { period: 'month' as const, usdMicros: 1_000_000, onExhausted: 'refuse' as const };
    const within = budgetStatus('t1', budget, { costMicros: 999_999, tokens: 5 }, now);
    expect(within.remainingUsdMicros).toBe(1);
    expect(admitWithinBudget(within, 'interactive')).toBe('interactive');

    const spent = budgetStatus('t1', budget, { costMicros: 1_000_000, tokens: 5 }, now);
    expect(spent.exhausted).toBe(true);
    const err = (() => {
      try {
        admitWithinBudget(spent, 'interactive');
      } catch (e) {
        return e;
      }
    })();
    expect(isSluiceError(err) && err.code).toBe('budget_exceeded');
    expect((err as Error).message).toMatch(/spent \$1\.000000 of its \$1\.000000/);

    const down = budgetStatus(
      't1',
      { ...budget, onExhausted: 'downgrade' },
      { costMicros: 2_000_000, tokens: 0 },
      now,
    );
    expect(admitWithinBudget(down, 'interactive')).toBe('batch');
    expect(down.remainingUsdMicros).toBe(0);
  });

  it('counts a token budget on its own, and no budget limits nothing', () => {
    const tokens = budgetStatus(
      't1',
      { period: 'month', tokens: 100, onExhausted: 'refuse' },
      { costMicros: 9e9, tokens: 99 },
      now,
    );
    expect(tokens.exhausted).toBe(false);
    expect(tokens.remainingTokens).toBe(1);
    const none = budgetStatus('t1', undefined, { costMicros: 9e9, tokens: 9e9 }, now);
    expect(none.limited).toBe(false);
    expect(admitWithinBudget(none, 'standard')).toBe('standard');
  });
});
