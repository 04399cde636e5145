import { eq } from 'drizzle-orm';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eventually, type HarnessMode, startTestSluice, type TestSluice } from './__tests__/harness';
import { events } from './db/schema';
import { DISPATCHER_DEFAULTS } from './dispatcher/defaults';

// The product end to end, in both modes: the official openai SDK against /v1, through the log,
// the dispatcher and the simulator, with outcomes and usage recorded in Postgres.
describe.each<HarnessMode>(['embedded', 'kafka'])('broker end to end (%s)', (mode) => {
  let s: TestSluice;
  let openai: OpenAI;

  beforeAll(async () => {
    s = await startTestSluice({ mode, simulator: { limits: { default: { rpm: 6_000, tpm: 2_000_000 } } } });
    openai = new OpenAI({ apiKey: s.tenant.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 120_000);

  it('answers a chat completion through the log and records its usage once', async () => {
    const upstreamBefore = s.simulator.stats().ok;
    const { data, response } = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 20 })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.choices[0]?.message.role).toBe('assistant');
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    // Exactly one upstream call: nothing else (e.g. another run's leftovers) reached this upstream.
    expect(s.simulator.stats().ok - upstreamBefore).toBe(1);
    const requestId = response.headers.get('x-sluice-request-id');
    expect(requestId).toMatch(/^req_/);

    // The answer is published as the store records it; the store may trail by a moment.
    const events = await vi.waitFor(async () => {
      const recorded = await s.runtime.store.eventsOf(requestId!);
      expect(recorded.map((e) => e.type)).toEqual([
        'request.submitted',
        'request.dispatched',
        'request.completed',
        'usage.recorded',
      ]);
      return recorded;
    });
    const usage = events.find((e) => e.type === 'usage.recorded');
    expect(usage).toMatchObject({
      promptTokens: data.usage?.prompt_tokens,
      completionTokens: data.usage?.completion_tokens,
    });
  });

  it("records a fast call's dispatch with its outcome in one transaction, a slow call's while it is in flight", async () => {
    const recordedAt = async (requestId: string) => {
      const rows = await s.runtime.database.db
        .select({ type: events.type, recordedAt: events.recordedAt })
        .from(events)
        .where(eq(events.requestId, requestId));
      return new Map(rows.map((r) => [r.type, r.recordedAt.getTime()]));
    };
    const ask = () =>
      openai.chat.completions
        .create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'Dispatch record' }],
          max_tokens: 5,
        })
        .withResponse();

    // A call is "fast" when its answer came before the dispatch timer was due (a busy machine can
    // make any one call slow, so a few are tried).
    let fastTimes: Map<string, number> | undefined;
    for (let i = 0; i < 5 && !fastTimes; i++) {
      const id = (await ask()).response.headers.get('x-sluice-request-id')!;
      const completed = await eventually(async () =>
        (await s.runtime.store.eventsOf(id)).find((e) => e.type === 'request.completed'),
      );
      if (completed.type !== 'request.completed') throw new Error('unreachable');
      if (completed.upstreamLatencyMs < DISPATCHER_DEFAULTS.recordDispatchAfterMs)
        fastTimes = await eventually(async () => {
          const t = await recordedAt(id);
          return t.has('usage.recorded') && t;
        });
    }
    // now() is the transaction's start: one transaction wrote both.
    expect(fastTimes).toBeDefined();
    expect(fastTimes!.get('request.dispatched')).toBe(fastTimes!.get('request.completed'));

    s.simulator.configure({ latency: { baseMs: 1_500 } });
    try {
      const slowCall = ask();
      // While the call is in flight, the store already shows it dispatched.
      const inFlight = await eventually(async () => {
        const rows = await s.runtime.store.listRequests({
          tenantId: s.tenant.id,
          status: 'dispatched',
          limit: 1,
        });
        return rows[0];
      }, 1_400);
      const slow = (await slowCall).response.headers.get('x-sluice-request-id')!;
      expect(inFlight.requestId).toBe(slow);
      const slowTimes = await eventually(async () => {
        const t = await recordedAt(slow);
        return t.has('usage.recorded') && t;
      });
      expect(slowTimes.get('request.completed')! - slowTimes.get('request.dispatched')!).toBeGreaterThan(
        1_000,
      );
    } finally {
      s.simulator.configure({ latency: {} });
    }
  });

  it('streams with stream_options.include_usage like OpenAI', async () => {
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Stream please' }],
      max_tokens: 200,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(finish).toBe('stop');
    expect(usage?.total_tokens).toBeGreaterThan(0);
  });

  it('lists models and refuses an unknown model with 404 model_not_found', async () => {
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toContain('gpt-4o-mini');
    const err = await openai.chat.completions
      .create({ model: 'gpt-nope', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
  });

  it('honours Idempotency-Key: a retried submit is the same request, answered and billed once', async () => {
    const headers = { 'Idempotency-Key': `idem-${mode}-1` };
    const body = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: 'once' }],
      max_tokens: 5,
    };
    const a = await openai.chat.completions.create(body, { headers }).withResponse();
    const b = await openai.chat.completions.create(body, { headers }).withResponse();
    const id = a.response.headers.get('x-sluice-request-id');
    expect(b.response.headers.get('x-sluice-request-id')).toBe(id);
    expect(b.data.id).toBe(a.data.id);
    const usage = (await s.runtime.store.eventsOf(id!)).filter((e) => e.type === 'usage.recorded');
    expect(usage).toHaveLength(1);
  });

  it('keeps tenants apart: another tenant cannot read or cancel the request', async () => {
    const other = await s.newTenant(`other-${mode}`);
    const { response } = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mine' }], max_tokens: 5 })
      .withResponse();
    const id = response.headers.get('x-sluice-request-id')!;
    const get = await fetch(
      `${s.url}/trpc/requests.get?input=${encodeURIComponent(JSON.stringify({ id }))}`,
      {
        headers: { authorization: `Bearer ${other.apiKey}` },
      },
    );
    expect(get.status).toBe(404);
    const cancel = await fetch(`${s.url}/trpc/requests.cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${other.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id }),
    });
    expect(cancel.status).toBe(404);
    const mine = await fetch(
      `${s.url}/trpc/requests.get?input=${encodeURIComponent(JSON.stringify({ id }))}`,
      {
        headers: { authorization: `Bearer ${s.tenant.apiKey}` },
      },
    );
    expect(mine.status).toBe(200);
  });

  it('refuses bad input at the edge with OpenAI-shaped errors and logs nothing malformed', async () => {
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${s.tenant.apiKey}`,
          'content-type': 'application/json',
          ...headers,
        },
        body,
      });
    const before = (await s.runtime.store.listRequests({ tenantId: s.tenant.id, limit: 500 })).length;

    const noKey = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', body: '{}' });
    expect(noKey.status).toBe(401);
    expect((await errorOf(noKey)).message).toMatch(/API key/);

    const badKey = await fetch(`${s.url}/v1/models`, { headers: { authorization: 'Bearer sk-sluice-nope' } });
    expect(badKey.status).toBe(401);

    const malformed = await post('{"model": "gpt-4o-mini", "messages": [');
    expect(malformed.status).toBe(400);
    expect((await errorOf(malformed)).message).toMatch(/JSON/);

    const missing = await post(JSON.stringify({ model: 'gpt-4o-mini' }));
    expect(missing.status).toBe(400);
    expect((await errorOf(missing)).param).toBe('messages');

    const wrongType = await post(
      JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 1 }] }),
    );
    expect(wrongType.status).toBe(400);

    const tooBig = await post(
      JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(300 * 1024) }] }),
    );
    expect(tooBig.status).toBe(413);

    const hugeOutput = await post(
      JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
        max_tokens: 150_000,
      }),
    );
    expect(hugeOutput.status).toBe(400);
    expect((await errorOf(hugeOutput)).param).toBe('max_tokens');

    const badPriority = await post(
      JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
      {
        'x-sluice-priority': 'urgent',
      },
    );
    expect(badPriority.status).toBe(400);

    const after = (await s.runtime.store.listRequests({ tenantId: s.tenant.id, limit: 500 })).length;
    expect(after).toBe(before);
  });

  it('revokes a key at once', async () => {
    const t = await s.newTenant(`revoke-${mode}`);
    const ok = await fetch(`${s.url}/v1/models`, { headers: { authorization: `Bearer ${t.apiKey}` } });
    expect(ok.status).toBe(200);
    const keys = await s.runtime.tenants.listKeys(t.id);
    await s.runtime.tenants.revokeKey(keys[0]!.id);
    const after = await fetch(`${s.url}/v1/models`, { headers: { authorization: `Bearer ${t.apiKey}` } });
    expect(after.status).toBe(401);
  });

  it('reports health, readiness and Prometheus metrics', async () => {
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${s.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      checks: { database: true, log: true, migrations: true },
    });
    // Metrics name tenants: a tenant key (or none) is refused, an admin key reads them.
    expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
    const asTenant = await fetch(`${s.url}/metrics`, {
      headers: { authorization: `Bearer ${s.tenant.apiKey}` },
    });
    expect(asTenant.status).toBe(403);
    const metrics = await (
      await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.adminKey}` } })
    ).text();
    const tenant = s.tenant.id;
    expect(metrics).toMatch(
      new RegExp(`sluice_completions_total\\{pool="default",model="gpt-4o-mini",tenant="${tenant}"\\} [1-9]`),
    );
    expect(metrics).toMatch(
      new RegExp(`sluice_tokens_total\\{[^}]*tenant="${tenant}",kind="prompt"\\} [1-9]`),
    );
    expect(metrics).toMatch(
      new RegExp(`sluice_tokens_total\\{[^}]*tenant="${tenant}",kind="estimated"\\} [1-9]`),
    );
    // The simulator announces its limits: the limiter has learned them and shows its utilisation.
    expect(metrics).toMatch(/sluice_quota_limit\{pool="default",model="gpt-4o-mini",limit="rpm"\} [1-9]/);
    expect(metrics).toMatch(/sluice_limiter_learned\{pool="default",model="gpt-4o-mini"\} 1/);
    expect(metrics).toMatch(/sluice_limiter_charge_ratio\{pool="default",model="gpt-4o-mini"\} [0-9.]+/);
    expect(metrics).toMatch(
      /sluice_quota_utilisation_ratio\{pool="default",model="gpt-4o-mini",limit="tpm"\} /,
    );
    expect(metrics).toMatch(/sluice_consumer_lag\{topic="sluice\.requests\.batch"\} \d+/);
    expect(metrics).toMatch(/sluice_queue_wait_seconds_count\{priority="standard"\} [1-9]/);
    expect(metrics).toMatch(/sluice_event_store_append_seconds_count [1-9]/);
    // No request ids as labels: label sets stay bounded.
    expect(metrics).not.toMatch(/req_[A-Za-z0-9_-]{10,}/);
  });

  it('names the request, tenant and attempt on every log line about a request', async () => {
    s.simulator.configure({ faults: { serverErrorRate: 1, serverErrorStatus: 503 } });
    const submitted = await fetch(`${s.url}/trpc/requests.submit`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenant.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        params: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'flaky' }], max_tokens: 5 },
      }),
    });
    const id = ((await submitted.json()) as { result: { data: { id: string } } }).result.data.id;
    try {
      await eventually(async () => s.logs.some((l) => l.includes(id) && l.includes('retry scheduled')));
    } finally {
      s.simulator.configure({ faults: {} });
    }
    const lines = s.logs.filter((l) => l.includes(id)).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).toMatchObject({ requestId: id, tenantId: s.tenant.id, attempt: expect.any(Number) });
    }
  });

  it('never writes the upstream key or a tenant key to its logs', async () => {
    await eventually(async () => s.logs.length > 0);
    const all = s.logs.join('\n');
    expect(all).not.toContain('sk-test-upstream-secret-0001');
    expect(all).not.toContain(s.tenant.apiKey);
  });
});

async function errorOf(
  res: Response,
): Promise<{ message: string; param: string | null; code: string | null }> {
  return ((await res.json()) as { error: { message: string; param: string | null; code: string | null } })
    .error;
}
