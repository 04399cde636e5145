import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestSluice, type TestSluice } from './__tests__/harness';
import { appRouter } from './root';

// Authentication and isolation: every endpoint, called with no key, malformed keys, a revoked key,
// the wrong role and another tenant's key, refuses correctly; a tenant never sees another's data;
// no secret ever appears in a response, a log line, an event or a log record.

const UPSTREAM_SECRET = 'sk-test-upstream-secret-0001';

type ProcType = 'query' | 'mutation' | 'subscription';
interface CallResult {
  status: number;
  /** The tRPC error code (from the JSON body or the SSE error event), or the OpenAI error code. */
  code: string | null;
  httpStatus: number | null;
  message: string;
  text: string;
}

/** Every tRPC procedure with its type, read from the router itself so a new one cannot be missed. */
const PROCEDURES: Array<{ path: string; type: ProcType }> = Object.entries(
  appRouter._def.procedures as unknown as Record<string, { _def: { type: ProcType } }>,
).map(([path, p]) => ({ path, type: p._def.type }));

/** Operator procedures: the API's and the console's (`admin.*`, `console.admin.*`). */
const isAdminPath = (path: string) => /^(console\.)?admin\./.test(path);
/** Open to either role: who the caller is (the console asks it first). */
const EITHER_ROLE = new Set(['console.session']);

/** An input that passes each procedure's schema, so a refusal can only come from the credentials. */
function sampleInputs(requestId: string): Record<string, unknown> {
  const params = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], max_tokens: 3 };
  const inputs: Record<string, unknown> = {
    'requests.submit': { params },
    'chat.completions.create': { params },
    'chat.completions.submit': { params },
    'chat.completions.wait': { id: requestId, timeoutMs: 1_000 },
    'embeddings.create': { params: { model: 'text-embedding-3-small', input: 'x' } },
    'embeddings.submit': { params: { model: 'text-embedding-3-small', input: 'x' } },
    'embeddings.wait': { id: requestId, timeoutMs: 1_000 },
    'completions.create': { params: { model: 'gpt-3.5-turbo-instruct', prompt: 'x', max_tokens: 3 } },
    'completions.submit': { params: { model: 'gpt-3.5-turbo-instruct', prompt: 'x', max_tokens: 3 } },
    'completions.wait': { id: requestId, timeoutMs: 1_000 },
    'moderations.create': { params: { input: 'x' } },
    'moderations.submit': { params: { input: 'x' } },
    'moderations.wait': { id: requestId, timeoutMs: 1_000 },
    'responses.create': { params: { model: 'gpt-4o-mini', input: 'x', max_output_tokens: 16 } },
    'responses.submit': { params: { model: 'gpt-4o-mini', input: 'x', max_output_tokens: 16 } },
    'responses.wait': { id: requestId, timeoutMs: 1_000 },
    'responses.retrieve': { id: 'resp_doesnotexist' },
    'responses.cancel': { id: 'resp_doesnotexist' },
    'responses.delete': { id: 'resp_doesnotexist' },
    'responses.inputItems': { id: 'resp_doesnotexist' },
    'requests.get': { id: requestId },
    'requests.wait': { id: requestId, timeoutMs: 1_000 },
    'requests.watch': { id: requestId },
    'requests.cancel': { id: requestId },
    'requests.list': { limit: 5 },
    'usage.mine': { by: 'day' },
    'console.requests.search': { limit: 5 },
    'console.requests.timeline': { id: requestId },
    'admin.tenants.create': { name: `t${randomBytes(4).toString('hex')}` },
    'admin.keys.create': { tenant: 'acme' },
    'admin.keys.revoke': { key: 'key_doesnotexist' },
    'admin.keys.list': {},
    'admin.requests.get': { id: requestId },
    'admin.requests.cancel': { id: requestId },
    'admin.usage': { by: 'day' },
    'admin.budgets.get': { tenant: 'acme' },
    'admin.budgets.set': { tenant: 'acme', tokens: 1_000_000_000 },
    'admin.budgets.clear': { tenant: 'acme' },
    'admin.audit.verify': {},
    // Procedures without input.
    'usage.budget': undefined,
    'console.session': undefined,
    'console.keys': undefined,
    'admin.status': undefined,
    'admin.tenants.list': undefined,
  };
  return inputs;
}
/** Admin procedures refuse a wrong key before reading input, so any input does for them. */
const sampleInput = (path: string, requestId: string) =>
  Object.hasOwn(sampleInputs(requestId), path) ? sampleInputs(requestId)[path] : {};

