import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createLimiter } from '@sluice/limiter';
import { describe, expect, it } from 'vitest';
import { createMetrics, metricNames } from '../metrics';
import { renderStatus, type StatusReport, summarizeDispatcher } from './status';

const DASHBOARD = fileURLToPath(new URL('../../../../infra/grafana/dashboards/sluice.json', import.meta.url));

/** Metric names a PromQL expression reads (histogram series map to their histogram). */
function metricsIn(expr: string): string[] {
  const names = expr.match(/\bsluice_[a-z0-9_]+/g) ?? [];
  return names.map((n) => n.replace(/_(bucket|sum|count)$/, ''));
}

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  };
  const exposed = new Set(metricNames(createMetrics({ collectDefaults: false })));

  it('queries only metrics that Sluice exposes, under their exact names', () => {
    const queried = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricsIn(t.expr)));
    expect(queried.length).toBeGreaterThan(20);
    // Node's own (event-loop delay, heap) count too: they are exposed under the sluice_process_ prefix.
    const withProcess = new Set(metricNames(createMetrics()));
    const unknown = queried.filter((m) => !withProcess.has(m));
    expect(unknown).toEqual([]);
  });

  it('shows every metric operators need: nothing exposed is left off the dashboard', () => {
    const queried = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricsIn(t.expr))));
    const internal = new Set(['sluice_dispatcher_queued_total']);
    expect([...exposed].filter((m) => !queried.has(m) && !internal.has(m))).toEqual([]);
  });
});

describe('sluice status', () => {
  it('summarises a dispatcher from its limiter: queues, learned limits, utilisation, pauses', () => {
    const limiter = createLimiter();
    const now = 1_000_000;
    for (let i = 0; i < 3; i++) {
      limiter.enqueue(
        {
          id: `r${i}`,
          tenantId: 'acme',
          pool: 'default',
          model: 'gpt-4o-mini',
          priority: 'batch',
          tokens: 50,
          enqueuedAt: now - 2_000,
        },
        now,
      );
    }
    const summary = summarizeDispatcher(limiter.snapshot(now), 2, now);
    expect(summary.queued).toEqual({ interactive: 0, standard: 0, batch: 3 });
    expect(summary.oldestAgeMs.batch).toBe(2_000);
    expect(summary.inFlight).toBe(2);
    expect(summary.pools).toEqual([
      expect.objectContaining({ pool: 'default', model: 'gpt-4o-mini', learned: false, pausedForMs: 0 }),
    ]);
  });

  it('renders liveness, queues and utilisation, and says what to do when no dispatcher runs', () => {
    const summary = {
      queued: { interactive: 1, standard: 0, batch: 40 },
      oldestAgeMs: { interactive: 120, standard: 0, batch: 95_000 },
      inFlight: 3,
      pools: [
        {
          pool: 'default',
          model: 'gpt-4o-mini',
          learned: true,
          limits: { rpm: 600, tpm: 60_000 },
          utilisation: { rpm: 0.991, tpm: 0.5 },
          pausedForMs: 0,
        },
      ],
    };
    const report: StatusReport = {
      at: '2026-11-23T10:00:00.000Z',
      dispatchers: [
        { dispatcherId: 'd1', startedAt: '', heartbeatAt: '', summary, alive: true, ageMs: 1_200 },
        { dispatcherId: 'd2', startedAt: '', heartbeatAt: '', summary, alive: false, ageMs: 60_000 },
      ],
      open: [{ priority: 'batch', status: 'queued', count: 41, oldestSubmittedAt: null }],
      lag: { interactive: 0, standard: 0, batch: 1_500 },
    };
    const text = renderStatus(report);
    expect(text).toContain('Dispatchers: 1 alive, 1 down');
    expect(text).toMatch(/d2\s+DOWN/);
    expect(text).toMatch(/batch\s+40\s+95\.0 s\s+1500\s+41/);
    expect(text).toContain('99.1% of 600');
    expect(text).toContain('50.0% of 60,000');
    expect(renderStatus({ ...report, dispatchers: [] })).toContain('Start one with `sluice dispatch`');
  });
});
