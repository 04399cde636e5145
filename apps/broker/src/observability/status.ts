import { type PartitionLag, PRIORITIES, type Priority, REQUEST_TOPICS, requestTopic } from '@sluice/events';
import type { LimiterSnapshot } from '@sluice/limiter';
import { table } from '../cli/output';

/** What one dispatcher reports in its heartbeat (JSON in `dispatcher_status.summary`). */
export interface DispatcherSummary {
  queued: Record<Priority, number>;
  oldestAgeMs: Record<Priority, number>;
  inFlight: number;
  pools: Array<{
    pool: string;
    model: string;
    learned: boolean;
    limits: { rpm: number | null; tpm: number | null };
    utilisation: { rpm: number; tpm: number };
    pausedForMs: number;
  }>;
}

export interface DispatcherStatusRow {
  dispatcherId: string;
  startedAt: string;
  heartbeatAt: string;
  summary: DispatcherSummary;
}

/** Everything `sluice status` shows, gathered from the database and the log. */
export interface StatusReport {
  at: string;
  dispatchers: Array<DispatcherStatusRow & { alive: boolean; ageMs: number }>;
  /** Requests the store knows are not finished, by priority and status. */
  open: Array<{ priority: string; status: string; count: number; oldestSubmittedAt: string | null }>;
  /** Messages in each priority topic that the dispatcher group has not committed yet. */
  lag: Record<Priority, number | null>;
  /** Batch API batches not yet recorded, by status (absent from older servers). */
  batches?: Array<{ status: string; batches: number; requests: number }>;
}

/** A dispatcher whose heartbeat is older than this is reported as down. */
export const DISPATCHER_ALIVE_MS = 15_000;

export function summarizeDispatcher(
  snapshot: LimiterSnapshot,
  inFlight: number,
  now: number,
): DispatcherSummary {
  return {
    queued: snapshot.queued,
    oldestAgeMs: snapshot.oldestAgeMs,
    inFlight,
    pools: snapshot.groups.map((g) => ({
      pool: g.pool,
      model: g.model,
      learned: g.learned,
      limits: { rpm: g.limits.rpm ?? null, tpm: g.limits.tpm ?? null },
      utilisation: { rpm: g.utilisation.requests, tpm: g.utilisation.tokens },
      pausedForMs: g.pausedUntil !== null && g.pausedUntil > now ? g.pausedUntil - now : 0,
    })),
  };
}

export function lagByPriority(lag: readonly PartitionLag[] | undefined): StatusReport['lag'] {
  const out: StatusReport['lag'] = { interactive: null, standard: null, batch: null };
  if (!lag) return out;
  for (const p of PRIORITIES) {
    const topic = requestTopic(p);
    out[p] = lag.filter((l) => l.topic === topic).reduce((n, l) => n + Number(l.lag), 0);
  }
  return out;
}

export const STATUS_TOPICS = REQUEST_TOPICS;

/** The terminal rendering of a status report: three short tables. */
export function renderStatus(r: StatusReport): string {
  const lines: string[] = [];
  const alive = r.dispatchers.filter((d) => d.alive);
  lines.push(`Sluice status at ${r.at}`);
  lines.push('');
  lines.push(`Dispatchers: ${alive.length} alive, ${r.dispatchers.length - alive.length} down`);
  lines.push(
    table(
      ['dispatcher', 'state', 'last heartbeat', 'queued i/s/b', 'in flight'],
      r.dispatchers.map((d) => [
        d.dispatcherId,
        d.alive ? 'alive' : 'DOWN',
        `${(d.ageMs / 1000).toFixed(1)} s ago`,
        PRIORITIES.map((p) => d.summary.queued[p]).join('/'),
        String(d.summary.inFlight),
      ]),
    ),
  );
  lines.push('');
  lines.push('Queues (by priority)');
  lines.push(
    table(
      ['priority', 'in dispatchers', 'oldest wait', 'not yet read from the log', 'open in store'],
      PRIORITIES.map((p) => {
        const held = alive.reduce((n, d) => n + d.summary.queued[p], 0);
        const oldest = Math.max(0, ...alive.map((d) => d.summary.oldestAgeMs[p]));
        const open = r.open.filter((o) => o.priority === p).reduce((n, o) => n + o.count, 0);
        return [
          p,
          String(held),
          formatMs(oldest),
          r.lag[p] === null ? 'n/a' : String(r.lag[p]),
          String(open),
        ];
      }),
    ),
  );
  lines.push('');
  lines.push('Quota (per pool and model, last minute)');
  const pools = alive.flatMap((d) => d.summary.pools.map((p) => ({ ...p, dispatcher: d.dispatcherId })));
  lines.push(
    pools.length === 0
      ? '(no dispatcher has sent anything yet)'
      : table(
          ['pool', 'model', 'RPM used / limit', 'TPM used / limit', 'limits', 'paused', 'dispatcher'],
          pools.map((p) => [
            p.pool,
            p.model,
            usage(p.utilisation.rpm, p.limits.rpm),
            usage(p.utilisation.tpm, p.limits.tpm),
            p.learned ? 'learned' : 'probing',
            p.pausedForMs > 0 ? `${formatMs(p.pausedForMs)} (429)` : '-',
            p.dispatcher,
          ]),
        ),
  );
  if (r.batches?.length) {
    lines.push('');
    lines.push('Batch API batches in flight');
    lines.push(
      table(
        ['status', 'batches', 'requests'],
        r.batches.map((b) => [b.status, String(b.batches), String(b.requests)]),
      ),
    );
  }
  if (alive.length === 0) {
    lines.push('');
    lines.push(
      'No dispatcher is alive: requests are accepted but not sent. Start one with `sluice dispatch`.',
    );
  }
  return lines.join('\n');
}

function usage(ratio: number, limit: number | null): string {
  const pct = `${(ratio * 100).toFixed(1)}%`;
  return limit === null ? `${pct} of ?` : `${pct} of ${limit.toLocaleString('en-US')}`;
}

function formatMs(ms: number): string {
  if (ms <= 0) return '-';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}
