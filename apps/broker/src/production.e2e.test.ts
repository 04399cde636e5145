import { deleteKafkaNamespace } from '@sluice/events/kafka';
import { type RunningSimulator, startOpenAISimulator } from '@sluice/openai-simulator';
import {
  createTestDatabase,
  freePort,
  kafkaBrokers,
  requireKafka,
  type TestDatabase,
  uniqueName,
} from '@sluice/test-support';
import { Kafka, logLevel } from 'kafkajs';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProcessGroup, until, waitReady } from './__tests__/processes';

// Production mode as operators run it: separate `sluice serve` and `sluice dispatch` processes on
// real Kafka and the machine's Postgres, with the simulator as the upstream.
describe('production mode: serve + dispatch processes on Kafka and Postgres', () => {
  let db: TestDatabase;
  let sim: RunningSimulator;
  let procs: ReturnType<typeof createProcessGroup>;
  const namespace = uniqueName('e2e');
  let port: number;

  beforeAll(async () => {
    await requireKafka();
    port = await freePort();
    db = await createTestDatabase('sluice_e2e');
    sim = await startOpenAISimulator({
      limits: { default: { rpm: 3_000, tpm: 3_000_000 } },
      latency: { baseMs: 30 },
    });
    procs = createProcessGroup({
      PATH: process.env.PATH,
      DATABASE_URL: db.url,
      KAFKA_BROKERS: kafkaBrokers().join(','),
      SLUICE_KAFKA_NAMESPACE: namespace,
      SLUICE_KAFKA_PARTITIONS: '3',
      OPENAI_API_KEY: 'sk-e2e-upstream',
      OPENAI_BASE_URL: sim.url,
      PORT: String(port),
      LOG_LEVEL: 'warn',
    });
  }, 60_000);

  afterAll(async () => {
    await procs?.stopAll();
    await sim?.close();
    await db?.drop();
    await deleteKafkaNamespace(kafkaBrokers(), namespace).catch(() => {});
  }, 60_000);

  it('migrates, creates a tenant from the CLI, and serves completions through separate processes', async () => {
    await procs.cli(['migrate']);
    const created = await procs.cli(['tenants', 'create', 'acme', '--json']);
    const tenant = JSON.parse(created.stdout) as { tenantId: string; apiKey: string };
    expect(tenant.apiKey).toMatch(/^sk-sluice-/);
    const listed = await procs.cli(['tenants', 'list', '--json']);
    expect(listed.stdout).toContain('acme');
    expect(listed.stdout).not.toContain(tenant.apiKey);
    const dup = await procs.cli(['tenants', 'create', 'acme']).catch((e: { code: number }) => e);
    expect((dup as { code: number }).code).not.toBe(0);

    procs.start('serve', ['serve']);
    const opsPorts = [0, await freePort(), await freePort()];
    const opsPort = (n: number) => opsPorts[n]!;
    const dispatch = (n: number) =>
      procs.start(`d${n}`, ['dispatch'], {
        SLUICE_DISPATCHER_ID: `d${n}`,
        SLUICE_METRICS_PORT: String(opsPort(n)),
      });
    const d1 = dispatch(1);
    dispatch(2);
    await waitReady(`http://127.0.0.1:${port}`, () => procs.output());

    // Both dispatchers have joined their group and the rebalance is over before traffic starts.
    const admin = new Kafka({
      clientId: 'e2e-probe',
      brokers: kafkaBrokers(),
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      await until(
        'a stable group of two dispatchers',
        async () => {
          const { groups } = await admin.describeGroups([`${namespace}.sluice-dispatchers`]);
          return groups[0]?.state === 'Stable' && groups[0].members.length === 2;
        },
        { timeoutMs: 90_000, output: () => procs.output() },
      );
    } finally {
      await admin.disconnect();
    }

    const openai = new OpenAI({
      apiKey: tenant.apiKey,
      baseURL: `http://127.0.0.1:${port}/v1`,
      maxRetries: 0,
      timeout: 60_000,
    });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        openai.chat.completions.create(
          { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `request ${i}` }], max_tokens: 8 },
          { headers: { 'x-sluice-priority': i % 3 === 0 ? 'interactive' : 'batch' } },
        ),
      ),
    );
    expect(results.every((r) => r.object === 'chat.completion')).toBe(true);
    expect(sim.stats().ok).toBe(30);

    // Each dispatcher serves /readyz and /metrics; together they dispatched exactly the 30.
    let dispatches = 0;
    for (const n of [1, 2]) {
      const ready = await fetch(`http://127.0.0.1:${opsPort(n)}/readyz`);
      expect(await ready.json()).toEqual({
        status: 'ready',
        checks: { database: true, migrations: true, log: true, dispatcher: true },
      });
      const text = await (await fetch(`http://127.0.0.1:${opsPort(n)}/metrics`)).text();
      for (const m of text.matchAll(/^sluice_dispatches_total\{[^}]*\} (\d+)$/gm)) dispatches += Number(m[1]);
      expect(text).toMatch(/^sluice_consumer_lag\{topic="sluice\.requests\.interactive"\} \d+$/m);
    }
    expect(dispatches).toBe(30);

    // `sluice status` sees both dispatchers alive and nothing waiting.
    const status = async () =>
      JSON.parse((await procs.cli(['status', '--json'])).stdout) as {
        dispatchers: Array<{ dispatcherId: string; alive: boolean }>;
        lag: Record<string, number | null>;
      };
    const both = await status();
    expect(both.dispatchers.filter((d) => d.alive).map((d) => d.dispatcherId)).toEqual(['d1', 'd2']);
    expect(Object.values(both.lag).every((n) => typeof n === 'number')).toBe(true);
    const human = await procs.cli(['status']);
    expect(human.stdout).toContain('Dispatchers: 2 alive, 0 down');

    // A dispatcher stops gracefully on SIGTERM.
    expect((await d1.kill('SIGTERM')).code).toBe(0);
    expect((await status()).dispatchers.map((d) => d.dispatcherId)).toEqual(['d2']);
    const after = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'after' }],
      max_tokens: 4,
    });
    expect(after.object).toBe('chat.completion');

    const keys = await procs.cli(['keys', 'list', 'acme', '--json']);
    const [key] = JSON.parse(keys.stdout) as Array<{ id: string }>;
    await procs.cli(['keys', 'revoke', key!.id]);
    const refused = await openai.models.list().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
  }, 240_000);
});
