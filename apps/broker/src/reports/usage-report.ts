import { type SQL, sql } from 'drizzle-orm';
import { formatUsd, roundToMicros } from '../billing/cost';
import { type PriceTable, priceIntervals, unitPriceIntervals } from '../billing/prices';
import { rowsOf, type SluiceDb } from '../db/database';
import { histogramPercentile, USAGE_COUNTERS } from '../store/projections';

export const REPORT_GROUPINGS = ['hour', 'day', 'model', 'endpoint', 'tier'] as const;
export type ReportGrouping = (typeof REPORT_GROUPINGS)[number];

export interface ReportQuery {
  /** Absent = every tenant (operators only). */
  tenantId?: string;
  from: Date;
  to: Date;
  by: ReportGrouping;
}

/** One line of a usage report: a tenant's usage in one period and model, priced at the time it was used. */
export interface UsageReportRow {
  tenantId: string;
  tenantName: string | null;
  /** `YYYY-MM-DD` (by day), `YYYY-MM-DDTHH:00:00Z` (by hour), `all` (by model or endpoint). */
  period: string;
  /** The model; `all` in a report by endpoint. */
  model: string;
  /** The endpoint, e.g. `/v1/embeddings`; `all` in a report by tier. */
  endpoint: string;
  /**
   * In a report by tier, how the tokens were bought: `default`, `flex`, `priority` (the tier the
   * upstream reported), `batch` (Batch API) or `cache`; `all` otherwise. Request counters (requests,
   * completed, retries …) are counted when requests are submitted, so they sit under `default`.
   */
  tier: string;
  requests: number;
  completed: number;
  failed: number;
  cancelled: number;
  retries: number;
  /** Upstream 429s met (each led to a retry). */
  rateLimited: number;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  /** Completions whose usage the upstream never reported (billed from the estimate). */
  estimatedUsage: number;
  /** Integer micro-dollars; `costUsd` is the same amount for people. */
  costMicros: number;
  costUsd: string;
  /** Completions answered from the exact response cache, and eligible ones that went upstream. */
  cacheHits: number;
  cacheMisses: number;
  /** What the cache hits would have cost at the synchronous price, minus what they were billed. */
  savedMicros: number;
  savedUsd: string;
  /**
   * What these tokens would have cost at the default synchronous price, minus what they cost: the
   * saving of flex, the Batch API and the cache; negative for priority's premium.
   */
  savedVsDefaultMicros: number;
  savedVsDefaultUsd: string;
  /** Tokens of models missing from the price table: not in `costMicros`. */
  unpricedTokens: number;
  /** Counted units that are not tokens (built-in tool calls), by kind; priced ones are in `costMicros`. */
  units: Record<string, number>;
  /** Of `units`, those the price table lists no price for (not in `costMicros`): a report warns of them. */
  unpricedUnits: number;
  queueWaitP50Ms: number | null;
  queueWaitP95Ms: number | null;
  upstreamLatencyP50Ms: number | null;
  upstreamLatencyP95Ms: number | null;
  avgQueueWaitMs: number | null;
  avgUpstreamLatencyMs: number | null;
}

const COUNTERS = USAGE_COUNTERS;

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function hourFloor(d: Date): Date {
  const x = new Date(d);
  x.setUTCMinutes(0, 0, 0);
  return x;
}

/** The price table as an SQL relation of validity intervals, to join the rollup against. */
function priceRelation(prices: PriceTable): SQL {
  const rows = priceIntervals(prices).map(
    (p) =>
      sql`(${p.model}::text, ${p.channel}::text, ${p.validFrom.toISOString()}::timestamptz, ${p.validTo?.toISOString() ?? null}::timestamptz, ${p.price.inputMicrosPer1M}::numeric, ${p.price.cachedInputMicrosPer1M}::numeric, ${p.price.outputMicrosPer1M}::numeric, ${p.syncPrice.inputMicrosPer1M}::numeric, ${p.syncPrice.cachedInputMicrosPer1M}::numeric, ${p.syncPrice.outputMicrosPer1M}::numeric)`,
  );
  // A row that matches nothing keeps the relation valid when the table is empty.
  rows.push(
    sql`(NULL::text, NULL::text, NULL::timestamptz, NULL::timestamptz, 0::numeric, 0::numeric, 0::numeric, 0::numeric, 0::numeric, 0::numeric)`,
  );
  return sql`price(model, channel, valid_from, valid_to, p_in, p_cached, p_out, s_in, s_cached, s_out) AS (VALUES ${sql.join(rows, sql`, `)})`;
}

function periodExpr(by: ReportGrouping | 'total'): SQL {
  switch (by) {
    case 'hour':
      return sql`to_char(r.bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:00:00"Z"')`;
    case 'day':
      return sql`to_char(r.bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD')`;
    case 'model':
    case 'endpoint':
    case 'tier':
    case 'total':
      return sql`'all'`;
    default: {
      const never: never = by;
      return never;
    }
  }
}

