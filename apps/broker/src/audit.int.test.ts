import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventIdFor, type SluiceEvent } from '@sluice/events';
import { createTestDatabase, type TestDatabase } from '@sluice/test-support';
import { asc, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from './db/database';
import { migrateDatabase } from './db/migrate';
import { events, requests, usageRollup } from './db/schema';
import { createEventStore, type EventStore } from './store/event-store';
import { createTenantService } from './tenants/tenant-service';

// The audit chain, replay and the operator CLI on a real Postgres server: rows are tampered with
// (UPDATE and DELETE) behind Sluice's back, and `sluice audit verify` must say exactly where.
const BROKER = fileURLToPath(new URL('..', import.meta.url));
const TSX = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));

function sluice(db: TestDatabase, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      ['src/cli.ts', ...args],
      {
        cwd: BROKER,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.url, LOG_LEVEL: 'warn' },
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A plausible request history: submitted, dispatched, then completed with usage, failed, or cancelled. */
function history(tenantId: string, n: number, start: number): SluiceEvent[] {
  const at = (ms: number) => new Date(start + ms).toISOString();
  const base = {
    requestId: `req_${tenantId}_${n}`,
    tenantId,
    pool: 'default',
    model: n % 2 ? 'gpt-4o' : 'gpt-4o-mini',
    priority: 'standard' as const,
    endpoint: '/v1/chat/completions' as const,
  };
  const out: SluiceEvent[] = [
    {
      ...base,
      type: 'request.submitted',
      version: 3,
      eventId: eventIdFor('request.submitted', base.requestId, 0),
      attempt: 0,
      occurredAt: at(0),
      body: { model: base.model, messages: [{ role: 'user', content: `hi ${n}` }] },
      stream: false,
      source: 'trpc',
      estimate: { promptTokens: 10, maxOutputTokens: 20, tpmCost: 30 },
      idempotencyKey: null,
      deadline: null,
      cache: null,
      route: 'sync',
      replyTo: null,
      tier: null,
    },
  ];
  if (n % 5 === 4) {
    out.push({
      ...base,
      type: 'request.cancelled',
      version: 2,
      eventId: eventIdFor('request.cancelled', base.requestId, 0),
      attempt: 0,
      occurredAt: at(5),
      reason: 'cancelled by the tenant',
      cancelledBy: 'tenant',
    });
    return out;
  }
  out.push({
    ...base,
    type: 'request.dispatched',
    version: 3,
    eventId: eventIdFor('request.dispatched', base.requestId, 1),
    attempt: 1,
    occurredAt: at(40),
    dispatcherId: 'd1',
    queueWaitMs: 40,
    reservedTokens: 30,
    batch: null,
    serviceTier: null,
    tierFallback: null,
  });
  if (n % 5 === 3) {
    out.push({
      ...base,
      type: 'request.failed',
      version: 2,
      eventId: eventIdFor('request.failed', base.requestId, 1),
      attempt: 1,
      occurredAt: at(300),
      reason: 'invalid_request',
      status: 400,
      message: 'bad',
      deadLettered: false,
      upstreamError: { message: 'bad', type: 'invalid_request_error', param: null, code: null },
      upstreamRequestId: null,
    });
    return out;
  }
  out.push(
    {
      ...base,
      type: 'request.completed',
      version: 3,
      eventId: eventIdFor('request.completed', base.requestId, 1),
      attempt: 1,
      occurredAt: at(400),
      response: { id: `chatcmpl_${n}`, choices: [] },
      upstreamLatencyMs: 360 + n,
      queueWaitMs: 40,
      upstreamRequestId: null,
      upstreamProcessingMs: null,
      cache: null,
    },
    {
      ...base,
      type: 'usage.recorded',
      version: 3,
      eventId: eventIdFor('usage.recorded', base.requestId, 1),
      attempt: 1,
      occurredAt: at(400),
      promptTokens: 1_000 + n,
      cachedTokens: n % 3 ? 0 : 500,
      completionTokens: 200,
      reasoningTokens: 0,
      totalTokens: 1_200 + n,
      estimated: false,
      channel: n % 7 === 6 ? 'batch' : 'sync',
      serviceTier: 'default',
      units: {},
    },
  );
  return out;
}

describe('audit chain, replay and the CLI (Postgres)', () => {
  let db: TestDatabase;
  let database: Database;
  let store: EventStore;
  const tenantIds: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('sluice_audit');
    database = await openDatabase({ url: db.url });
    await migrateDatabase(database.db);
    store = createEventStore(database.db);
    const tenants = createTenantService(database.db);
    for (const name of ['acme', 'beta']) tenantIds.push((await tenants.createTenant(name)).tenant.id);
    const start = Date.now() - 3 * 3_600_000;
    for (let n = 0; n < 40; n++) {
      for (const t of tenantIds) await store.append(history(t, n, start + n * 60_000));
    }
  }, 60_000);

  afterAll(async () => {
    await database?.close();
    await db?.drop();
  });

  it('verifies an untouched chain, through the store and the CLI', async () => {
    const v = await store.verifyChain();
    expect(v).toMatchObject({ ok: true, tenants: 2 });
    expect(v.checked).toBe(
      Number((await database.db.select({ n: sql<number>`count(*)::int` }).from(events))[0]!.n),
    );
    const cli = await sluice(db, ['audit', 'verify']);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/audit chain intact: \d+ events verified across 2 tenant/);
  }, 60_000);

  it('names the edited event (UPDATE) and the one after a deleted event (DELETE), with its position', async () => {
    const acme = tenantIds[0]!;
    const chain = await database.db
      .select()
      .from(events)
      .where(sql`${events.tenantId} = ${acme}`)
      .orderBy(asc(events.seq));
    const edited = chain[10]!;
    const original = edited.payload as Record<string, unknown>;
    // Someone lowers a usage figure in place.
    await database.db.execute(
      sql`UPDATE events SET payload = jsonb_set(payload, '{occurredAt}', '"2020-01-01T00:00:00.000Z"') WHERE seq = ${edited.seq}`,
    );
    const v = await store.verifyChain();
    expect(v).toMatchObject({
      ok: false,
      tenantId: acme,
      eventId: edited.eventId,
      seq: edited.seq,
      position: 11,
    });
    expect(v.ok === false && v.reason).toMatch(/edited/);
    expect(v.breaks).toHaveLength(1); // beta's chain is intact
    const cli = await sluice(db, ['audit', 'verify', '--tenant', 'acme']);
    expect(cli.code).toBe(2);
    expect(cli.stdout).toContain(`event ${edited.eventId} at position 11`);
    expect(cli.stdout).toMatch(/BROKEN/);
    await database.db.execute(
      sql`UPDATE events SET payload = ${JSON.stringify(original)}::jsonb WHERE seq = ${edited.seq}`,
    );
    expect((await store.verifyChain({ tenantId: acme })).ok).toBe(true);

    const deleted = chain[20]!;
    const next = chain[21]!;
    await database.db.execute(sql`DELETE FROM events WHERE seq = ${deleted.seq}`);
    const d = await store.verifyChain({ tenantId: acme });
    expect(d).toMatchObject({ ok: false, eventId: next.eventId, seq: next.seq, position: 21 });
    expect(d.ok === false && d.reason).toMatch(/deleted or reordered/);
    const json = await sluice(db, ['audit', 'verify', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, eventId: next.eventId, position: 21 });
    // Put it back, so the other tests see an intact store.
    await database.db.insert(events).values(deleted);
    expect((await store.verifyChain()).ok).toBe(true);
  }, 60_000);

  it('reports from the CLI in every format and refuses bad input with a non-zero exit', async () => {
    const csv = await sluice(db, ['report', '--format', 'csv', '--by', 'model']);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trimEnd().split('\r\n');
    expect(lines[0]).toMatch(/^tenant,tenant_id,period,model,requests,/);
    expect(lines.length).toBe(1 + 4); // 2 tenants x 2 models
    const json = await sluice(db, ['report', '--tenant', 'beta', '--format', 'json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as {
      rows: Array<{ tenantId: string; costMicros: number }>;
      totals: { requests: number };
    };
    expect(parsed.rows.every((r) => r.tenantId === tenantIds[1])).toBe(true);
    expect(parsed.totals.requests).toBe(40);
    const table = await sluice(db, ['report', '--by', 'hour']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^TOTAL .* 80 /m);
    const byEndpoint = await sluice(db, ['report', '--by', 'endpoint', '--format', 'json']);
    expect(byEndpoint.code).toBe(0);
    const endpoints = JSON.parse(byEndpoint.stdout) as {
      rows: Array<{ model: string; endpoint: string; requests: number }>;
    };
    // One line per tenant and endpoint: both models' costs summed into it.
    expect(endpoints.rows.map((r) => [r.model, r.endpoint, r.requests])).toEqual([
      ['all', '/v1/chat/completions', 40],
      ['all', '/v1/chat/completions', 40],
    ]);

    const unknown = await sluice(db, ['report', '--tenant', 'nope']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/No tenant nope/);
    const inverted = await sluice(db, ['report', '--from', '2025-03-01', '--to', '2025-02-01']);
    expect(inverted.code).not.toBe(0);
    expect(inverted.stderr).toMatch(/inverted/);
    const format = await sluice(db, ['report', '--format', 'xml']);
    expect(format.code).not.toBe(0);
    expect(format.stderr).toMatch(/Allowed choices are table, csv, json/);
    const date = await sluice(db, ['report', '--from', 'yesterday']);
    expect(date.code).not.toBe(0);
    expect(date.stderr).toMatch(/not a date/);
  }, 120_000);

  it('sets a budget from the CLI', async () => {
    const set = await sluice(db, [
      'tenants',
      'budget',
      'acme',
      '--usd',
      '12.50',
      '--tokens',
      '1000000',
      '--on-exceeded',
      'downgrade',
      '--json',
    ]);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({
      limitUsdMicros: 12_500_000,
      limitTokens: 1_000_000,
      onExhausted: 'downgrade',
    });
    const shown = await sluice(db, ['tenants', 'budget', 'acme']);
    expect(shown.stdout).toMatch(/limit 12\.500000/);
    const bad = await sluice(db, ['tenants', 'budget', 'acme', '--usd', 'lots']);
    expect(bad.code).not.toBe(0);
    const nobody = await sluice(db, ['tenants', 'budget', 'nobody', '--usd', '1']);
    expect(nobody.code).not.toBe(0);
    expect(nobody.stderr).toMatch(/No tenant nobody/);
  }, 60_000);

  it('turns a tenant’s response cache on and off from the CLI, with a shared scope', async () => {
    const on = await sluice(db, [
      'tenants',
      'cache',
      'acme',
      '--on',
      '--ttl',
      '600',
      '--shared-scope',
      'team',
      '--json',
    ]);
    expect(on.code).toBe(0);
    expect(JSON.parse(on.stdout)).toMatchObject({ enabled: true, ttlSeconds: 600, sharedScope: 'team' });
    const tenant = await createTenantService(database.db).getTenant('acme');
    expect(tenant?.settings.cache).toEqual({ enabled: true, ttlSeconds: 600, scope: 'shared:team' });
    const off = await sluice(db, ['tenants', 'cache', 'acme', '--off']);
    expect(off.stdout).toMatch(/response cache off/);
    const shown = await sluice(db, ['tenants', 'cache', 'acme', '--on', '--own-scope']);
    expect(shown.stdout).toMatch(/response cache on, its own cache, answers kept 600 s/);
    const bad = await sluice(db, ['tenants', 'cache', 'acme', '--ttl', 'forever']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/not a TTL/);
    const both = await sluice(db, ['tenants', 'cache', 'acme', '--on', '--off']);
    expect(both.code).not.toBe(0);
  }, 60_000);

  it('records what the CLI did on the database directly in the admin audit trail, and verifies its chain', async () => {
    const created = await sluice(db, ['tenants', 'create', 'cli-made', '--json']);
    expect(created.code).toBe(0);
    const apiKey = (JSON.parse(created.stdout) as { apiKey: string }).apiKey;
    const rows = (
      (await database.db.execute(
        sql`SELECT action, target, via, actor_key_id, session_id, outcome, details FROM admin_actions ORDER BY seq`,
      )) as unknown as { rows: Array<Record<string, unknown>> }
    ).rows;
    // The budget and cache tests above ran through the CLI too: each action, and the refusal.
    expect(rows.map((r) => [r.action, r.target, r.outcome])).toEqual(
      expect.arrayContaining([
        ['admin.budgets.set', 'acme', 'ok'],
        ['admin.budgets.set', 'nobody', 'not_found'],
        ['admin.tenants.cache.set', 'acme', 'ok'],
        ['admin.tenants.create', 'cli-made', 'ok'],
      ]),
    );
    expect(rows.every((r) => r.via === 'cli' && r.actor_key_id === null && r.session_id === null)).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(apiKey);
    const verify = await sluice(db, ['audit', 'verify']);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`admin actions chain intact: ${rows.length} actions verified`));
  }, 60_000);

  it('replays every projection from the event store alone, equal to the live ones, with progress', async () => {
    const snapshot = async () => ({
      requests: await database.db.select().from(requests).orderBy(asc(requests.requestId)),
      rollup: await database.db
        .select()
        .from(usageRollup)
        .orderBy(
          asc(usageRollup.tenantId),
          asc(usageRollup.bucketStart),
          asc(usageRollup.model),
          asc(usageRollup.channel),
        ),
    });
    const live = await snapshot();
    expect(live.requests).toHaveLength(80);
    expect(live.rollup.some((r) => r.channel === 'batch')).toBe(true);
    await database.db.execute(sql`UPDATE usage_rollup SET completed = completed + 1000`); // a damaged projection
    const cli = await sluice(db, ['replay']);
    expect(cli.code).toBe(0);
    expect(cli.stderr).toMatch(/replayed \d+ \/ \d+ events \(100\.0%\)/);
    expect(cli.stdout).toMatch(/replayed \d+ events into fresh projections/);
    expect(await snapshot()).toEqual(live);
  }, 60_000);
});

