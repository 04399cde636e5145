import { reportTotals, type UsageReportRow } from './usage-report';

export const REPORT_FORMATS = ['table', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** The columns of the table and CSV forms, in order: name and how to read it from a row. */
const COLUMNS: ReadonlyArray<[string, (r: UsageReportRow) => string | number | null]> = [
  ['tenant', (r) => r.tenantName ?? r.tenantId],
  ['tenant_id', (r) => r.tenantId],
  ['period', (r) => r.period],
  ['model', (r) => r.model],
  ['requests', (r) => r.requests],
  ['completed', (r) => r.completed],
  ['failed', (r) => r.failed],
  ['cancelled', (r) => r.cancelled],
  ['retries', (r) => r.retries],
  ['429s', (r) => r.rateLimited],
  ['prompt_tokens', (r) => r.promptTokens],
  ['cached_tokens', (r) => r.cachedTokens],
  ['completion_tokens', (r) => r.completionTokens],
  ['reasoning_tokens', (r) => r.reasoningTokens],
  ['cost_usd', (r) => r.costUsd],
  ['cost_micros', (r) => r.costMicros],
  ['queue_wait_p50_ms', (r) => r.queueWaitP50Ms],
  ['queue_wait_p95_ms', (r) => r.queueWaitP95Ms],
  ['upstream_p50_ms', (r) => r.upstreamLatencyP50Ms],
  ['upstream_p95_ms', (r) => r.upstreamLatencyP95Ms],
  ['unpriced_tokens', (r) => r.unpricedTokens],
  // Exact response cache (added last, so older CSV readers keep their column positions).
  ['cache_hits', (r) => r.cacheHits],
  ['cache_misses', (r) => r.cacheMisses],
  ['saved_usd', (r) => r.savedUsd],
  ['saved_micros', (r) => r.savedMicros],
  // The endpoint (added last, for the same reason).
  ['endpoint', (r) => r.endpoint],
  // Built-in tool calls by kind (`web_search_call=2`), and those without a price (added last).
  ['units', (r) => unitsText(r.units)],
  ['unpriced_units', (r) => r.unpricedUnits],
  // Service tiers (added last): the tier of a report by tier, and every channel's saving against the default price.
  ['tier', (r) => r.tier],
  ['saved_vs_default_usd', (r) => r.savedVsDefaultUsd],
  ['saved_vs_default_micros', (r) => r.savedVsDefaultMicros],
];

function unitsText(units: Readonly<Record<string, number>>): string {
  return Object.entries(units)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, n]) => `${kind}=${n}`)
    .join(' ');
}

/**
 * What a report's reader must know about its cost: units (built-in tool calls) and tokens the
 * price table does not price, so the cost leaves them out. One line each; none when all is priced.
 */
export function reportWarnings(rows: readonly UsageReportRow[]): string[] {
  const warnings: string[] = [];
  const unpricedUnits = rows.reduce((n, r) => n + r.unpricedUnits, 0);
  if (unpricedUnits > 0) {
    const models = [...new Set(rows.filter((r) => r.unpricedUnits > 0).map((r) => r.model))].join(', ');
    warnings.push(
      `warning: ${unpricedUnits} built-in tool call(s) (${models}) have no price in the price table and are not in the cost; list them under "units" in the model's price version (SLUICE_PRICES_FILE).`,
    );
  }
  const unpricedTokens = rows.reduce((n, r) => n + r.unpricedTokens, 0);
  if (unpricedTokens > 0)
    warnings.push(
      `warning: ${unpricedTokens} token(s) of models missing from the price table are not in the cost.`,
    );
  return warnings;
}

/** RFC 4180: quote a field holding a comma, quote or line break; double the quotes. */
export function csvField(v: string | number | null): string {
  const s = v === null ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function reportToCsv(rows: readonly UsageReportRow[]): string {
  const lines = [COLUMNS.map(([h]) => h).join(',')];
  for (const r of rows) lines.push(COLUMNS.map(([, get]) => csvField(get(r))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export function reportToTable(rows: readonly UsageReportRow[]): string {
  if (rows.length === 0) return 'no usage in this range';
  const head = COLUMNS.filter(([h]) => h !== 'tenant_id').map(([h]) => h);
  const cells = rows.map((r) =>
    COLUMNS.filter(([h]) => h !== 'tenant_id').map(([, get]) => {
      const v = get(r);
      return v === null ? '-' : String(v);
    }),
  );
  const t = reportTotals(rows);
  const total = head.map((h) => {
    const key: Record<string, string> = {
      tenant: 'TOTAL',
      requests: String(t.requests),
      completed: String(t.completed),
      failed: String(t.failed),
      cancelled: String(t.cancelled),
      retries: String(t.retries),
      '429s': String(t.rateLimited),
      prompt_tokens: String(t.promptTokens),
      cached_tokens: String(t.cachedTokens),
      completion_tokens: String(t.completionTokens),
      reasoning_tokens: String(t.reasoningTokens),
      cost_usd: t.costUsd,
      cost_micros: String(t.costMicros),
      cache_hits: String(t.cacheHits),
      cache_misses: String(t.cacheMisses),
      saved_usd: t.savedUsd,
      saved_micros: String(t.savedMicros),
      unpriced_units: String(t.unpricedUnits),
      saved_vs_default_usd: t.savedVsDefaultUsd,
      saved_vs_default_micros: String(t.savedVsDefaultMicros),
    };
    return key[h] ?? '';
  });
  const all = [head, ...cells, total];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const numeric = (i: number) =>
    i >= 3 && head[i] !== 'endpoint' && head[i] !== 'units' && head[i] !== 'tier';
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(head), rule, ...cells.map(line), rule, line(total)].join('\n');
}

export function formatReport(rows: readonly UsageReportRow[], format: ReportFormat): string {
  switch (format) {
    case 'csv':
      return reportToCsv(rows);
    case 'json':
      return JSON.stringify({ rows, totals: reportTotals(rows) }, null, 2);
    case 'table':
      return reportToTable(rows);
    default: {
      const never: never = format;
      return never;
    }
  }
}