function whereOf(q: { tenantId?: string; from: Date; to: Date }): SQL {
  return sql`r.bucket_start >= ${hourFloor(q.from).toISOString()}::timestamptz AND r.bucket_start < ${q.to.toISOString()}::timestamptz${
    q.tenantId ? sql` AND r.tenant_id = ${q.tenantId}` : sql``
  }`;
}

/**
 * Cost in micro-micro-dollars, exact (numeric): uncached prompt at the input price, cached prompt
 * at the cached price, completion (reasoning included) at the output price, each at the channel's
 * price (a cache hit's is the operator's fraction of the synchronous one). Mirrors `costMicroMicros`.
 */
const tokensAt = (
  input: SQL,
  cached: SQL,
  output: SQL,
) => sql`(r.prompt_tokens - least(r.cached_tokens, r.prompt_tokens))::numeric * ${input}
  + least(r.cached_tokens, r.prompt_tokens)::numeric * ${cached}
  + r.completion_tokens::numeric * ${output}`;

const COST_SQL = sql`coalesce(sum(${tokensAt(sql`p.p_in`, sql`p.p_cached`, sql`p.p_out`)}), 0)::text`;

/** Money the response cache saved: its hits' tokens at the synchronous price minus what they were billed. */
const SAVED_SQL = sql`coalesce(sum(CASE WHEN r.channel = 'cache' THEN
  ${tokensAt(sql`p.s_in`, sql`p.s_cached`, sql`p.s_out`)} - (${tokensAt(sql`p.p_in`, sql`p.p_cached`, sql`p.p_out`)})
  ELSE 0 END), 0)::text`;

/** Every channel's tokens at the default synchronous price minus at their own (zero for `sync`). */
const SAVED_VS_DEFAULT_SQL = sql`coalesce(sum(CASE WHEN p.model IS NOT NULL THEN
  ${tokensAt(sql`p.s_in`, sql`p.s_cached`, sql`p.s_out`)} - (${tokensAt(sql`p.p_in`, sql`p.p_cached`, sql`p.p_out`)})
  ELSE 0 END), 0)::text`;

/** The tier a rollup row's channel names, in a report by tier (`all` otherwise). */
function tierExpr(by: ReportGrouping): SQL {
  return by === 'tier' ? sql`(CASE r.channel WHEN 'sync' THEN 'default' ELSE r.channel END)` : sql`'all'`;
}

const UNPRICED_SQL = sql`coalesce(sum(CASE WHEN r.channel <> 'cache' AND p.model IS NULL
  THEN r.prompt_tokens + r.completion_tokens ELSE 0 END), 0)::float8`;

/** Unit prices as an SQL relation of validity intervals (micro-dollars per unit), to join `usage_units` against. */
function unitPriceRelation(prices: PriceTable): SQL {
  const rows = unitPriceIntervals(prices).map(
    (p) =>
      sql`(${p.model}::text, ${p.unit}::text, ${p.validFrom.toISOString()}::timestamptz, ${p.validTo?.toISOString() ?? null}::timestamptz, ${p.micros}::numeric)`,
  );
  rows.push(sql`(NULL::text, NULL::text, NULL::timestamptz, NULL::timestamptz, 0::numeric)`);
  return sql`unit_price(model, unit, valid_from, valid_to, micros) AS (VALUES ${sql.join(rows, sql`, `)})`;
}

/** Units at their price (micro-micro-dollars, as token costs are summed), and those without one. */
const UNIT_JOIN = sql`FROM usage_units r
  LEFT JOIN unit_price p ON p.model = r.model AND p.unit = r.unit
    AND r.bucket_start >= p.valid_from AND (p.valid_to IS NULL OR r.bucket_start < p.valid_to)`;
const UNIT_COST_SQL = sql`coalesce(sum(CASE WHEN r.channel <> 'cache' THEN r.count::numeric * coalesce(p.micros, 0) * 1000000 ELSE 0 END), 0)::text`;
const UNPRICED_UNITS_SQL = sql`coalesce(sum(CASE WHEN r.channel <> 'cache' AND p.model IS NULL THEN r.count ELSE 0 END), 0)::float8`;