describe('replay of a store written before the operation seam (Postgres)', () => {
  let db: TestDatabase;
  let database: Database;
  const current = history('ten_old', 1, Date.now() - 3_600_000);

  beforeAll(async () => {
    db = await createTestDatabase('sluice_replay_v2');
    database = await openDatabase({ url: db.url });
    await migrateDatabase(database.db);
    // Events exactly as the chat-only versions wrote them (no endpoint, older versions), stored
    // behind the store's back as an upgraded installation has them.
    let prevHash = '0'.repeat(64);
    for (const e of current) {
      const old: Record<string, unknown> = { ...e, version: e.version - 1 };
      delete old.endpoint;
      if (e.type === 'usage.recorded') {
        delete old.serviceTier;
        delete old.units;
      }
      if (e.type === 'request.failed') {
        old.version = 1;
        delete old.upstreamError;
        delete old.upstreamRequestId;
      }
      if (e.type === 'request.completed') delete old.upstreamProcessingMs;
      if (e.type === 'request.cancelled' || e.type === 'request.retry_scheduled') old.version = 1;
      const hash = `${prevHash.slice(1)}${e.type.length % 10}`;
      await database.db.insert(events).values({
        eventId: e.eventId,
        type: e.type,
        version: old.version as number,
        requestId: e.requestId,
        tenantId: e.tenantId,
        attempt: e.attempt,
        occurredAt: new Date(e.occurredAt),
        payload: old,
        prevHash,
        hash,
      });
      prevHash = hash;
    }
  }, 60_000);
  afterAll(async () => {
    await database?.close();
    await db?.drop();
  });

  it('rebuilds every projection from the old events, as chat completions', async () => {
    const cli = await sluice(db, ['replay']);
    expect(cli.code).toBe(0);
    const [row] = await database.db.select().from(requests);
    expect(row).toMatchObject({
      requestId: 'req_ten_old_1',
      endpoint: '/v1/chat/completions',
      status: 'completed',
    });
    const rollup = await database.db.select().from(usageRollup);
    expect(rollup.length).toBeGreaterThan(0);
    expect(rollup.every((r) => r.endpoint === '/v1/chat/completions')).toBe(true);
    expect(rollup.reduce((n, r) => n + r.promptTokens, 0)).toBe(1_001);
    // Reading them back upcasts them to the current versions.
    const store = createEventStore(database.db);
    const read = await store.eventsOf('req_ten_old_1');
    expect(read.map((e) => [e.type, e.version, e.endpoint])).toEqual(
      current.map((e) => [e.type, e.version, '/v1/chat/completions']),
    );
  }, 60_000);
});
