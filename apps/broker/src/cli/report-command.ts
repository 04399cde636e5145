import { type Command, InvalidArgumentError, Option } from 'commander';
import { formatReport, REPORT_FORMATS, type ReportFormat, reportWarnings } from '../reports/report-format';
import type { ReportGrouping } from '../reports/usage-report';
import { withBilling } from './billing-session';
import { out } from './output';

const DAY = 86_400_000;

/**
 * A date for `--from` / `--to`: `YYYY-MM-DD` (UTC midnight; as `--to` it includes that day) or an
 * ISO date-time with an offset (exact).
 */
export function parseReportDate(text: string, edge: 'from' | 'to'): Date {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const d = new Date(`${text}T00:00:00Z`);
    if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== text)
      throw new InvalidArgumentError(`${text} is not a calendar date`);
    return edge === 'to' ? new Date(d.getTime() + DAY) : d;
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    const d = new Date(text);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new InvalidArgumentError(
    `${text} is not a date: use YYYY-MM-DD or an ISO time such as 2025-07-01T12:00:00Z`,
  );
}

/** `sluice report`: usage and cost per tenant, period and model, from the rollups. */
export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description(
      'usage and cost per tenant, day/hour and model (from the rollups; finance-grade micro-dollars)',
    )
    .option('--tenant <tenant>', 'one tenant (id or name); default all')
    .option('--from <date>', 'start, YYYY-MM-DD or ISO time (default 30 days before --to)', (v) =>
      parseReportDate(v, 'from'),
    )
    .option(
      '--to <date>',
      'end: a YYYY-MM-DD includes that day; an ISO time is exclusive (default now)',
      (v) => parseReportDate(v, 'to'),
    )
    .addOption(
      new Option('--by <grouping>', 'one line per')
        .choices(['day', 'hour', 'model', 'endpoint', 'tier'])
        .default('day'),
    )
    .addOption(new Option('--format <format>', 'output').choices(REPORT_FORMATS).default('table'))
    .action((o: { tenant?: string; from?: Date; to?: Date; by: ReportGrouping; format: ReportFormat }) =>
      withBilling(async (s) => {
        const to = o.to ?? new Date();
        const from = o.from ?? new Date(to.getTime() - 30 * DAY);
        if (from.getTime() >= to.getTime())
          throw new Error(
            `the range is inverted or empty: --from ${from.toISOString()} is not before --to ${to.toISOString()}`,
          );
        // Progress goes to stderr (only on a terminal), so stdout stays the report alone.
        const started = Date.now();
        const progress = (line: string) => process.stderr.isTTY && process.stderr.write(`${line}\n`);
        progress(`reading usage rollups ${from.toISOString()} .. ${to.toISOString()} by ${o.by} …`);
        const rows = await s.report({ ...(o.tenant ? { tenant: o.tenant } : {}), from, to, by: o.by });
        progress(`${rows.length} report lines in ${Date.now() - started} ms`);
        process.stdout.write(formatReport(rows, o.format).replace(/\n?$/, '\n'));
        // On stderr, so a CSV or JSON report on stdout stays machine-readable.
        for (const warning of reportWarnings(rows)) process.stderr.write(`${warning}\n`);
        if (o.format === 'table')
          out(`range ${from.toISOString()} .. ${to.toISOString()} (UTC, end exclusive)`);
      }),
    );
}