describe('authentication and isolation (embedded)', () => {
  let s: TestSluice;
  let other: { id: string; apiKey: string };
  let revokedKey: string;
  /** A request of the main tenant, completed (so it has a result and usage). */
  let requestId: string;
  let answer: string;
  const responses: string[] = [];

  const origin = () => s.url;

  async function trpc(
    path: string,
    type: ProcType,
    input: unknown,
    authorization?: string,
  ): Promise<CallResult> {
    const headers: Record<string, string> = authorization ? { authorization } : {};
    const qs = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
    const res =
      type === 'mutation'
        ? await fetch(`${origin()}/trpc/${path}`, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify(input ?? {}),
          })
        : await fetch(`${origin()}/trpc/${path}${qs}`, { headers, signal: AbortSignal.timeout(15_000) });
    const text = await res.text();
    responses.push(text);
    if (type === 'subscription') {
      // tRPC v11 answers a subscription 200 with an event stream; a refusal is its error event.
      const m = /event: serialized-error\ndata: (.*)\n/.exec(text);
      const e = m
        ? (JSON.parse(m[1]!) as { message: string; data: { code: string; httpStatus: number } })
        : undefined;
      return {
        status: res.status,
        code: e?.data.code ?? null,
        httpStatus: e?.data.httpStatus ?? null,
        message: e?.message ?? '',
        text,
      };
    }
    const body = JSON.parse(text) as {
      error?: { message: string; data?: { code: string; httpStatus: number } };
    };
    return {
      status: res.status,
      code: body.error?.data?.code ?? null,
      httpStatus: body.error?.data?.httpStatus ?? res.status,
      message: body.error?.message ?? '',
      text,
    };
  }

  async function http(
    method: string,
    path: string,
    authorization?: string,
    body?: unknown,
  ): Promise<CallResult> {
    const res = await fetch(`${origin()}${path}`, {
      method,
      headers: {
        ...(authorization ? { authorization } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    responses.push(text);
    let code: string | null = null;
    let message = text;
    try {
      const parsed = JSON.parse(text) as { error?: { message: string; code: string | null } };
      code = parsed.error?.code ?? null;
      message = parsed.error?.message ?? text;
    } catch {
      // a plain-text answer
    }
    return { status: res.status, code, httpStatus: res.status, message, text };
  }

  beforeAll(async () => {
    s = await startTestSluice({ mode: 'embedded' });
    other = await s.newTenant('other');
    const doomed = await s.newTenant('doomed');
    revokedKey = doomed.apiKey;
    const [key] = await s.runtime.tenants.listKeys(doomed.id);
    await s.runtime.tenants.revokeKey(key!.id);

    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenant.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'the secret plan' }],
        max_tokens: 8,
      }),
    });
    expect(res.status).toBe(200);
    requestId = res.headers.get('x-sluice-request-id')!;
    answer = ((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message
      .content;
    // The store has it (and its usage) before the isolation checks look for leaks of it.
    await eventually(async () => (await s.runtime.store.getRequest(null, requestId))?.status === 'completed');
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  const badCredentials = () => ({
    'no key': undefined,
    'not a bearer token': `Basic ${Buffer.from(`x:${s.tenant.apiKey}`).toString('base64')}`,
    'malformed key': 'Bearer sk-sluice-short',
    'garbage key': `Bearer ${'\u00e9'.repeat(3)}; DROP TABLE api_keys;--`.replace(/[^\x20-\x7e]/g, '?'),
    'unknown well-formed key': `Bearer sk-sluice-${randomBytes(32).toString('base64url')}`,
    'revoked key': `Bearer ${revokedKey}`,
  });

  it('covers every tRPC procedure of the router', () => {
    expect(PROCEDURES.length).toBeGreaterThanOrEqual(15);
    for (const { path } of PROCEDURES) {
      if (isAdminPath(path)) continue;
      expect(Object.hasOwn(sampleInputs('req_x0000'), path), `a sample input for ${path}`).toBe(true);
    }
    expect(PROCEDURES.find((p) => p.path === 'requests.watch')?.type).toBe('subscription');
  });

  it('refuses every tRPC procedure with 401 UNAUTHORIZED for missing, malformed, unknown and revoked keys', async () => {
    for (const [label, authorization] of Object.entries(badCredentials())) {
      for (const { path, type } of PROCEDURES) {
        const r = await trpc(path, type, sampleInput(path, requestId), authorization);
        expect({ label, path, code: r.code, httpStatus: r.httpStatus }).toEqual({
          label,
          path,
          code: 'UNAUTHORIZED',
          httpStatus: 401,
        });
        if (type !== 'subscription') expect(r.status).toBe(401);
        expect(r.message).toMatch(/API key/);
      }
    }
  }, 120_000);

  it('refuses admin procedures to a tenant key and tenant procedures to an admin key (403 FORBIDDEN)', async () => {
    for (const { path, type } of PROCEDURES) {
      if (EITHER_ROLE.has(path)) {
        for (const key of [s.tenant.apiKey, s.adminKey])
          expect((await trpc(path, type, undefined, `Bearer ${key}`)).status).toBe(200);
        continue;
      }
      const isAdmin = isAdminPath(path);
      const key = isAdmin ? s.tenant.apiKey : s.adminKey;
      const r = await trpc(path, type, sampleInput(path, requestId), `Bearer ${key}`);
      expect({ path, code: r.code, httpStatus: r.httpStatus }).toEqual({
        path,
        code: 'FORBIDDEN',
        httpStatus: 403,
      });
      expect(r.message).toMatch(isAdmin ? /admin key/ : /tenant key/);
    }
    // Nothing was done on the tenant's behalf: the budget it was not allowed to set is unset.
    const budget = await trpc('usage.budget', 'query', undefined, `Bearer ${s.tenant.apiKey}`);
    expect(budget.text).not.toMatch(/1000000000/);
  }, 60_000);

  it('refuses /v1 and /metrics the same way; /dashboard is now the console', async () => {
    const v1: Array<[string, string, unknown]> = [
      ['POST', '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }],
      ['GET', '/v1/models', undefined],
      ['GET', '/v1/models/gpt-4o-mini', undefined],
    ];
    for (const [label, authorization] of Object.entries(badCredentials())) {
      for (const [method, path, body] of v1) {
        const r = await http(method, path, authorization, body);
        expect({ label, path, status: r.status }).toEqual({ label, path, status: 401 });
        expect(r.code).toBe(authorization?.startsWith('Bearer') ? 'invalid_api_key' : 'missing_api_key');
      }
      const r = await http('GET', '/metrics', authorization);
      // /metrics does read HTTP Basic: there the tenant's key is recognised, and not enough.
      const expected = label === 'not a bearer token' ? 403 : 401;
      expect({ label, status: r.status }).toEqual({ label, status: expected });
    }
    for (const [method, path, body] of v1) {
      expect((await http(method, path, `Bearer ${s.adminKey}`, body)).status).toBe(403);
    }
    expect((await http('GET', '/metrics', `Bearer ${s.tenant.apiKey}`)).status).toBe(403);
    const basic = `Basic ${Buffer.from(`ops:${s.tenant.apiKey}`).toString('base64')}`;
    expect((await http('GET', '/metrics', basic)).status).toBe(403);
    // The positive control: the admin key opens it.
    expect((await http('GET', '/metrics', `Bearer ${s.adminKey}`)).status).toBe(200);
    // The console's page is public (its data are behind a session); the old dashboard redirects to it.
    const old = await fetch(`${s.url}/dashboard`, { redirect: 'manual' });
    expect([old.status, old.headers.get('location')]).toEqual([301, '/console/']);
  }, 60_000);

  it("never shows one tenant another tenant's request: get, wait, watch and cancel are NOT_FOUND", async () => {
    const mine = await trpc('requests.get', 'query', { id: requestId }, `Bearer ${s.tenant.apiKey}`);
    expect(mine.status).toBe(200); // the control: the owner sees it, with its answer
    expect(mine.text).toContain(answer);

    const asOther = `Bearer ${other.apiKey}`;
    for (const path of [
      'requests.get',
      'requests.wait',
      'requests.watch',
      'requests.cancel',
      'chat.completions.wait',
    ]) {
      const proc = PROCEDURES.find((p) => p.path === path)!;
      const r = await trpc(path, proc.type, sampleInput(path, requestId), asOther);
      expect({ path, code: r.code, httpStatus: r.httpStatus }).toEqual({
        path,
        code: 'NOT_FOUND',
        httpStatus: 404,
      });
      expect(r.text).not.toContain(answer);
      expect(r.text).not.toContain('the secret plan');
      expect(r.text).not.toContain(s.tenant.id);
    }
    const list = await trpc('requests.list', 'query', { limit: 500 }, asOther);
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(requestId);

    // The cancel attempt changed nothing: no cancellation event, the request is still completed.
    const state = await s.runtime.store.getRequest(null, requestId);
    expect(state?.status).toBe('completed');
    const cancelled = await s.runtime.database.db.execute(
      sql`SELECT count(*)::int AS n FROM events WHERE request_id = ${requestId} AND type = 'request.cancelled'`,
    );
    expect((cancelled as unknown as { rows: Array<{ n: number }> }).rows[0]?.n).toBe(0);
  }, 60_000);

  it("never shows one tenant another tenant's usage, whatever the input says", async () => {
    const mine = await trpc('usage.mine', 'query', { by: 'model' }, `Bearer ${s.tenant.apiKey}`);
    expect(mine.status).toBe(200);
    expect(mine.text).toContain('gpt-4o-mini'); // the control: the owner's usage is there
    // Extra input keys cannot name another tenant: the tenant comes from the key.
    const theirs = await trpc(
      'usage.mine',
      'query',
      { by: 'model', tenantId: s.tenant.id, tenant: 'acme' },
      `Bearer ${other.apiKey}`,
    );
    expect(theirs.status).toBe(200);
    expect((JSON.parse(theirs.text) as { result: { data: unknown[] } }).result.data).toEqual([]);
    const budget = await trpc('usage.budget', 'query', undefined, `Bearer ${other.apiKey}`);
    expect(budget.text).not.toContain(s.tenant.id);
  }, 60_000);

  it('never writes a secret to a response, a log line, a stored event or a log record', async () => {
    // A submit through tRPC too, so both APIs have logged lines about requests.
    const submitted = await trpc(
      'requests.submit',
      'mutation',
      sampleInput('requests.submit', requestId),
      `Bearer ${s.tenant.apiKey}`,
    );
    expect(submitted.status).toBe(200);
    const secrets = {
      upstream: UPSTREAM_SECRET,
      tenant: s.tenant.apiKey,
      other: other.apiKey,
      revoked: revokedKey,
      admin: s.adminKey,
    };
    const events = await s.runtime.database.db.execute(sql`SELECT * FROM events`);
    const eventRows = (events as unknown as { rows: unknown[] }).rows;
    const records = await s.runtime.database.db.execute(sql`SELECT topic, key, value FROM sluice_log_record`);
    const recordRows = (records as unknown as { rows: unknown[] }).rows;
    // The scans look at something: events of the completed request, and the requests' log records
    // (PGlite hands outcome notifications over in process: they are not records).
    expect(eventRows.length).toBeGreaterThan(3);
    expect(recordRows.length).toBeGreaterThanOrEqual(2);
    expect(responses.length).toBeGreaterThan(100);
    expect(s.logs.length).toBeGreaterThan(0);

    const haystacks = {
      responses: responses.join('\n'),
      logs: s.logs.join('\n'),
      events: JSON.stringify(eventRows),
      'log records': JSON.stringify(recordRows),
    };
    for (const [where, text] of Object.entries(haystacks)) {
      for (const [which, secret] of Object.entries(secrets)) {
        expect(text.includes(secret), `the ${which} key appears in ${where}`).toBe(false);
        // Nor a telling part of it (keys are sk-sluice- + 43 random characters).
        expect(text.includes(secret.slice(10, 30)), `part of the ${which} key appears in ${where}`).toBe(
          false,
        );
      }
    }
  }, 60_000);
});