/** Usage reports from the hourly rollup (never the raw events), priced with the price table. */
export function createUsageReports(db: SluiceDb, prices: PriceTable) {
  async function report(q: ReportQuery): Promise<UsageReportRow[]> {
    const period = periodExpr(q.by);
    // Cost is priced per model and then summed, so a report by endpoint is exact across models.
    const model = q.by === 'endpoint' || q.by === 'tier' ? sql`'all'` : sql`r.model`;
    const endpoint = q.by === 'tier' ? sql`'all'` : sql`r.endpoint`;
    const tier = tierExpr(q.by);
    const counters = sql.join(
      COUNTERS.map(
        (c) => sql`coalesce(sum(r.${sql.identifier(snake(c))}), 0)::float8 AS ${sql.identifier(c)}`,
      ),
      sql`, `,
    );
    const where = whereOf(q);
    const [main, hist, unitRows] = await Promise.all([
      db.execute(sql`WITH ${priceRelation(prices)}
        SELECT r.tenant_id AS "tenantId", min(t.name) AS "tenantName", ${period} AS period, ${model} AS model,
          ${endpoint} AS endpoint, ${tier} AS tier, ${counters}, ${COST_SQL} AS "costMicroMicros",
          ${SAVED_SQL} AS "savedMicroMicros", ${SAVED_VS_DEFAULT_SQL} AS "savedVsDefaultMicroMicros",
          ${UNPRICED_SQL} AS "unpricedTokens"
        FROM usage_rollup r
        LEFT JOIN price p ON p.model = r.model AND p.channel = r.channel
          AND r.bucket_start >= p.valid_from AND (p.valid_to IS NULL OR r.bucket_start < p.valid_to)
        LEFT JOIN tenants t ON t.id = r.tenant_id
        WHERE ${where}
        GROUP BY r.tenant_id, 3, 4, 5, 6
        ORDER BY r.tenant_id, 3, 4, 5, 6`),
      db.execute(sql`SELECT r.tenant_id AS "tenantId", ${period} AS period, ${model} AS model, ${endpoint} AS endpoint,
          ${tier} AS tier, u.i::int AS i, sum(u.w)::float8 AS w, sum(u.l)::float8 AS l
        FROM usage_rollup r
        CROSS JOIN LATERAL unnest(r.queue_wait_hist, r.upstream_latency_hist) WITH ORDINALITY AS u(w, l, i)
        WHERE ${where}
        GROUP BY r.tenant_id, 2, 3, 4, 5, u.i`),
      db.execute(sql`WITH ${unitPriceRelation(prices)}
        SELECT r.tenant_id AS "tenantId", ${period} AS period, ${model} AS model, ${endpoint} AS endpoint,
          ${tier} AS tier, r.unit AS unit, coalesce(sum(r.count), 0)::float8 AS n, ${UNIT_COST_SQL} AS "costMicroMicros",
          ${UNPRICED_UNITS_SQL} AS unpriced
        ${UNIT_JOIN}
        WHERE ${where}
        GROUP BY r.tenant_id, 2, 3, 4, 5, r.unit`),
    ]);
    const units = new Map<
      string,
      { counts: Record<string, number>; costMicroMicros: bigint; unpriced: number }
    >();
    for (const u of rowsOf<{
      tenantId: string;
      period: string;
      model: string;
      endpoint: string;
      tier: string;
      unit: string;
      n: number;
      costMicroMicros: string;
      unpriced: number;
    }>(unitRows)) {
      const key = `${u.tenantId}|${u.period}|${u.model}|${u.endpoint}|${u.tier}`;
      const cur = units.get(key) ?? { counts: {}, costMicroMicros: 0n, unpriced: 0 };
      cur.counts[u.unit] = (cur.counts[u.unit] ?? 0) + u.n;
      cur.costMicroMicros += BigInt(u.costMicroMicros.split('.')[0] ?? '0');
      cur.unpriced += u.unpriced;
      units.set(key, cur);
    }
    const hists = new Map<string, { wait: number[]; latency: number[] }>();
    for (const h of rowsOf<{
      tenantId: string;
      period: string;
      model: string;
      endpoint: string;
      tier: string;
      i: number;
      w: number | null;
      l: number | null;
    }>(hist)) {
      const key = `${h.tenantId}|${h.period}|${h.model}|${h.endpoint}|${h.tier}`;
      const cur = hists.get(key) ?? { wait: [], latency: [] };
      cur.wait[h.i - 1] = h.w ?? 0;
      cur.latency[h.i - 1] = h.l ?? 0;
      hists.set(key, cur);
    }
    type Raw = Record<(typeof COUNTERS)[number], number> & {
      tenantId: string;
      tenantName: string | null;
      period: string;
      model: string;
      endpoint: string;
      tier: string;
      costMicroMicros: string;
      savedMicroMicros: string;
      savedVsDefaultMicroMicros: string;
      unpricedTokens: number;
    };
    return rowsOf<Raw>(main).map((r) => {
      const key = `${r.tenantId}|${r.period}|${r.model}|${r.endpoint}|${r.tier}`;
      const h = hists.get(key);
      const u = units.get(key);
      const wait = Array.from(h?.wait ?? [], (v) => v ?? 0);
      const latency = Array.from(h?.latency ?? [], (v) => v ?? 0);
      const costMicros = roundToMicros(BigInt(r.costMicroMicros) + (u?.costMicroMicros ?? 0n));
      const savedMicros = roundToMicros(BigInt(r.savedMicroMicros));
      const savedVsDefaultMicros = roundToMicros(BigInt(r.savedVsDefaultMicroMicros));
      return {
        tenantId: r.tenantId,
        tenantName: r.tenantName,
        period: r.period,
        model: r.model,
        endpoint: r.endpoint,
        tier: r.tier,
        requests: r.requests,
        completed: r.completed,
        failed: r.failed,
        cancelled: r.cancelled,
        retries: r.retries,
        rateLimited: r.rateLimited,
        promptTokens: r.promptTokens,
        cachedTokens: r.cachedTokens,
        completionTokens: r.completionTokens,
        reasoningTokens: r.reasoningTokens,
        estimatedUsage: r.estimatedUsage,
        costMicros,
        costUsd: formatUsd(costMicros),
        cacheHits: r.cacheHits,
        cacheMisses: r.cacheMisses,
        savedMicros,
        savedUsd: formatUsd(savedMicros),
        savedVsDefaultMicros,
        savedVsDefaultUsd: formatUsd(savedVsDefaultMicros),
        unpricedTokens: r.unpricedTokens,
        units: u?.counts ?? {},
        unpricedUnits: u?.unpriced ?? 0,
        queueWaitP50Ms: histogramPercentile(wait, 0.5),
        queueWaitP95Ms: histogramPercentile(wait, 0.95),
        upstreamLatencyP50Ms: histogramPercentile(latency, 0.5),
        upstreamLatencyP95Ms: histogramPercentile(latency, 0.95),
        avgQueueWaitMs: r.latencyCount ? Math.round(r.queueWaitMsSum / r.latencyCount) : null,
        avgUpstreamLatencyMs: r.latencyCount ? Math.round(r.upstreamLatencyMsSum / r.latencyCount) : null,
      };
    });
  }

  /** What a tenant spent in [from, to): cost in micro-dollars and tokens (prompt + completion). */
  async function spent(
    tenantId: string,
    from: Date,
    to: Date,
  ): Promise<{ costMicros: number; tokens: number; unpricedTokens: number }> {
    const where = whereOf({ tenantId, from, to });
    const [u] = rowsOf<{ costMicroMicros: string }>(
      await db.execute(
        sql`WITH ${unitPriceRelation(prices)} SELECT ${UNIT_COST_SQL} AS "costMicroMicros" ${UNIT_JOIN} WHERE ${where}`,
      ),
    );
    const r = rowsOf<{ costMicroMicros: string; tokens: number; unpricedTokens: number }>(
      await db.execute(sql`WITH ${priceRelation(prices)}
        SELECT ${COST_SQL} AS "costMicroMicros",
          coalesce(sum(r.prompt_tokens + r.completion_tokens), 0)::float8 AS tokens,
          ${UNPRICED_SQL} AS "unpricedTokens"
        FROM usage_rollup r
        LEFT JOIN price p ON p.model = r.model AND p.channel = r.channel
          AND r.bucket_start >= p.valid_from AND (p.valid_to IS NULL OR r.bucket_start < p.valid_to)
        WHERE ${where}`),
    )[0];
    return {
      costMicros: roundToMicros(
        BigInt(r?.costMicroMicros ?? '0') + BigInt(u?.costMicroMicros.split('.')[0] ?? '0'),
      ),
      tokens: r?.tokens ?? 0,
      unpricedTokens: r?.unpricedTokens ?? 0,
    };
  }

  return { report, spent };
}

export type UsageReports = ReturnType<typeof createUsageReports>;

const TOTALLED = [
  'requests',
  'completed',
  'failed',
  'cancelled',
  'retries',
  'rateLimited',
  'promptTokens',
  'cachedTokens',
  'completionTokens',
  'reasoningTokens',
  'costMicros',
  'cacheHits',
  'cacheMisses',
  'savedMicros',
  'savedVsDefaultMicros',
  'unpricedUnits',
] as const satisfies ReadonlyArray<keyof UsageReportRow>;

/** The sum of report lines (cost is the sum of the lines' rounded costs, as on an invoice). */
export function reportTotals(rows: readonly UsageReportRow[]): Record<(typeof TOTALLED)[number], number> & {
  costUsd: string;
  savedUsd: string;
  savedVsDefaultUsd: string;
} {
  const t = Object.fromEntries(TOTALLED.map((k) => [k, 0])) as Record<(typeof TOTALLED)[number], number>;
  for (const r of rows) for (const k of TOTALLED) t[k] += r[k];
  return {
    ...t,
    costUsd: formatUsd(t.costMicros),
    savedUsd: formatUsd(t.savedMicros),
    savedVsDefaultUsd: formatUsd(t.savedVsDefaultMicros),
  };
}
