import { describe, expect, it } from 'vitest';
import { parseReportDate } from '../cli/report-command';
import { csvField, formatReport, reportWarnings } from './report-format';
import type { UsageReportRow } from './usage-report';

const row = (over: Partial<UsageReportRow>): UsageReportRow => ({
  tenantId: 'ten_1',
  tenantName: 'acme',
  period: '2025-07-01',
  model: 'gpt-4o-mini',
  endpoint: '/v1/chat/completions',
  tier: 'all',
  requests: 10,
  completed: 8,
  failed: 1,
  cancelled: 1,
  retries: 3,
  rateLimited: 2,
  promptTokens: 1000,
  cachedTokens: 100,
  completionTokens: 500,
  reasoningTokens: 0,
  estimatedUsage: 0,
  costMicros: 1234,
  costUsd: '0.001234',
  cacheHits: 2,
  cacheMisses: 3,
  savedMicros: 500,
  savedUsd: '0.000500',
  savedVsDefaultMicros: 500,
  savedVsDefaultUsd: '0.000500',
  unpricedTokens: 0,
  units: {},
  unpricedUnits: 0,
  queueWaitP50Ms: 40,
  queueWaitP95Ms: 90,
  upstreamLatencyP50Ms: 200,
  upstreamLatencyP95Ms: null,
  avgQueueWaitMs: 45,
  avgUpstreamLatencyMs: 210,
  ...over,
});

describe('report formats', () => {
  it('lists built-in tool calls per line, and warns once of those the price table leaves out', () => {
    const rows = [
      row({ model: 'gpt-4o', units: { web_search_call: 2 }, unpricedUnits: 0 }),
      row({
        model: 'gpt-4.1-nano',
        units: { web_search_call: 1, code_interpreter_call: 1 },
        unpricedUnits: 2,
      }),
    ];
    const csv = formatReport(rows, 'csv').trimEnd().split('\r\n');
    expect(csv[1]?.endsWith(',web_search_call=2,0,all,0.000500,500')).toBe(true);
    expect(csv[2]?.endsWith(',code_interpreter_call=1 web_search_call=1,2,all,0.000500,500')).toBe(true);
    const warnings = reportWarnings(rows);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: 2 built-in tool call\(s\) \(gpt-4.1-nano\) have no price/);
    expect(reportWarnings([row({})])).toEqual([]);
    expect(reportWarnings([row({ unpricedTokens: 5 })])[0]).toMatch(/5 token\(s\) of models missing/);
    expect(formatReport(rows, 'table').split('\n').at(-1)).toMatch(/ 2 +0\.001000 +1000$/);
  });

  it('writes RFC 4180 CSV: a header, one line per row, quoted fields where needed', () => {
    const csv = formatReport(
      [row({}), row({ tenantName: 'evil, "inc"', costMicros: 1, costUsd: '0.000001' })],
      'csv',
    );
    const lines = csv.trimEnd().split('\r\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^tenant,tenant_id,period,model,requests,completed,failed,cancelled,retries,429s,/,
    );
    expect(lines[1]).toContain(
      'acme,ten_1,2025-07-01,gpt-4o-mini,10,8,1,1,3,2,1000,100,500,0,0.001234,1234,40,90,200,,0',
    );
    expect(lines[2]!.startsWith('"evil, ""inc""",ten_1')).toBe(true);
    expect(
      lines[0]?.endsWith(
        ',unpriced_tokens,cache_hits,cache_misses,saved_usd,saved_micros,endpoint,units,unpriced_units,tier,saved_vs_default_usd,saved_vs_default_micros',
      ),
    ).toBe(true);
    expect(lines[1]?.endsWith(',0,2,3,0.000500,500,/v1/chat/completions,,0,all,0.000500,500')).toBe(true);
    expect(csvField('a\nb')).toBe('"a\nb"');
  });

  it('adds a total line to the table, summing the lines’ costs', () => {
    const table = formatReport(
      [row({}), row({ model: 'gpt-4o', costMicros: 766, costUsd: '0.000766' })],
      'table',
    );
    const total = table.split('\n').at(-1)!;
    expect(total).toMatch(/^TOTAL/);
    expect(total).toContain('0.002000');
    expect(total).toContain(' 20 ');
    expect(formatReport([], 'table')).toBe('no usage in this range');
  });

  it('gives JSON with rows and totals', () => {
    const json = JSON.parse(formatReport([row({})], 'json'));
    expect(json.rows[0].costMicros).toBe(1234);
    expect(json.totals.costUsd).toBe('0.001234');
    expect(json.totals).toMatchObject({
      cacheHits: 2,
      cacheMisses: 3,
      savedMicros: 500,
      savedUsd: '0.000500',
    });
  });
});

describe('report dates', () => {
  it('reads a day as UTC midnight, and a day as --to includes it', () => {
    expect(parseReportDate('2025-07-01', 'from').toISOString()).toBe('2025-07-01T00:00:00.000Z');
    expect(parseReportDate('2025-07-31', 'to').toISOString()).toBe('2025-08-01T00:00:00.000Z');
    expect(parseReportDate('2025-07-01T12:30:00+02:00', 'to').toISOString()).toBe('2025-07-01T10:30:00.000Z');
  });

  it('refuses what is not a date', () => {
    expect(() => parseReportDate('2025-02-30', 'from')).toThrow(/not a calendar date/);
    expect(() => parseReportDate('yesterday', 'from')).toThrow(/not a date/);
  });
});
