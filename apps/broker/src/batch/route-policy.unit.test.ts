import { describe, expect, it } from 'vitest';
import { createRoutePolicy } from './route-policy';

const NOW = Date.parse('2026-11-23T12:00:00Z');

describe('route policy', () => {
  function policy(settings: Record<string, { batchApi?: boolean }>, enabled = true) {
    const reads: string[] = [];
    let now = NOW;
    const route = createRoutePolicy({
      enabled,
      tenantSettings: async (id) => {
        reads.push(id);
        return settings[id];
      },
      clock: () => now,
      cacheMs: 1_000,
    });
    return { route, reads, advance: (ms: number) => (now += ms) };
  }
  const batch = { priority: 'batch' as const, deadline: null, stream: false };

  it('routes batch-class requests of a tenant that allows it to the Batch API, others synchronously', async () => {
    const p = policy({ on: { batchApi: true }, off: {} });
    expect(await p.route({ tenantId: 'on', ...batch })).toBe('batch_api');
    expect(await p.route({ tenantId: 'off', ...batch })).toBe('sync');
    expect(await p.route({ tenantId: 'unknown', ...batch })).toBe('sync');
  });

  it('reads the tenant only for batch-class requests, and at most once per cache period', async () => {
    const p = policy({ on: { batchApi: true } });
    expect(await p.route({ tenantId: 'on', priority: 'interactive', deadline: null, stream: false })).toBe(
      'sync',
    );
    expect(p.reads).toEqual([]);
    await p.route({ tenantId: 'on', ...batch });
    await p.route({ tenantId: 'on', ...batch });
    expect(p.reads).toEqual(['on']);
    p.advance(1_001);
    await p.route({ tenantId: 'on', ...batch });
    expect(p.reads).toEqual(['on', 'on']);
  });

  it('the global switch keeps everything synchronous', async () => {
    const p = policy({ on: { batchApi: true } }, false);
    expect(await p.route({ tenantId: 'on', ...batch })).toBe('sync');
    expect(p.reads).toEqual([]);
  });
});
