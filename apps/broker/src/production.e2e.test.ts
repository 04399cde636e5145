import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deleteKafkaNamespace } from '@sluice/events/kafka';
import { type RunningSimulator, startOpenAISimulator } from '@sluice/openai-simulator';
import {
  createTestDatabase,
  kafkaBrokers,
  requireKafka,
  type TestDatabase,
  uniqueName,
} from '@sluice/test-support';
import { Kafka, logLevel } from 'kafkajs';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SLUICE = fileURLToPath(new URL('../bin/sluice.mjs', import.meta.url));

// Production mode as operators run it: separate `sluice serve` and `sluice dispatch` processes on
// real Kafka and the machine's Postgres, with the simulator as the upstream.
describe('production mode: serve + dispatch processes on Kafka and Postgres', () => {
  let db: TestDatabase;
  let sim: RunningSimulator;
  let env: NodeJS.ProcessEnv;
  const namespace = uniqueName('e2e');
  const children: ChildProcess[] = [];
  const output: string[] = [];
  const port = 20_000 + Math.floor(Math.random() * 20_000);

  function start(command: string, extra: Record<string, string> = {}): ChildProcess {
    const child = spawn(process.execPath, [SLUICE, command], {
      env: { ...env, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Keep each process's output so a failure says what the processes saw.
    const name = extra.SLUICE_DISPATCHER_ID ?? command;
    const keep = (chunk: Buffer) => {
      output.push(`[${name}] ${chunk.toString().trimEnd()}`);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', (code, signal) => output.push(`[${name}] exited code=${code} signal=${signal}`));
    children.push(child);
    return child;
  }

  function processOutput(): string {
    return output.join('\n').slice(-8_000);
  }

  beforeAll(async () => {
    await requireKafka();
    db = await createTestDatabase('sluice_e2e');
    sim = await startOpenAISimulator({
      limits: { default: { rpm: 3_000, tpm: 3_000_000 } },
      latency: { baseMs: 30 },
    });
    env = {
      PATH: process.env.PATH,
      DATABASE_URL: db.url,
      KAFKA_BROKERS: kafkaBrokers().join(','),
      SLUICE_KAFKA_NAMESPACE: namespace,
      SLUICE_KAFKA_PARTITIONS: '3',
      OPENAI_API_KEY: 'sk-e2e-upstream',
      OPENAI_BASE_URL: sim.url,
      PORT: String(port),
      LOG_LEVEL: 'warn',
    };
  }, 60_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await sim?.close();
    await db?.drop();
    await deleteKafkaNamespace(kafkaBrokers(), namespace).catch(() => {});
  }, 60_000);

  it('migrates, creates a tenant from the CLI, and serves completions through separate processes', async () => {
    await run(process.execPath, [SLUICE, 'migrate'], { env });
    const created = await run(process.execPath, [SLUICE, 'tenants', 'create', 'acme', '--json'], { env });
    const tenant = JSON.parse(created.stdout) as { tenantId: string; apiKey: string };
    expect(tenant.apiKey).toMatch(/^sk-sluice-/);
    const listed = await run(process.execPath, [SLUICE, 'tenants', 'list', '--json'], { env });
    expect(listed.stdout).toContain('acme');
    expect(listed.stdout).not.toContain(tenant.apiKey);
    const dup = await run(process.execPath, [SLUICE, 'tenants', 'create', 'acme'], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((dup as { code: number }).code).not.toBe(0);

    start('serve');
    const d1 = start('dispatch', { SLUICE_DISPATCHER_ID: 'd1' });
    start('dispatch', { SLUICE_DISPATCHER_ID: 'd2' });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      if (ready?.ok) break;
      if (Date.now() > deadline) throw new Error(`serve did not become ready\n${processOutput()}`);
      await new Promise((r) => setTimeout(r, 250));
    }

    // Both dispatchers have joined their group and the rebalance is over before traffic starts.
    const admin = new Kafka({
      clientId: 'e2e-probe',
      brokers: kafkaBrokers(),
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      const until = Date.now() + 90_000;
      for (;;) {
        const { groups } = await admin.describeGroups([`${namespace}.sluice-dispatchers`]);
        if (groups[0]?.state === 'Stable' && groups[0].members.length === 2) break;
        if (Date.now() > until) {
          throw new Error(
            `dispatcher group not stable: ${groups[0]?.state} with ${groups[0]?.members.length} members\n${processOutput()}`,
          );
        }
        await new Promise((r) => setTimeout(r, 250));
      }
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

    // A dispatcher stops gracefully on SIGTERM.
    const exited = new Promise<number | null>((resolve) => d1.once('exit', (code) => resolve(code)));
    d1.kill('SIGTERM');
    expect(await exited).toBe(0);
    const after = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'after' }],
      max_tokens: 4,
    });
    expect(after.object).toBe('chat.completion');

    const keys = await run(process.execPath, [SLUICE, 'keys', 'list', 'acme', '--json'], { env });
    const [key] = JSON.parse(keys.stdout) as Array<{ id: string }>;
    await run(process.execPath, [SLUICE, 'keys', 'revoke', key!.id], { env });
    const refused = await openai.models.list().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
  }, 240_000);
});
