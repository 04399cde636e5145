import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestSluice, type TestSluice } from './__tests__/harness';
import { describeVerdict } from './cli/audit-command';
import type { AppRouter } from './root';

// The console's server side on the embedded harness: login sessions as an alternative to the
// bearer key with the same authorization, CSRF on every state-changing call, the admin audit
// trail and its chain, and the explorer's procedures, which never cross from one tenant to another.

type Client = ReturnType<typeof createTRPCClient<AppRouter>>;

interface Login {
  status: number;
  cookies: Record<string, { value: string; attributes: string }>;
  cookieHeader: string;
  csrf: string;
  body: unknown;
}

describe('console sessions and procedures (embedded)', () => {
  let s: TestSluice;
  let beta: { id: string; apiKey: string };
  const acmeRequests: string[] = [];
  let betaRequest: string;

  const bearer = (key: string): Client =>
    createTRPCClient<AppRouter>({
      links: [httpLink({ url: `${s.url}/trpc`, headers: { authorization: `Bearer ${key}` } })],
    });
  const viaSession = (login: Login, opts: { csrf?: string | null } = {}): Client =>
    createTRPCClient<AppRouter>({
      links: [
        httpLink({
          url: `${s.url}/trpc`,
          headers: {
            cookie: login.cookieHeader,
            ...(opts.csrf === null ? {} : { 'x-sluice-csrf': opts.csrf ?? login.csrf }),
          },
        }),
      ],
    });

  async function login(key: string, headers: Record<string, string> = {}): Promise<Login> {
    const res = await fetch(`${s.url}/console/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ key }),
    });
    const cookies: Login['cookies'] = {};
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      cookies[pair!.slice(0, eq)] = { value: pair!.slice(eq + 1), attributes: attributes.join(';').trim() };
    }
    return {
      status: res.status,
      cookies,
      cookieHeader: Object.entries(cookies)
        .map(([k, v]) => `${k}=${v.value}`)
        .join('; '),
      csrf: decodeURIComponent(cookies.sluice_csrf?.value ?? ''),
      body: await res.json(),
    };
  }

  const codeOf = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
      return 'OK';
    } catch (e) {
      return e instanceof TRPCClientError ? ((e.data as { code?: string })?.code ?? 'ERROR') : String(e);
    }
  };

  async function ask(key: string, content: string, idempotencyKey?: string): Promise<string> {
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
      },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 8 }),
    });
    expect(res.status).toBe(200);
    return res.headers.get('x-sluice-request-id')!;
  }

  beforeAll(async () => {
    s = await startTestSluice({ simulator: { latency: { baseMs: 5 } } });
    beta = await s.newTenant('beta');
    for (let i = 0; i < 23; i++) acmeRequests.push(await ask(s.tenant.apiKey, `acme ${i}`, `acme-${i}`));
    betaRequest = await ask(beta.apiKey, 'beta private prompt', 'shared-key');
    await ask(s.tenant.apiKey, 'same idempotency key, other tenant', 'shared-key');
    await eventually(
      async () => (await s.runtime.store.getRequest(null, betaRequest))?.status === 'completed',
    );
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 60_000);

  it('logs in with a key posted once: an HttpOnly, SameSite=Strict session cookie and a CSRF cookie', async () => {
    const l = await login(s.adminKey);
    expect(l.status).toBe(200);
    expect(l.body).toMatchObject({ role: 'admin', sessionId: expect.stringMatching(/^ses_/) });
    expect(JSON.stringify(l.body)).not.toContain(s.adminKey);
    const session = l.cookies.sluice_session!;
    expect(session.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.attributes).toMatch(/HttpOnly/);
    expect(session.attributes).toMatch(/SameSite=Strict/);
    expect(session.attributes).toMatch(/Path=\//);
    expect(session.attributes).toMatch(/Max-Age=28800/);
    expect(session.attributes).not.toMatch(/Secure/); // plain http here; Secure when served over https
    expect(l.cookies.sluice_csrf?.attributes).not.toMatch(/HttpOnly/);
    expect(l.cookies.sluice_csrf?.attributes).toMatch(/SameSite=Strict/);
    // Only the token's hash is stored, bound to the key's id.
    const rows = (await s.runtime.database.db.execute(sql`SELECT * FROM console_sessions`)) as unknown as {
      rows: Array<Record<string, unknown>>;
    };
    expect(JSON.stringify(rows.rows)).not.toContain(session.value);

    expect((await login('sk-sluice-wrong')).status).toBe(401);
    expect((await login(`sk-sluice-${'x'.repeat(43)}`)).status).toBe(401);
    const form = await fetch(`${s.url}/console/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `key=${encodeURIComponent(s.adminKey)}`,
    });
    expect(form.status).toBe(415); // a cross-site form cannot log anyone in
    expect((await login(s.adminKey, { origin: 'https://evil.example' })).status).toBe(403);
  });

  it('gives a session exactly the authorization of its key', async () => {
    const admin = viaSession(await login(s.adminKey));
    const acme = viaSession(await login(s.tenant.apiKey));
    expect(await admin.console.session.query()).toMatchObject({ role: 'admin', tenantId: null });
    expect(await acme.console.session.query()).toMatchObject({ role: 'tenant', tenantName: 'acme' });
    expect((await admin.admin.tenants.list.query()).map((t) => t.name)).toContain('beta');
    // Admin procedures with a tenant session: FORBIDDEN, reads and actions alike.
    for (const call of [
      () => acme.admin.tenants.list.query(),
      () => acme.admin.dlq.list.query(),
      () => acme.console.admin.live.query(),
      () => acme.console.admin.tenants.query(),
      () => acme.console.admin.requests.search.query({}),
      () => acme.console.admin.requests.bodies.query({ id: acmeRequests[0]! }),
      () => acme.console.admin.audit.query(),
      () => acme.admin.tenants.create.mutate({ name: 'by-a-tenant' }),
      () => acme.admin.budgets.set.mutate({ tenant: 'acme', usdMicros: 1 }),
    ])
      expect(await codeOf(call())).toBe('FORBIDDEN');
    // Tenant procedures with an admin session: FORBIDDEN too, as with an admin key.
    expect(await codeOf(admin.console.requests.search.query({}))).toBe('FORBIDDEN');
    expect(await codeOf(admin.usage.mine.query())).toBe('FORBIDDEN');
    // No credential at all, or a forged cookie: UNAUTHORIZED.
    const anonymous = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${s.url}/trpc` })] });
    expect(await codeOf(anonymous.console.session.query())).toBe('UNAUTHORIZED');
    const forged = viaSession({ cookieHeader: `sluice_session=${'A'.repeat(43)}`, csrf: 'x' } as Login);
    expect(await codeOf(forged.console.session.query())).toBe('UNAUTHORIZED');
  });

  it('refuses a session mutation without its CSRF token, and with another session’s', async () => {
    const l = await login(s.adminKey);
    const other = await login(s.adminKey);
    expect(
      await codeOf(viaSession(l, { csrf: null }).admin.tenants.create.mutate({ name: 'csrf-none' })),
    ).toBe('FORBIDDEN');
    expect(
      await codeOf(viaSession(l, { csrf: other.csrf }).admin.tenants.create.mutate({ name: 'csrf-other' })),
    ).toBe('FORBIDDEN');
    expect((await s.runtime.tenants.getTenant('csrf-none')) ?? null).toBeNull();
    expect((await s.runtime.tenants.getTenant('csrf-other')) ?? null).toBeNull();
    // Reads need no token (they change nothing, and SameSite keeps the cookie off other sites' requests).
    expect(await codeOf(viaSession(l, { csrf: null }).admin.tenants.list.query())).toBe('OK');
    expect(await codeOf(viaSession(l).admin.tenants.create.mutate({ name: 'csrf-ok' }))).toBe('OK');
    // Logout needs it too, then ends the session.
    const noToken = await fetch(`${s.url}/console/session`, {
      method: 'DELETE',
      headers: { cookie: l.cookieHeader },
    });
    expect(noToken.status).toBe(403);
    const out = await fetch(`${s.url}/console/session`, {
      method: 'DELETE',
      headers: { cookie: l.cookieHeader, 'x-sluice-csrf': l.csrf },
    });
    expect(out.status).toBe(200);
    expect(out.headers.getSetCookie().join(' ')).toMatch(/sluice_session=;.*Max-Age=0/);
    expect(await codeOf(viaSession(l).console.session.query())).toBe('UNAUTHORIZED');
    expect(await codeOf(viaSession(other).console.session.query())).toBe('OK'); // other sessions live on
  });

  it('ends a session at once when its key is revoked, and when it expires', async () => {
    const key = await s.runtime.tenants.createKey(beta.id);
    const l = await login(key.apiKey);
    const session = viaSession(l);
    expect(await codeOf(session.console.keys.query())).toBe('OK');
    await bearer(s.adminKey).admin.keys.revoke.mutate({ key: key.key.id });
    expect(await codeOf(session.console.keys.query())).toBe('UNAUTHORIZED');
    const again = await login(key.apiKey);
    expect(again.status).toBe(401);

    const l2 = await login(beta.apiKey);
    await s.runtime.database.db.execute(
      sql`UPDATE console_sessions SET expires_at = now() - interval '1 second'`,
    );
    expect(await codeOf(viaSession(l2).console.session.query())).toBe('UNAUTHORIZED');
  });

  it("never shows a tenant another tenant's requests: search, timeline, bodies", async () => {
    const acme = viaSession(await login(s.tenant.apiKey));
    const betaSession = viaSession(await login(beta.apiKey));
    // A tenant naming another tenant in the input still sees only its own rows.
    const found = await acme.console.requests.search.query({ tenantId: beta.id, limit: 200 } as never);
    expect(found.rows.length).toBe(24);
    expect(found.rows.every((r) => r.tenantId === s.tenant.id)).toBe(true);
    expect(found.rows.map((r) => r.requestId)).not.toContain(betaRequest);
    const shared = await acme.console.requests.search.query({ idempotencyKey: 'shared-key' });
    expect(shared.rows).toHaveLength(1);
    expect(shared.rows[0]?.requestId).not.toBe(betaRequest);
    expect(await codeOf(acme.console.requests.search.query({ requestId: betaRequest }))).toBe('OK');
    expect((await acme.console.requests.search.query({ requestId: betaRequest })).rows).toEqual([]);
    expect(await codeOf(acme.console.requests.timeline.query({ id: betaRequest }))).toBe('NOT_FOUND');
    expect(await codeOf(bearer(s.tenant.apiKey).console.requests.timeline.query({ id: betaRequest }))).toBe(
      'NOT_FOUND',
    );
    // Its own timeline, without bodies; the owner sees its request the same way.
    const own = await betaSession.console.requests.timeline.query({ id: betaRequest });
    expect(own.timeline.entries.map((e) => e.type)).toEqual(
      expect.arrayContaining([
        'request.submitted',
        'request.dispatched',
        'request.completed',
        'usage.recorded',
      ]),
    );
    expect(JSON.stringify(own)).not.toContain('beta private prompt');
    expect(await betaSession.console.keys.query()).toEqual([
      expect.objectContaining({ prefix: beta.apiKey.slice(0, 14), revoked: false }),
      expect.objectContaining({ revoked: true }),
    ]);
    expect(JSON.stringify(await betaSession.console.keys.query())).not.toContain(beta.apiKey);
  });

  it('searches every request for an operator, by any filter, in keyset pages that neither skip nor repeat', async () => {
    const admin = bearer(s.adminKey);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await admin.console.admin.requests.search.query({
        tenantId: s.tenant.id,
        limit: 7,
        ...(cursor ? { cursor } : {}),
      });
      seen.push(...r.rows.map((x) => x.requestId));
      if (!r.nextCursor) break;
      cursor = r.nextCursor;
    }
    expect(seen).toHaveLength(24);
    expect(new Set(seen).size).toBe(24);
    expect(seen).toEqual(expect.arrayContaining(acmeRequests));
    const byKey = await admin.console.admin.requests.search.query({ idempotencyKey: 'shared-key' });
    expect(byKey.rows.map((r) => r.tenantName).sort()).toEqual(['acme', 'beta']);
    const none = await admin.console.admin.requests.search.query({ status: 'failed' });
    expect(none).toEqual({ rows: [], nextCursor: null });
    const future = await admin.console.admin.requests.search.query({
      from: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(future.rows).toEqual([]);
    expect(await codeOf(admin.console.admin.requests.search.query({ cursor: 'garbage' }))).toBe(
      'BAD_REQUEST',
    );
    expect(await codeOf(admin.console.admin.requests.search.query({ status: 'lost' as never }))).toBe(
      'BAD_REQUEST',
    );
  });

  it('records each admin action with who did it, and the bodies an operator looked at, in a verified chain', async () => {
    const l = await login(s.adminKey);
    const admin = viaSession(l);
    const sessionId = (l.body as { sessionId: string }).sessionId;
    const created = await admin.admin.keys.create.mutate({ tenant: 'beta' });
    await admin.admin.budgets.set.mutate({ tenant: 'beta', usdMicros: 5_000_000 });
    expect(await codeOf(admin.admin.budgets.get.query({ tenant: 'nobody' }))).toBe('NOT_FOUND');
    expect(await codeOf(admin.admin.tenants.cache.set.mutate({ tenant: 'nobody', enabled: true }))).toBe(
      'NOT_FOUND',
    );
    const bodies = await admin.console.admin.requests.bodies.query({ id: betaRequest });
    expect(JSON.stringify(bodies.request)).toContain('beta private prompt');
    await bearer(s.adminKey).admin.tenants.batchApi.mutate({ tenant: 'beta', enabled: true });

    const trail = await admin.console.admin.audit.query({ limit: 50 });
    const keyId = (await s.runtime.tenants.authenticate(s.adminKey))!.keyId;
    const pick = (action: string) => trail.find((a) => a.action === action);
    expect(pick('admin.keys.create')).toMatchObject({
      actorKeyId: keyId,
      sessionId,
      via: 'console',
      target: 'beta',
      outcome: 'ok',
      details: { tenant: 'beta', result: { keyId: created.keyId } },
    });
    expect(pick('admin.budgets.set')).toMatchObject({ sessionId, details: { usdMicros: 5_000_000 } });
    expect(pick('admin.tenants.cache.set')).toMatchObject({ outcome: 'not_found', target: 'nobody' });
    expect(pick('console.admin.requests.bodies')).toMatchObject({ sessionId, target: betaRequest });
    expect(pick('admin.tenants.batchApi')).toMatchObject({ via: 'api', sessionId: null, actorKeyId: keyId });
    expect(trail.some((a) => a.action === 'admin.budgets.get')).toBe(false); // reads are not actions
    // The new key itself is nowhere in the trail.
    const raw = await s.runtime.database.db.execute(sql`SELECT * FROM admin_actions`);
    expect(JSON.stringify(raw)).not.toContain(created.apiKey);

    const verdict = await bearer(s.adminKey).admin.audit.verify.query();
    expect(verdict.ok).toBe(true);
    expect(verdict.adminActions).toMatchObject({ ok: true, checked: expect.any(Number) });
    expect(verdict.adminActions!.checked).toBeGreaterThanOrEqual(6);
    expect(describeVerdict(verdict)).toMatch(/admin actions chain intact/);
  });

  it('keeps the audit trail append-only, and names the action where an edit breaks its chain', async () => {
    const db = s.runtime.database.db;
    await expect(db.execute(sql`DELETE FROM admin_actions`)).rejects.toThrow();
    await expect(db.execute(sql`UPDATE admin_actions SET outcome = 'ok'`)).rejects.toThrow();
    // Someone who can switch the guard off and edit a row is still found out.
    await db.execute(sql`ALTER TABLE admin_actions DISABLE TRIGGER admin_actions_no_change`);
    await db.execute(
      sql`UPDATE admin_actions SET target = 'someone-else' WHERE seq = (SELECT min(seq) + 1 FROM admin_actions)`,
    );
    await db.execute(sql`ALTER TABLE admin_actions ENABLE TRIGGER admin_actions_no_change`);
    const verdict = await bearer(s.adminKey).admin.audit.verify.query();
    expect(verdict.ok).toBe(false);
    expect(verdict.adminActions).toMatchObject({
      ok: false,
      position: 2,
      reason: expect.stringMatching(/edited/),
    });
    expect(describeVerdict(verdict)).toMatch(/admin actions chain BROKEN at action \d+ \(position 2\)/);
  });

  it('serves the live view, the tenants overview, the console app, and redirects /dashboard', async () => {
    const admin = bearer(s.adminKey);
    const live = await eventually(async () => {
      const v = await admin.console.admin.live.query();
      return v.quota.some((q) => q.learned) ? v : undefined;
    });
    expect(live.dispatchers.filter((d) => d.alive)).toHaveLength(1);
    expect(live.queues.map((q) => q.priority)).toEqual(['interactive', 'standard', 'batch']);
    expect(live.quota[0]).toMatchObject({ pool: 'default', model: 'gpt-4o-mini', learned: true });
    const tenants = await admin.console.admin.tenants.query();
    expect(tenants.find((t) => t.name === 'beta')).toMatchObject({
      batchApi: true,
      tiers: { flex: 'allow', priority: 'off', fallback: true },
      budget: { limited: true, limitUsdMicros: 5_000_000 },
    });

    const redirect = await fetch(`${s.url}/dashboard`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/console/');
    const page = await fetch(`${s.url}/console/requests/req_abc`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const html = await page.text();
    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${s.url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toMatch(/immutable/);
    expect((await fetch(`${s.url}/console/assets/missing.js`)).status).toBe(404);
  });
});
